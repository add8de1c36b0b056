"""What produced a recorded number: the machine, the library versions and the git commit (imports nothing from
the package). Seed sweeps, calibration records, the ensemble of worlds, benchmarks and the build status page all
describe their machine with :func:`machine`."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

VERSIONED = ("torch", "pytorch_lightning", "transformers", "open_clip", "faiss", "numpy", "scipy", "pandas")


def cores() -> int:
    """The CPU cores this process may use (its affinity; all of them where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def machine() -> dict:
    """CPU model and cores, memory, GPU (if any), platform, Python and torch version."""
    import torch  # heavy; only asked for when a record is written

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1)
    except (ValueError, OSError, AttributeError):
        memory_gib = None
    return {"cpu": cpu or "unknown", "cores": os.cpu_count(), "memory_gib": memory_gib,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__}


def machine_line(m: dict | None = None) -> str:
    """The machine in one line: ``<cpu>, <n> CPU cores, [GPU <name>, ]Python <v>``."""
    m = m or machine()
    return f"{m['cpu']}, {m['cores']} CPU cores, " + (f"GPU {m['gpu']}, " if m.get("gpu") else "") + \
        f"Python {m['python']}"


def library_versions(names=VERSIONED) -> dict[str, str]:
    """Installed versions of the libraries a number depends on (``importlib.metadata``, no import)."""
    from importlib import metadata

    dists = {"torch": "torch", "pytorch_lightning": "pytorch-lightning", "transformers": "transformers",
             "open_clip": "open_clip_torch", "faiss": None, "numpy": "numpy", "scipy": "scipy", "pandas": "pandas"}
    out = {}
    for name in names:
        candidates = [dists.get(name)] if dists.get(name) else ["faiss-cpu", "faiss-gpu", "faiss-gpu-cu12"]
        for dist in candidates:
            try:
                out[name] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return out


def git_commit(where: str | Path | None = None) -> str | None:
    """The checkout's commit, with ``-dirty`` when tracked files have uncommitted changes; None outside git."""
    here = Path(where or Path(__file__).resolve().parent)
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=here).stdout.strip()
        if not head:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10, cwd=here).stdout.strip()
        return head + ("-dirty" if dirty else "")  # a run from uncommitted changes is not that commit's: say so
    except (OSError, subprocess.SubprocessError):
        return None
