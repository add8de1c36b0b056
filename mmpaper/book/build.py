"""Building the book: run every variant, execute every chapter with papermill on a preset, render with Jupyter Book.

The chapters' source of truth is ``notebooks/*.py`` (jupytext percent format, paired with the ``.ipynb`` that
Colab opens). The build stages the book under ``_build/<preset>/src`` with executed copies of the chapters, then
renders HTML to ``_build/<preset>/_build/html``. A chapter is re-executed only when its source, the preset, the
package's code or a run it reads has changed, so a second build with nothing changed only re-renders.

Besides the HTML the build writes every figure to ``_build/<preset>/figures/<chapter>-<name>.{png,svg}``
(:mod:`mmpaper.figures`), records each chapter's execution in a stamp beside its executed copy, turns those
records, the package versions and the machine into the appendix status page, and copies MathJax from the installed
``django-static-mathjax`` package into the book so formulas render with no network. The buttons and each chapter's
"run this chapter" note follow :mod:`mmpaper.book.launch` (no repository named: none).

A chapter's execution key holds paths relative to the book's build directory, never absolute ones, so a moved
checkout or a restored CI cache re-executes only what changed. A failing chapter raises :class:`ChapterError`
(the chapter, the cell's first line, the exception's last line; the full traceback in a log beside it); a failing
render raises :class:`BookBuildError` with the last meaningful lines of Jupyter Book's log, kept in
``_build/<preset>/jupyter-book.log``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import yaml

from .. import __version__
from ..experiments import Experiment
from ..figures import FIGURES_DIR_ENV
from ..data.download import GROCERY_DIR, grocery_ready
from ..fsio import config_hash
from ..paths import ROOT, benchmark_results, recorded_dir
from ..provenance import git_commit, machine, machine_line
from ..realphotos import KINDS, RealPhotoExperiment
from ..report import ensemble, narrative, records, tables
from ..report.claims import claim_definitions
from .launch import CONFIG, COMMIT, Release, book_config, read_release, stage_chapter, state
from .runtime import real_photo_config_for

logger = logging.getLogger(__name__)

BOOK_FILES = ("_config.yml", "_toc.yml")
BOOK_DIRS = ("book", "data_cards")
STATUS_PAGE = Path("book") / "status.md"
MATHJAX_FILES = ("tex-svg.js", "input", "ui", "a11y")  # tex-svg embeds its fonts; the folders serve autoload
LOCK_FILE = ROOT / "requirements.lock"
BOOK_LOG = "jupyter-book.log"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ChapterError(RuntimeError):
    """A chapter failed while papermill executed it; the message is one line, the full traceback is on disk."""


class BookBuildError(RuntimeError):
    """Jupyter Book failed to render the book; the message carries the last meaningful lines of its log."""


def chapters(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.py"))


def _runs_state(ex) -> str:
    """The finished runs a chapter can read: each ``metrics.json`` by its path inside the runs directory and its
    bytes (no absolute path, so a moved or restored runs directory keeps its state)."""
    h = hashlib.sha256()
    for f in sorted(ex.runs_dir.rglob("metrics.json")):
        h.update(f.relative_to(ex.runs_dir).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _relative(path: Path | str | None, base: Path) -> str | None:
    """``path`` relative to ``base`` (``..`` allowed): what a chapter key holds instead of an absolute path."""
    return None if path is None else Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()


def chapter_key(src: Path, preset: str, runs_dir: Path | None, figures_dir: Path, out: Path, runs_state: str,
                code: str, real_photos: str = "") -> str:
    """Everything a chapter's executed copy depends on: its source, the preset, where its runs and figures are
    (relative to the build directory ``out``), the package version and code, the runs' state, the recorded
    results (benchmarks for the appendix, ``book/recorded`` for every other chapter) and, for the visual-search
    chapter, the real-photo runs ``real_photos``."""
    if "benchmarks" in src.stem:
        recorded = _bench_state()
    else:
        recorded = _recorded_state() + (real_photos if "visual_search" in src.stem else "")
    return config_hash([src.read_text(), preset, _relative(runs_dir, out), __version__, runs_state, code, recorded,
                        _relative(figures_dir, out)], 64)


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
                    [(c.cell_type, c.source, c.metadata.get("tags")) for c in nb.cells] and \
                    {k: v for k, v in old.metadata.items() if k != "jupytext"} == \
                    {k: v for k, v in nb.metadata.items() if k != "jupytext"}:
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
        h.update(str(f.relative_to(root)).encode())  # relative: a moved runs directory keeps its state
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


def declared_packages(root: Path = ROOT) -> list[str]:
    """The distributions the book is built with: pyproject's dependencies and its ``book`` extra, in order."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=!~\[ ;]", r.strip(), maxsplit=1)[0] for r in
             project["dependencies"] + project["optional-dependencies"].get("book", [])]
    return list(dict.fromkeys(n.lower().replace("_", "-") for n in names))


