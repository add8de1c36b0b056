"""Run directories: what a finished run is, and how one is written atomically, read, locked and listed.

Under ``runs/<preset>/`` every stage (``stage0-clip``, a variant such as ``4tmm-mlp``, ``alpha``) keeps its runs
by a hash of everything that determines them::

    <stage>/<hash>/              a finished run; its manifest.json (each file's size and SHA-256) is written last
    <stage>/<hash>.incomplete/   a run being written, or one that failed or was killed: status.json says which,
                                 and its last.ckpt is where the next call resumes
    <stage>/<hash>.lock          the file lock held by the process writing that run

A run is written into the ``.incomplete`` sibling and renamed to ``<hash>`` only when it is whole, so a
directory named ``<hash>`` is always a finished run and nothing else ever looks like one. Two processes asking
for the same run (two chapters executed at once, ``make -j``) serialise on the lock: the second waits, then
finds the run finished and reuses it. Under DDP only rank 0 takes the lock and writes; the other ranks follow
rank 0's decisions (see ``Experiment``), so a lock can never hold up a collective.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
import time
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout

from .data.manifest import MANIFEST, CorruptCacheError, check_manifest, write_manifest
from .distributed import agree, barrier, process_rank
from .fsio import read_json, write_json

logger = logging.getLogger(__name__)

INCOMPLETE = ".incomplete"
LOCK = ".lock"
STATUS = "status.json"
CHECKPOINT = "last.ckpt"


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class RunDir:
    """One run: its finished path (``final``), its ``.incomplete`` sibling and its lock."""

    final: Path

    @property
    def stage(self) -> str:
        return self.final.parent.name

    @property
    def key(self) -> str:
        return self.final.name

    @property
    def partial(self) -> Path:
        return self.final.with_name(self.final.name + INCOMPLETE)

    @property
    def lock_path(self) -> Path:
        return self.final.with_name(self.final.name + LOCK)

    # -- reading
    def finished(self, *, hashes: bool = False) -> bool:
        """Whether a whole finished run is there. A damaged one (a file missing, truncated or, with ``hashes``,
        changed since the manifest was written) is removed with a warning, so that it is regenerated."""
        if not self.final.is_dir():
            return False
        try:
            check_manifest(self.final, hashes=hashes)
        except CorruptCacheError as err:
            self.discard(f"{err}")
            return False
        return True

    def verified(self, name: str) -> Path:
        """The path of one file of a finished run, after checking its size and SHA-256 against the manifest."""
        check_manifest(self.final, hashes=True, only=[name])
        return self.final / name

    def discard(self, reason: str) -> None:
        """Remove a damaged finished run (with a warning naming what was wrong) so that it is regenerated."""
        warnings.warn(f"run directory {self.final} is damaged ({reason}); removing it and regenerating the run",
                      stacklevel=3)
        trash = self.final.with_name(f"{self.final.name}.damaged-{os.getpid()}")
        try:
            os.replace(self.final, trash)
        except OSError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def metrics(self) -> dict:
        return read_json(self.final / "metrics.json")

    # -- writing
    @contextmanager
    def lock(self, enabled: bool = True, note=None):
        """Hold this run's file lock (no-op when ``enabled`` is false: DDP ranks other than 0). While another
        process holds it, ``note`` (a callable taking one line) is told once who is being waited for."""
        if not enabled:
            yield
            return
        self.final.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_path))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if note is not None:
                holder = self.status().get("pid", "another process")
                note(f"waiting for process {holder}, which is writing {self.partial}")
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def begin(self, write: bool = True) -> Path:
        """Start (or continue) writing the run in its ``.incomplete`` sibling; returns that directory."""
        if write:
            self.partial.mkdir(parents=True, exist_ok=True)
            old = self.status()
            write_json(self.partial / STATUS, {"state": "running", "pid": os.getpid(), "host": os.uname().nodename,
                                               "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                               "attempt": int(old.get("attempt", 0)) + 1,
                                               "command": " ".join(sys.argv)})
        return self.partial

    def fail(self, err: BaseException) -> None:
        """Mark the ``.incomplete`` directory with what stopped it (its checkpoint stays for resuming)."""
        if not self.partial.is_dir():
            return
        state = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        status = {**self.status(), "state": state, "error": f"{err.__class__.__name__}: {err}".splitlines()[0],
                  "stopped": time.strftime("%Y-%m-%dT%H:%M:%S")}
        if state == "failed":
            status["traceback"] = traceback.format_exception(err)[-3:]
        write_json(self.partial / STATUS, status)

    def finish(self) -> Path:
        """Seal the run: write its manifest, then rename ``.incomplete`` to the final name (replacing a previous
        finished run when one was forced)."""
        (self.partial / STATUS).unlink(missing_ok=True)
        write_manifest(self.partial, {"finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
        old = None
        if self.final.exists():
            old = self.final.with_name(f"{self.final.name}.old-{os.getpid()}")
            os.replace(self.final, old)
        os.replace(self.partial, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final

    # -- resuming
    def status(self) -> dict:
        try:
            return read_json(self.partial / STATUS)
        except (OSError, ValueError):
            return {}

    def resume_checkpoint(self) -> str | None:
        """The ``.incomplete`` run's ``last.ckpt`` when it loads; a checkpoint that does not (cut short by a kill
        while it was being written) is removed with a warning and training starts over."""
        path = self.partial / CHECKPOINT
        if not path.exists():
            return None
        import torch  # heavy: only when there is a checkpoint to look at

        try:
            ckpt = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
            ckpt["state_dict"], ckpt["epoch"]
        except Exception as err:  # noqa: BLE001 - any failure to load means the file cannot be resumed from
            warnings.warn(f"checkpoint {path} does not load ({err.__class__.__name__}); training {self.stage} "
                          f"again from the start", stacklevel=2)
            for name in (CHECKPOINT, "latest.ckpt"):
                (self.partial / name).unlink(missing_ok=True)
            return None
        return str(path)


# ----------------------------------------------------------------------------------- making a finished run
def ensure(rd: RunDir, build: Callable[[Path], None], *, force: bool = False,
           note: Callable[[str], None] | None = None) -> bool:
    """Make ``rd`` a finished run: reuse it when it is one, else ``build(partial)`` into its ``.incomplete``
    sibling under its file lock and rename it into place. Returns whether it was reused.

    The lock makes a second process asking for the same run wait and then reuse it. Under DDP only rank 0
    locks and writes; every rank builds (they train together) and a barrier lets the others read the result.
    """
    rank0 = process_rank() == 0
    with rd.lock(enabled=rank0, note=note or logger.info):
        reused = not force and agree(rd.finished())
        if not reused:
            partial = rd.begin(write=rank0)
            try:
                build(partial)
            except BaseException as err:
                if rank0:
                    rd.fail(err)
                raise
            if rank0:
                rd.finish()
    barrier()
    return reused


def load_verified(rd: RunDir, name: str, loader: Callable[[Path], object], rebuild: Callable[[], object]):
    """``loader(path)`` on a file of a finished run, after checking it against the run's manifest. A file that
    fails the check or does not load is reported, its run removed and rebuilt once."""
    try:
        return loader(rd.verified(name))
    except (CorruptCacheError, OSError, RuntimeError, ValueError, KeyError, EOFError) as err:
        rd.discard(f"{name}: {err.__class__.__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    rebuild()
    return loader(rd.verified(name))


def resume_checkpoint(directory: Path) -> str | None:
    """The checkpoint an interrupted run left in its ``.incomplete`` directory, when it loads (rank 0's answer
    under DDP, so every process resumes from the same one)."""
    directory = Path(directory)
    if process_rank() == 0:
        path = RunDir(directory.with_name(directory.name.removesuffix(INCOMPLETE))).resume_checkpoint()
    else:
        path = str(directory / CHECKPOINT) if (directory / CHECKPOINT).exists() else None
    return agree(path)


# ------------------------------------------------------------------------------------------------ listing
def _checkpoint_epoch(path: Path) -> int | None:
    """The number of finished epochs a checkpoint holds, read without loading its tensors' storage."""
    if not path.exists():
        return None
    try:
        import torch  # heavy: only when there is a checkpoint to look at

        return int(torch.load(path, map_location="cpu", mmap=True, weights_only=False)["epoch"]) + 1
    except Exception:  # noqa: BLE001 - a damaged checkpoint is listed as such
        return -1


