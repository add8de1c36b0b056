"""Building the book: run every variant, execute every chapter with papermill on a preset, render with Jupyter Book.

The chapters' source of truth is ``notebooks/*.py`` (jupytext percent format, paired with the ``.ipynb`` that
Colab opens). The build stages the book under ``_build/<preset>/src`` with executed copies of the chapters, then
renders HTML to ``_build/<preset>/html``. A chapter is re-executed only when its source, the preset, the package
version or a run it reads has changed, so a second build with nothing changed only re-renders.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK_FILES = ("_config.yml", "_toc.yml")
BOOK_DIRS = ("book", "data_cards")


def chapters(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.py"))


def _runs_state(ex) -> str:
    h = hashlib.sha256()
    for f in sorted(ex.runs_dir.rglob("metrics.json")):
        h.update(str(f).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def open_experiment(preset: str = "cpu", runs_dir: str | Path | None = None):
    """Every chapter's set-up: the preset's :class:`~mmpaper.experiments.Experiment` with all variants run —
    finished run directories are reused, so only what is missing trains — and library warnings silenced."""
    import warnings

    from .experiments import Experiment

    warnings.filterwarnings("ignore")
    ex = Experiment(preset, runs_dir=runs_dir, progress=False)
    ex.run_all()
    return ex


def sync_notebooks(root: Path = ROOT) -> list[Path]:
    """Write the ``.ipynb`` twin of every chapter from its ``.py`` source (what Colab and papermill open)."""
    import jupytext

    import nbformat

    out = []
    for src in chapters(root):
        nb = jupytext.read(src)
        target = src.with_suffix(".ipynb")
        if target.exists():  # keep the cell ids of an unchanged twin, so a sync never churns tracked files
            old = nbformat.read(target, as_version=4)
            if [(c.cell_type, c.source, c.metadata.get("tags")) for c in old.cells] == \
                    [(c.cell_type, c.source, c.metadata.get("tags")) for c in nb.cells]:
                out.append(target)
                continue
            for new, prev in zip(nb.cells, old.cells):
                if "id" in prev:
                    new["id"] = prev["id"]
        target.write_text(jupytext.writes(nb, fmt="ipynb"))
        out.append(target)
    return out


def _bench_state() -> str:
    files = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def execute_chapters(preset: str, stage: Path, runs_dir: Path | None, ex, progress: bool = True) -> list[str]:
    """Execute each chapter with papermill into ``stage/notebooks``; skip chapters whose inputs are unchanged."""
    import papermill as pm

    from . import __version__

    executed = []
    (stage / "notebooks").mkdir(parents=True, exist_ok=True)
    state = _runs_state(ex)
    for src in chapters():
        nb_path = src.with_suffix(".ipynb")
        target = stage / "notebooks" / nb_path.name
        stamp = target.with_suffix(".stamp")
        recorded = _bench_state() if "benchmarks" in src.stem else ""  # the appendix shows recorded results
        key = hashlib.sha256(json.dumps([src.read_text(), preset, str(runs_dir), __version__, state,
                                         recorded]).encode())
        key = key.hexdigest()
        if target.exists() and stamp.exists() and stamp.read_text() == key:
            continue
        t0 = time.perf_counter()
        params = {"preset": preset, "runs_dir": str(runs_dir) if runs_dir else None}
        pm.execute_notebook(str(nb_path), str(target), parameters=params, kernel_name="python3",
                            cwd=str(ROOT), progress_bar=False, log_output=False)
        stamp.write_text(key)
        executed.append(src.stem)
        if progress:
            print(f"  executed {src.stem} in {time.perf_counter() - t0:.1f} s", flush=True)
    return executed


def build(preset: str = "cpu", *, runs_dir: str | Path | None = None, out: str | Path | None = None,
          progress: bool = True) -> Path:
    """Run the variants, execute the chapters and render the HTML; returns the HTML directory."""
    from .experiments import Experiment

    t0 = time.perf_counter()
    out = Path(out or ROOT / "_build" / preset)
    stage = out / "src"
    ex = Experiment(preset, runs_dir=runs_dir, progress=progress)
    if progress:
        print(f"[book] runs for preset {preset!r} in {ex.runs_dir}", flush=True)
    for name, r in ex.run_all().items():
        if progress and not r.reused:
            print(f"  trained {name} in {r.metrics['train_seconds']:.1f} s", flush=True)
    sync_notebooks()
    for f in BOOK_FILES:
        stage.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, stage / f)
    for d in BOOK_DIRS:
        shutil.copytree(ROOT / d, stage / d, dirs_exist_ok=True)
    if progress:
        print("[book] executing chapters with papermill", flush=True)
    execute_chapters(preset, stage, runs_dir, ex, progress)
    if progress:
        print("[book] rendering with Jupyter Book", flush=True)
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(stage), "--path-output", str(out), "-W", "-n",
           "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n"
                           f"{proc.stderr[-4000:]}")
    html = out / "_build" / "html"
    if progress:
        print(f"[book] done in {time.perf_counter() - t0:.0f} s: open {html / 'index.html'}", flush=True)
    return html