def locked_versions(lock: Path = LOCK_FILE) -> dict[str, str]:
    """``name -> version`` of the lock file's pins that apply to this interpreter and platform."""
    from packaging.requirements import Requirement  # pip's own parser (installed with pip and the book's tools)

    pins = {}
    if not lock.exists():
        return pins
    for line in lock.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        req = Requirement(line)
        if (req.marker is None or req.marker.evaluate()) and len(req.specifier) == 1:
            pins[req.name.lower().replace("_", "-")] = next(iter(req.specifier)).version
    return pins


def build_environment(root: Path = ROOT) -> dict:
    """What a build ran on: the machine, the commit, and each declared package's installed and locked version."""
    from importlib import metadata

    locked = locked_versions(root / LOCK_FILE.name)
    versions = {}
    for name in declared_packages(root):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        versions[name] = {"installed": installed, "locked": locked.get(name)}
    return {"machine": machine(), "commit": git_commit(root), "mmpaper": __version__, "versions": versions}


def _environment_lines(env: dict) -> list[str]:
    m = env["machine"]
    rows = [f"| {name} | {v['installed'] or 'not installed'} | {v['locked'] or '—'} | "
            f"{'—' if not v['locked'] else 'yes' if v['installed'] == v['locked'] else '**no**'} |"
            for name, v in env["versions"].items()]
    differ = [name for name, v in env["versions"].items() if v["locked"] and v["installed"] != v["locked"]]
    locked = sum(1 for v in env["versions"].values() if v["locked"])
    return [
        "## Machine", "",
        f"{machine_line(m)}; {m.get('memory_gib') or '?'} GiB of memory; {m['platform']}; torch {m['torch']}. "
        f"Built from commit `{env['commit'] or 'none (not a git checkout)'}` of mmpaper {env['mmpaper']}.", "",
        "## Package versions", "",
        "The installed version of every package the book declares (`pyproject.toml`: the dependencies and the "
        "`book` extra) beside the exact version `requirements.lock` pins for this platform (`make book` installs "
        "from it). " + (f"{len(differ)} of {locked} differ from the lock: {', '.join(differ)}." if differ else
                         f"All {locked} locked packages match the lock." if locked else "No lock file was found."),
        "", "| package | installed | locked | as locked |", "|---|---|---|---|", *rows, ""]


def write_status_page(stage: Path, preset: str, trained: dict[str, float], environment: dict | None = None) -> Path:
    """The appendix status page, from the stamps the build recorded: each chapter's execution time and date,
    the preset and the date of this build, the machine and the package versions (:func:`build_environment`)."""
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
        "|---|---|---|---|", *rows, "", *_environment_lines(environment or build_environment())])
    page = stage / STATUS_PAGE
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text)
    return page


# chapters that time something on the build's machine: executed alone, after the others, with the build's threads
TIMED_CHAPTERS = ("09_benchmarks",)


