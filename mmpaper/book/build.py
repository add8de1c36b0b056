"""Building the book: run every variant, execute every chapter with papermill on a preset, render with Jupyter Book.

The chapters' source of truth is ``notebooks/*.py`` (jupytext percent format, paired with the ``.ipynb`` that
Colab opens). The build stages the book under ``_build/<preset>/src`` with executed copies of the chapters, then
renders HTML to ``_build/<preset>/_build/html``. A chapter is re-executed only when its source, the preset, the
package's code or a run it reads has changed, so a second build with nothing changed only re-renders.

Besides the HTML the build writes every figure to ``_build/<preset>/figures/<chapter>-<name>.{png,svg}``
(:mod:`mmpaper.figures`), records each chapter's execution in a stamp beside its executed copy, turns those
records into the appendix status page, and copies MathJax from the installed ``django-static-mathjax`` package
into the book so formulas render with no network.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..experiments import Experiment
from ..figures import FIGURES_DIR_ENV
from ..data.download import GROCERY_DIR, grocery_ready
from ..fsio import config_hash
from ..paths import ROOT, benchmark_results, recorded_dir
from ..realphotos import KINDS, RealPhotoExperiment
from .runtime import real_photo_config_for

logger = logging.getLogger(__name__)

BOOK_FILES = ("_config.yml", "_toc.yml")
BOOK_DIRS = ("book", "data_cards")
STATUS_PAGE = Path("book") / "status.md"
MATHJAX_FILES = ("tex-svg.js", "input", "ui", "a11y")  # tex-svg embeds its fonts; the folders serve autoload


def chapters(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.py"))


def _runs_state(ex) -> str:
    h = hashlib.sha256()
    for f in sorted(ex.runs_dir.rglob("metrics.json")):
        h.update(str(f).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def sync_notebooks(root: Path = ROOT) -> list[Path]:
    """Write the ``.ipynb`` twin of every chapter from its ``.py`` source (what Colab and papermill open)."""
    import jupytext  # the book's tools: only when the book is built
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
    files = sorted(benchmark_results().glob("*.json"))
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def _recorded_state() -> str:
    """What the visual-search chapter reads besides its runs: the recorded results (book/recorded) and whether the
    Grocery Store data is here (its real-photo section changes with both)."""
    files = sorted(p for p in recorded_dir().glob("*") if p.is_file())
    ready = grocery_ready(ROOT / GROCERY_DIR) is not None
    return hashlib.sha256(b"".join(f.read_bytes() for f in files) + str(ready).encode()).hexdigest()


def _real_photo_state(preset: str, runs_dir) -> str:
    """The finished real-photo runs the visual-search chapter reads (seed 0 trained by the build, others by hand)."""
    root = RealPhotoExperiment(real_photo_config_for(preset), runs_dir=runs_dir).runs_dir
    h = hashlib.sha256()
    for f in sorted(root.rglob("metrics.json")) if root.is_dir() else []:
        h.update(str(f).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def train_real_photos(preset: str, runs_dir) -> dict[str, float]:
    """Seed 0 of the real-photo models, when the verified Grocery Store data is here (reused when finished), so
    the chapter only reads them; nothing when it is not. Returns the seconds of what trained."""
    if grocery_ready(ROOT / GROCERY_DIR) is None:
        logger.info("[book] no Grocery Store data in %s: the real-photo section shows the recorded result",
                    ROOT / GROCERY_DIR)
        return {}
    rp = RealPhotoExperiment(real_photo_config_for(preset), data_dir=ROOT / GROCERY_DIR, runs_dir=runs_dir)
    trained = {}
    for kind in KINDS:
        r = rp.run(kind, 0)
        if not r.reused:
            trained[f"grocery-vs-{kind}"] = float(r.metrics.get("train_seconds", 0.0))
            logger.info(f"  trained grocery vs-{kind} (seed 0) in {trained[f'grocery-vs-{kind}']:.1f} s")
    return trained


def _package_state() -> str:
    """The package's code: a chapter shows what ``mmpaper`` computes, so a change there re-executes it."""
    h = hashlib.sha256()
    for f in sorted((ROOT / "mmpaper").rglob("*.py")):
        h.update(str(f.relative_to(ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def read_stamp(stamp: Path) -> dict | None:
    """What the build recorded for one executed chapter: its input key, seconds, date and preset."""
    if not stamp.exists():
        return None
    try:
        record = json.loads(stamp.read_text())
    except json.JSONDecodeError:  # a stamp from before records were JSON: execute again
        return None
    return record if isinstance(record, dict) else None


def install_mathjax(stage: Path) -> Path:
    """Copy MathJax 3 into ``stage/_mathjax/mathjax``, which Sphinx copies to ``_static/mathjax`` (``_config.yml``
    lists ``_mathjax`` in ``html_static_path`` and points ``mathjax_path`` there). Not under the book's own
    ``_static``: Jupyter Book would add every script found there to every page."""
    try:
        import mathjax  # the django-static-mathjax package: MathJax's own files, no Django needed (book tools)
    except ImportError as err:
        raise RuntimeError("MathJax is missing, so formulas would not render offline: "
                           "pip install django-static-mathjax (a dependency of mmpaper)") from err
    source = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    target = stage / "_mathjax" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    for name in MATHJAX_FILES:
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name, dirs_exist_ok=True)
        else:
            shutil.copy2(source / name, target / name)
    return target


def write_status_page(stage: Path, preset: str, trained: dict[str, float]) -> Path:
    """The appendix status page, from the stamps the build recorded: each chapter's execution time and date,
    the preset and the date of this build."""
    rows = []
    for src in chapters():
        record = read_stamp(stage / "notebooks" / f"{src.stem}.stamp") or {}
        seconds = record.get("seconds")
        rows.append(f"| {src.stem} | {record.get('preset', '—')} | "
                    f"{f'{seconds:.1f}' if isinstance(seconds, (int, float)) else '—'} | "
                    f"{record.get('executed_at', '—')} |")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    trained_line = (f"{len(trained)} run(s) trained in this build ({sum(trained.values()):.0f} s in all); every "
                    f"other run directory was reused." if trained else "Every run directory was reused.")
    text = "\n".join([
        "# Build status", "",
        f"Last build: **{now}**, preset **`{preset}`**, mmpaper {__version__}. {trained_line}", "",
        "Read from the stamps the build writes beside each executed chapter "
        "(`_build/<preset>/src/notebooks/<chapter>.stamp`). A chapter is executed again only when its source, the "
        "preset, the package's code or a run it reads changes; otherwise its date is that of the build that last "
        "executed it.", "",
        "| chapter | preset | execution time (s) | executed (UTC) |",
        "|---|---|---|---|", *rows, ""])
    page = stage / STATUS_PAGE
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text)
    return page


def execute_chapters(preset: str, stage: Path, runs_dir: Path | None, ex, progress: bool = True,
                     figures_dir: Path | None = None) -> list[str]:
    """Execute each chapter with papermill into ``stage/notebooks``; skip chapters whose inputs are unchanged.

    Each executed chapter gets a stamp (JSON: input key, seconds, date, preset), and writes its figures to
    ``figures_dir`` (default: ``figures`` beside ``stage``)."""
    import papermill as pm  # the book's tools: only when chapters are executed

    executed = []
    (stage / "notebooks").mkdir(parents=True, exist_ok=True)
    state, code = _runs_state(ex), _package_state()
    real_photos = _real_photo_state(preset, runs_dir)
    figures_dir = Path(figures_dir or stage.parent / "figures")
    for src in chapters():
        nb_path = src.with_suffix(".ipynb")
        target = stage / "notebooks" / nb_path.name
        stamp = target.with_suffix(".stamp")
        # the appendix shows recorded benchmarks; the visual-search chapter the real-photo record, data and runs
        recorded = _bench_state() if "benchmarks" in src.stem else \
            _recorded_state() + real_photos if "visual_search" in src.stem else ""
        key = config_hash([src.read_text(), preset, str(runs_dir), __version__, state, code, recorded,
                           str(figures_dir)], 64)
        previous = read_stamp(stamp)
        if target.exists() and previous is not None and previous.get("key") == key:
            continue
        t0 = time.perf_counter()
        params = {"preset": preset, "runs_dir": str(runs_dir) if runs_dir else None}
        old = os.environ.get(FIGURES_DIR_ENV)
        os.environ[FIGURES_DIR_ENV] = str(figures_dir)  # the kernel papermill starts inherits it
        try:
            pm.execute_notebook(str(nb_path), str(target), parameters=params, kernel_name="python3",
                                cwd=str(ROOT), progress_bar=False, log_output=False)
        finally:
            if old is None:
                os.environ.pop(FIGURES_DIR_ENV, None)
            else:
                os.environ[FIGURES_DIR_ENV] = old
        seconds = time.perf_counter() - t0
        stamp.write_text(json.dumps({"key": key, "seconds": round(seconds, 2), "preset": preset,
                                     "executed_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")}))
        executed.append(src.stem)
        logger.info(f"  executed {src.stem} in {seconds:.1f} s")
    return executed