def list_runs(root: str | Path) -> list[dict]:
    """Every run under ``runs/<preset>/`` as one dict per run: stage, hash, state (``finished``; ``running`` when
    another process holds its lock; else ``incomplete``, with what stopped it), its path and a summary."""
    root = Path(root)
    rows = []
    if not root.is_dir():
        return rows
    for stage in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(stage.iterdir()):
            if not path.is_dir() or path.name.startswith("."):
                continue
            if path.name.endswith(INCOMPLETE):
                rows.append(_incomplete_row(RunDir(path.with_name(path.name[:-len(INCOMPLETE)]))))
            elif "." not in path.name and (path / MANIFEST).exists():
                rows.append(_finished_row(RunDir(path)))
    return rows


def _finished_row(rd: RunDir) -> dict:
    summary = ""
    if (rd.final / "metrics.json").exists():
        m = rd.metrics()
        keys = [k for k in ("recall", "E", "recall@10", "false_positive@10") if k in m]
        summary = "  ".join(f"{k} {100 * m[k]:.1f}" for k in keys)
        if "epochs" in m:
            summary += f"  epochs {m['epochs']}"
    elif (rd.final / "alpha.json").exists():
        summary = f"alpha {read_json(rd.final / 'alpha.json')['alpha']}"
    elif (rd.final / "features.npz").exists():
        summary = "CLIP towers and frozen features"
    return {"stage": rd.stage, "hash": rd.key, "state": "finished", "detail": summary, "path": str(rd.final)}


def _lock_held(rd: RunDir) -> bool:
    if not rd.lock_path.exists():
        return False
    lock = FileLock(str(rd.lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def _incomplete_row(rd: RunDir) -> dict:
    status = rd.status()
    epochs = _checkpoint_epoch(rd.partial / CHECKPOINT)
    ckpt = ("no checkpoint" if epochs is None else "damaged checkpoint" if epochs < 0
            else f"checkpoint after {epochs} epoch{'s' * (epochs != 1)}")
    if _lock_held(rd):
        state, why = "running", f"pid {status.get('pid', '?')}"
    else:
        state = "incomplete"
        if status.get("state") in ("failed", "interrupted"):
            why = f"{status['state']}: {status.get('error', '')}"
        elif status.get("state") == "running":
            alive = _pid_alive(status.get("pid")) and status.get("host") == os.uname().nodename
            why = "stopped without a word (killed?)" if not alive else f"pid {status.get('pid')} holds no lock"
        else:
            why = "no status"
    return {"stage": rd.stage, "hash": rd.key, "state": state, "detail": f"{why}; {ckpt}", "path": str(rd.partial)}