@contextmanager
def _environ(values: dict[str, str]):
    """``os.environ`` with ``values`` set while the block runs (the kernels papermill starts inherit it)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute_chapters(preset: str, stage: Path, runs_dir: Path | None, ex, progress: bool = True,
                     figures_dir: Path | None = None, workers: int | None = None) -> list[str]:
    """Execute each chapter with papermill into ``stage/notebooks``; skip chapters whose inputs are unchanged.

    Chapters only read finished runs, so ``workers`` of them (default: one per core, at most two) execute at once,
    each kernel with one thread; the chapters that time something (:data:`TIMED_CHAPTERS`) run alone afterwards.
    Each executed chapter gets a stamp (JSON: input key, seconds, date, preset), and writes its figures to
    ``figures_dir`` (default: ``figures`` beside ``stage``). A failing chapter raises :class:`ChapterError` once
    the chapters beside it have finished, which keep their executed copies and stamps."""
    import papermill as pm  # the book's tools: only when chapters are executed

    (stage / "notebooks").mkdir(parents=True, exist_ok=True)
    runs_state, code = _runs_state(ex), _package_state()
    real_photos = _real_photo_state(preset, runs_dir)
    figures_dir = Path(figures_dir or stage.parent / "figures")
    todo = []
    for src in chapters():
        target = stage / "notebooks" / src.with_suffix(".ipynb").name
        key = chapter_key(src, preset, runs_dir, figures_dir, stage.parent, runs_state, code, real_photos)
        previous = read_stamp(target.with_suffix(".stamp"))
        if not (target.exists() and previous is not None and previous.get("key") == key):
            todo.append((src, target, key))

    def execute(src: Path, target: Path, key: str) -> str:
        stamp = target.with_suffix(".stamp")
        t0 = time.perf_counter()
        params = {"preset": preset, "runs_dir": str(runs_dir) if runs_dir else None}
        stamp.unlink(missing_ok=True)  # until it succeeds, the copy beside it is not this key's
        try:
            pm.execute_notebook(str(src.with_suffix(".ipynb")), str(target), parameters=params,
                                kernel_name="python3", cwd=str(ROOT), progress_bar=False, log_output=False)
            _hide_injected_parameters(target)
        except Exception as err:  # noqa: BLE001 - any failure of a chapter is reported the same readable way
            raise chapter_error(src.stem, err, target) from err
        seconds = time.perf_counter() - t0
        stamp.write_text(json.dumps({"key": key, "seconds": round(seconds, 2), "preset": preset,
                                     "executed_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")}))
        logger.info(f"  executed {src.stem} in {seconds:.1f} s")
        return src.stem

    workers = workers or min(2, os.cpu_count() or 1)
    pooled = [t for t in todo if t[0].stem not in TIMED_CHAPTERS]
    alone = [t for t in todo if t[0].stem in TIMED_CHAPTERS]
    figures = {FIGURES_DIR_ENV: str(figures_dir)}
    one_thread = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"} if workers > 1 else {}
    with _environ({**figures, **one_thread}), ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(execute, *t) for t in pooled]
        wait(futures)
    for future in futures:
        future.result()  # the first failure, in chapter order, once every pooled chapter has finished
    with _environ(figures):
        for t in alone:
            execute(*t)
    return [src.stem for src, _, _ in todo]


def write_at_a_glance(stage: Path, ex: Experiment) -> Path:
    """The intro's results-at-a-glance box (``book/_generated/at_a_glance.md`` in the staged book), generated from
    this build's runs and the recorded ensemble of worlds."""
    claims = tables.claims(ex)
    record = records.load_robustness(ex.preset.name)
    across = ensemble.summary(record, texts={c.id: c.text for c in claim_definitions()}) if record else None
    controls = tables.controls(ex) if all(ex.rundir(n).finished() for n in ("bibert-seenneg",)) else None
    text = narrative.at_a_glance_text(tables.table2(ex), claims, ex.preset.name, across, controls)
    page = stage / "book" / "_generated" / "at_a_glance.md"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text)
    return page


def _hide_injected_parameters(notebook: Path) -> None:
    """Papermill adds an "injected-parameters" cell beside the chapter's own (hidden) parameters cell; the page
    shows neither, so a reader does not see the parameters twice."""
    import nbformat  # the book's tools: only when chapters are executed

    nb = nbformat.read(notebook, as_version=4)
    for c in nb.cells:
        tags = c.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(nb, notebook)