def build(preset: str = "cpu", *, runs_dir: str | Path | None = None, out: str | Path | None = None,
          progress: bool = True) -> Path:
    """Run the variants, execute the chapters and render the HTML; returns the HTML directory."""
    t0 = time.perf_counter()
    out = Path(out or ROOT / "_build" / preset)
    stage = out / "src"
    ex = Experiment(preset, runs_dir=runs_dir, progress=progress)
    logger.info(f"[book] runs for preset {preset!r} in {ex.runs_dir}")
    trained = {}
    for name, r in ex.run_all().items():
        if not r.reused:
            trained[name] = float(r.metrics.get("train_seconds", 0.0))
            logger.info(f"  trained {name} in {trained[name]:.1f} s")
    trained.update(train_real_photos(preset, runs_dir))
    sync_notebooks()
    for f in BOOK_FILES:
        stage.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, stage / f)
    for d in BOOK_DIRS:
        shutil.copytree(ROOT / d, stage / d, dirs_exist_ok=True)
    install_mathjax(stage)
    logger.info("[book] executing chapters with papermill")
    execute_chapters(preset, stage, runs_dir, ex, progress, figures_dir=out / "figures")
    write_status_page(stage, preset, trained)
    logger.info("[book] rendering with Jupyter Book")
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(stage), "--path-output", str(out), "-W", "-n",
           "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n"
                           f"{proc.stderr[-4000:]}")
    html = out / "_build" / "html"
    logger.info(f"[book] done in {time.perf_counter() - t0:.0f} s: open {html / 'index.html'}")
    return html


