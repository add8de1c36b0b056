"""NT-Xent across processes: the gathered loss and gradients equal the single-process ones on the whole batch."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mmpaper.losses import nt_xent

N, D, K = 4, 6, 2  # per-process batch, width, seen negatives per query


def _data():
    g = torch.Generator().manual_seed(0)
    return (torch.randn(2 * N, D, generator=g), torch.randn(2 * N, D, generator=g),
            torch.randn(2 * N * K, D, generator=g))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    q, d, n = (x.clone() for x in _data())
    sl = slice(rank * N, (rank + 1) * N)
    q_local = q[sl].clone().requires_grad_(True)
    d_local = d[sl].clone().requires_grad_(True)
    n_local = n[rank * N * K:(rank + 1) * N * K].clone().requires_grad_(True)
    loss = nt_xent(q_local, d_local, 0.1, n_local, gather=True)
    loss.backward()
    # DDP averages parameter gradients over processes; these are embedding gradients, so average by hand
    out[rank] = {"loss": loss.detach(), "gq": q_local.grad / 2, "gd": d_local.grad / 2, "gn": n_local.grad / 2}
    dist.destroy_process_group()


def test_gathered_nt_xent_equals_single_process():
    q, d, n = (x.clone().requires_grad_(True) for x in _data())
    full = nt_xent(q, d, 0.1, n)
    full.backward()
    port = _free_port()
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(port, out), nprocs=2, join=True)
        res = dict(out)
    # the mean of the two local losses is the loss over the concatenated batch
    assert ((res[0]["loss"] + res[1]["loss"]) / 2).item() == pytest.approx(full.item(), rel=1e-5)
    torch.testing.assert_close(torch.cat([res[0]["gq"], res[1]["gq"]]), q.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(torch.cat([res[0]["gd"], res[1]["gd"]]), d.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(torch.cat([res[0]["gn"], res[1]["gn"]]), n.grad, rtol=1e-4, atol=1e-6)


def test_lightning_ddp_on_two_cpu_processes_runs_a_variant(tmp_path):
    """``Trainer(strategy="ddp", devices=2)``: Lightning relaunches the command as a second process; both train on
    their half of each batch with NT-Xent over the gathered batch, and only rank 0 evaluates and writes."""
    import json
    import subprocess
    import sys

    env = {**os.environ, "MMPAPER_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "mmpaper", "run", "--preset", "smoke", "--variant", "4tmm-mlp", "--devices", "2",
           "--strategy", "ddp", "--runs-dir", str(tmp_path / "runs"), "--quiet"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("4tmm-mlp ") == 1, done.stdout  # rank 1 prints nothing
    (metrics,) = (tmp_path / "runs" / "smoke" / "4tmm-mlp").glob("*/metrics.json")
    m = json.loads(metrics.read_text())
    assert 0 <= m["recall"] <= 1 and m["epochs"] >= 1 and m["processes"] == 2
    config = json.loads((metrics.parent / "config.json").read_text())
    assert config["preset"]["devices"] == 2 and config["preset"]["strategy"] == "ddp"