def chapter_error(chapter: str, err: Exception, target: Path) -> ChapterError:
    """One line a reader can act on: the chapter, the failing cell's first line and the exception's last line;
    the full traceback goes to ``<chapter>.error.log`` beside the executed copy (which papermill kept too)."""
    traceback = ANSI.sub("", "\n".join(getattr(err, "traceback", None) or []) or str(err)).strip()
    source = getattr(err, "source", "") or ""
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    lines = [line.strip() for line in traceback.splitlines() if line.strip()]
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    last = (f"{ename}: {ANSI.sub('', str(evalue)).strip().splitlines()[-1]}" if ename and str(evalue).strip()
            else ename or (lines[-1] if lines else err.__class__.__name__))
    if not ename and last and err.__class__.__name__ not in last:
        last = f"{err.__class__.__name__}: {last}"
    log = target.with_suffix(".error.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"chapter {chapter}, cell {getattr(err, 'exec_count', '?')}:\n{source}\n\n{traceback}\n")
    cell = f" in the cell `{first[:100]}`" if first else ""
    return ChapterError(f"chapter {chapter} failed{cell}: {last} (full traceback: {log}; the executed notebook: "
                        f"{target})")


def meaningful_lines(log: str, n: int = 12) -> list[str]:
    """The last ``n`` lines of a Jupyter Book log worth reading: warnings and errors first; never blank lines,
    progress lines or the boxes Jupyter Book draws around them."""
    noise = re.compile(r"^(\W+$|[═─=\-]{5,}|running sphinx|loading |reading sources|writing output|looking for now|"
                       r"pickling|checking consistency|preparing documents|copying |building \[|updating environment|"
                       r"done$|dumping |highlighting |generating indices|writing additional|"
                       r"executing outdated|\[\s*\d+%\]|.*\.\.\. ?\[)", re.I)
    lines = [ANSI.sub("", raw).strip(" \t│║|") for raw in log.splitlines()]
    lines = [line for line in lines if line and not noise.match(line)]
    flagged = [line for line in lines if re.search(r"warning|error|exception|traceback|failed", line, re.I)]
    return (flagged or lines)[-n:]


def render(stage: Path, out: Path) -> Path:
    """``jupyter-book build`` of the staged book into ``out`` (run through this interpreter, so it works wherever
    pip put the scripts); the whole log is kept in ``out/jupyter-book.log``."""
    out.mkdir(parents=True, exist_ok=True)
    log = out / BOOK_LOG
    cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.argv[0] = 'jupyter-book'; "
           "main()", "build", str(stage), "--path-output", str(out), "-W", "-n", "--keep-going"]
    with log.open("w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        lines = meaningful_lines(log.read_text())
        raise BookBuildError(f"jupyter-book build failed (exit {proc.returncode}); the last lines of its log:\n"
                             + "\n".join(f"  {line}" for line in lines) + f"\nthe full log: {log}")
    return out / "_build" / "html"


def stage_book(stage: Path, release: Release | None = None, commit: str | None = None) -> str:
    """Copy the book's files into ``stage`` with the ``_config.yml`` the launch state allows
    (:func:`mmpaper.book.launch.book_config`); returns that state."""
    release = release if release is not None else read_release()
    stage.mkdir(parents=True, exist_ok=True)
    for f in BOOK_FILES:
        shutil.copy2(ROOT / f, stage / f)
    config = book_config(yaml.safe_load((ROOT / CONFIG).read_text()), release, commit)
    (stage / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    for d in BOOK_DIRS:
        shutil.copytree(ROOT / d, stage / d, dirs_exist_ok=True)
    return state(release, commit)


def stage_notes(stage: Path, release: Release, commit: str | None) -> None:
    """Each executed chapter gets its "run this chapter" note, and loses its install cell while no release is
    named (:func:`mmpaper.book.launch.stage_chapter`); written only when that changes it."""
    import nbformat  # the book's tools: only when the book is built

    for src in chapters():
        target = stage / "notebooks" / f"{src.stem}.ipynb"
        if not target.exists():
            continue
        nb = nbformat.read(target, as_version=4)
        if stage_chapter(nb, release, commit, src.stem):
            nbformat.write(nb, target)


def build_commit() -> str | None:
    """The commit the book is built from, or None when files differ from it (no immutable ref to open)."""
    commit = git_commit(ROOT)
    return commit if commit and COMMIT.match(commit) else None


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
    release, commit = read_release(), build_commit()
    buttons = stage_book(stage, release, commit)
    logger.info(f"[book] launch buttons: {buttons} (mmpaper.book.launch)")
    install_mathjax(stage)
    logger.info("[book] executing chapters with papermill")
    execute_chapters(preset, stage, runs_dir, ex, progress, figures_dir=out / "figures")
    stage_notes(stage, release, commit)
    write_status_page(stage, preset, trained)
    write_at_a_glance(stage, ex)
    logger.info("[book] rendering with Jupyter Book")
    html = render(stage, out)
    logger.info(f"[book] done in {time.perf_counter() - t0:.0f} s: open {html / 'index.html'}")
    return html


