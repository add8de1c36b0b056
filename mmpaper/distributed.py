"""The process's place under Lightning's DDP launcher (imports nothing from the package): its rank, whether
several processes run, and rank 0's answer for every process."""
from __future__ import annotations

import os

import torch


def process_rank() -> int:
    """This process's rank under Lightning's DDP launcher (0 when not distributed)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("LOCAL_RANK", 0))


def is_distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() and \
        torch.distributed.get_world_size() > 1


def agree(value):
    """Under DDP, rank 0's answer for every process. Whether a run is finished or where it resumes from must be
    one decision: a run another process finished while rank 0 waited for its lock must not be trained by the
    other ranks alone. Outside DDP (or before Lightning has started it) the value itself."""
    if is_distributed():
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]
    return value


def barrier() -> None:
    if is_distributed():
        torch.distributed.barrier()
