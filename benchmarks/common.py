"""Shared helpers of the benchmark scripts: the machine, a measured matmul rate, peak memory of a child process,
results as a printed table plus JSON under ``benchmarks/results/``.

Every target is a *ratio against a baseline measured in the same run*, because these machines are noisy.
"""
from __future__ import annotations

import datetime as _dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """The package's description of the machine (``mmpaper.provenance.machine``), dated, with FAISS and NumPy."""
    import faiss

    from mmpaper.provenance import git_commit, machine as package_machine

    m = package_machine()
    out = {"date": _dt.date.today().isoformat(), **{k: m[k] for k in ("cpu", "cores", "memory_gib", "gpu", "python",
                                                                    "torch")},
           "faiss": faiss.__version__, "numpy": np.__version__}
    commit = git_commit()  # None where the tree is no git checkout (a copy sent to a GPU machine)
    return {**out, "commit": commit[:7] + ("-dirty" if commit.endswith("-dirty") else "")} if commit else out


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """The machine's float32 matrix-multiply rate (GFLOP/s), best of ``repeats``: the hardware ceiling search can
    approach."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_time(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def current_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return peak_rss_bytes()


def run_worker(script: str, args: list[str], timeout: float | None = None) -> dict:
    """Run ``script --worker ...`` in a fresh process (so its peak memory is its own) and return its JSON line."""
    cmd = [sys.executable, script, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def quiet(all_warnings: bool = True) -> None:
    """Lightning's and open_clip's start-up chatter off (:func:`mmpaper.logs.quiet_libraries`) and, unless
    ``all_warnings`` is False, every warning too: a benchmark prints its tables and little else."""
    import warnings

    from mmpaper.logs import quiet_libraries

    quiet_libraries()
    if all_warnings:
        warnings.filterwarnings("ignore")


def save(name: str, payload: dict, out_dir: Path | None = None) -> Path:
    out_dir = Path(out_dir or RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **payload}, indent=2, default=float))
    return path


def print_table(rows: list[dict], title: str) -> None:
    import pandas as pd

    print(f"\n## {title}\n")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3g"))


def unit_rows(n: int, d: int, seed: int, chunk: int = 1 << 16, clusters: int = 0) -> np.ndarray:
    """``n`` L2-normalised float32 rows, generated in place chunk by chunk (no float64 or full-size temporary).
    ``clusters > 0`` draws them around that many random centres, as trained embeddings are (ANN needs structure)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, d), dtype=np.float32)
    centres = None
    if clusters:
        centres = np.random.default_rng(12345).standard_normal((clusters, d), dtype=np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    for a in range(0, n, chunk):
        block = out[a:a + chunk]
        rng.standard_normal(out=block, dtype=np.float32)
        if centres is not None:
            block *= 0.6 / np.sqrt(d)
            block += centres[rng.integers(0, clusters, len(block))]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return out
