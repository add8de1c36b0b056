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
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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


# Seconds each stage took (training + evaluation), measured on this project's 2-core CPU machine: the cpu preset
# from the session-2 timings (uncontended), smoke from a run in session 3. What a chapter announces before it trains.
RECORDED_SECONDS = {
    "cpu": {"stage0-clip": 54, "bibert": 28, "clip": 1, "4tmm-cat": 1, "4tmm-acat": 8, "4tmm-mlp": 9,
            "4tmm-joint": 19, "4tmm-joint-seenneg": 33, "4tmm-mlp-seenneg": 15, "3tmm-joint": 16,
            "3tmm-joint-seenneg": 34, "3tmm-mlp-seenneg": 16, "vs-img2img": 24, "vs-3tower": 47, "vs-4tower": 70},
    "smoke": {"stage0-clip": 7, "bibert": 6, "clip": 1, "4tmm-cat": 1, "4tmm-acat": 1, "4tmm-mlp": 2, "4tmm-joint": 3,
              "4tmm-joint-seenneg": 6, "4tmm-mlp-seenneg": 3, "3tmm-joint": 2, "3tmm-joint-seenneg": 4,
              "3tmm-mlp-seenneg": 3, "vs-img2img": 2, "vs-3tower": 3, "vs-4tower": 2},
}
RECORDED_SECONDS["colab"] = RECORDED_SECONDS["cpu"]  # the same settings; on a GPU it is faster


def in_colab() -> bool:
    """Running in Google Colab, or ``MMPAPER_COLAB`` set to simulate it (a notebook run here takes Colab's path)."""
    return "google.colab" in sys.modules or bool(os.environ.get("MMPAPER_COLAB"))


def training_plan(ex, names: list[str]) -> list[str]:
    """The stages that must train before ``names`` can be read, in order: the stand-in CLIP (stage 0), BiBERT
    (stage 1) when a multimodal row starts from it, then every named variant without a finished run directory."""
    from .experiments import variant

    def finished(name: str) -> bool:
        try:
            ex.result(name)
            return True
        except FileNotFoundError:
            return False

    todo = [n for n in names if not finished(n)]
    needs_bibert = any(variant(n).model in ("4tmm", "3tmm") for n in todo) and not finished("bibert")
    stages = ["bibert"] if needs_bibert and "bibert" not in todo else []
    clip_trains = ex.preset.world != "esci" and ex.preset.clip_pretrained is None
    if clip_trains and (todo or stages) and not (ex.clip_dir() / "clip.pt").exists():
        stages.insert(0, "stage0-clip")
    return stages + todo


def _announce(ex, names: list[str], plan: list[str]) -> None:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else \
        "CPU (no GPU attached: Runtime > Change runtime type > T4 GPU makes this faster)"
    print(f"Colab: preset {ex.preset.name!r} on {device}; this chapter reads {len(names)} run(s): {', '.join(names)}")
    if not plan:
        print(f"All of them are finished in {ex.runs_dir}: nothing trains.")
        return
    recorded = RECORDED_SECONDS.get(ex.preset.name, {})
    known = [recorded[s] for s in plan if s in recorded]
    if len(known) == len(plan):
        seconds = sum(known)
        estimate = ("about " + (f"{seconds} s" if seconds < 90 else f"{round(seconds / 60)} min") +
                    " on a 2-core CPU (measured)") + \
            (", less on this GPU" if torch.cuda.is_available() else "")
    else:
        estimate = f"no recorded timing for preset {ex.preset.name!r}"
    print(f"To train now ({estimate}), then reused from {ex.runs_dir}: {', '.join(plan)}", flush=True)


def open_experiment(preset: str = "cpu", runs_dir: str | Path | None = None, variants: list[str] | None = None):
    """Every chapter's set-up: the preset's :class:`~mmpaper.experiments.Experiment` with the chapter's
    ``variants`` run (all when None, the stages they start from included) — finished run directories are reused,
    so only what is missing trains.

    In the book's own runs library warnings are silenced and nothing shows progress. In Colab (or with
    ``MMPAPER_COLAB=1``, which simulates it) the ``cpu`` preset becomes ``colab`` (the same settings, on the GPU when
    the runtime has one), and before anything trains the chapter says what will train and about how long it takes,
    then shows a progress bar over the stages and Lightning's bar over each one's epochs."""
    import warnings

    from .experiments import Experiment, variant_names

    names = variant_names(variants)
    if not in_colab():
        warnings.filterwarnings("ignore")
        ex = Experiment(preset, runs_dir=runs_dir, progress=False)
        ex.run_all(names)
        return ex
    from tqdm.auto import tqdm

    from .__main__ import _quiet

    _quiet()  # Lightning's start-up chatter off; real warnings stay visible
    if preset == "cpu":
        preset = "colab"
    ex = Experiment(preset, runs_dir=runs_dir, progress=True)
    plan = training_plan(ex, names)
    _announce(ex, names, plan)
    t0 = time.perf_counter()
    trained = [s for s in plan if s != "stage0-clip"]  # stage 0 trains inside the first stage that needs it
    with tqdm(total=len(trained), desc="chapter runs", unit="run", disable=not trained) as bar:
        for name in trained:
            bar.set_postfix_str(name)
            ex.run(name)
            bar.update()
    ex.run_all(names)  # everything is finished now: this only reads the run directories
    if plan:
        print(f"Trained {len(plan)} stage(s) in {time.perf_counter() - t0:.0f} s.", flush=True)
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
        import mathjax  # the django-static-mathjax package: MathJax's own files, no Django needed
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
    from . import __version__

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
    import papermill as pm

    from . import __version__
    from .figures import FIGURES_DIR_ENV

    executed = []
    (stage / "notebooks").mkdir(parents=True, exist_ok=True)
    state, code = _runs_state(ex), _package_state()
    figures_dir = Path(figures_dir or stage.parent / "figures")
    for src in chapters():
        nb_path = src.with_suffix(".ipynb")
        target = stage / "notebooks" / nb_path.name
        stamp = target.with_suffix(".stamp")
        recorded = _bench_state() if "benchmarks" in src.stem else ""  # the appendix shows recorded results
        key = hashlib.sha256(json.dumps([src.read_text(), preset, str(runs_dir), __version__, state, code,
                                         recorded, str(figures_dir)]).encode())
        key = key.hexdigest()
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
        if progress:
            print(f"  executed {src.stem} in {seconds:.1f} s", flush=True)
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
    trained = {}
    for name, r in ex.run_all().items():
        if not r.reused:
            trained[name] = float(r.metrics.get("train_seconds", 0.0))
            if progress:
                print(f"  trained {name} in {trained[name]:.1f} s", flush=True)
    sync_notebooks()
    for f in BOOK_FILES:
        stage.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, stage / f)
    for d in BOOK_DIRS:
        shutil.copytree(ROOT / d, stage / d, dirs_exist_ok=True)
    install_mathjax(stage)
    if progress:
        print("[book] executing chapters with papermill", flush=True)
    execute_chapters(preset, stage, runs_dir, ex, progress, figures_dir=out / "figures")
    write_status_page(stage, preset, trained)
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


# ------------------------------------------------------------------------------------ checking the pages
MAX_TABLE_COLUMNS = 10
MIN_TEXT_PX = 10.0
RAW_LATEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\(?:frac|mathrm|alpha|tau|sum|cos|text)\b")
HASH_NAME = re.compile(r"^[0-9a-f]{16,}(\.\w+)?$")


def book_pages(html: Path) -> list[Path]:
    """The book's own pages (chapters, the intro and the appendix pages), not Sphinx's search or index pages."""
    html = Path(html)
    return sorted(p for p in html.rglob("*.html") if p.parent.name in ("notebooks", "book")
                  and not p.name.endswith(".check.html"))


def page_problems(page: Path) -> list[str]:
    """What a reader would trip over on one rendered page, from its HTML alone: a table wider than
    :data:`MAX_TABLE_COLUMNS` columns, a NaN cell, a figure without a numbered caption or alt text, LaTeX outside
    math, math without the local MathJax, error output; for a chapter, no closing "What this shows"."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(Path(page).read_text(), "html.parser")
    article = soup.find("article") or soup
    name = Path(page).name
    problems = []
    for i, table in enumerate(article.find_all("table"), 1):
        widths = [sum(int(c.get("colspan", 1)) for c in tr.find_all(["td", "th"], recursive=False))
                  for tr in table.find_all("tr")]
        if widths and max(widths) > MAX_TABLE_COLUMNS:
            problems.append(f"{name}: table {i} has {max(widths)} columns (at most {MAX_TABLE_COLUMNS})")
        cells = [c.get_text(strip=True) for c in table.find_all(["td", "th"])]
        if any(c in ("NaN", "nan", "None", "<NA>") for c in cells):
            problems.append(f"{name}: table {i} shows NaN/None where the book prints —")
    for img in article.find_all("img"):
        src = img.get("src", "")
        figure = img.find_parent("figure")
        caption = figure.find("figcaption") if figure else None
        if caption is None or not caption.find(class_="caption-number"):
            problems.append(f"{name}: image {src} has no numbered caption")
        alt = (img.get("alt") or "").strip()
        if not alt or HASH_NAME.match(alt) or alt == Path(src).name:
            problems.append(f"{name}: image {src} has no alt text (alt={alt!r})")
    for node in article.find_all(string=True):
        if node.find_parent(class_=re.compile(r"\bmath\b")) or node.find_parent(["code", "pre", "script", "style"]):
            continue
        if RAW_LATEX.search(node):
            problems.append(f"{name}: raw LaTeX outside math: {node.strip()[:60]!r}")
    has_math = article.find(class_=re.compile(r"\bmath\b")) is not None
    scripts = [s.get("src", "") for s in soup.find_all("script")]
    if has_math and not any(s.split("?")[0].endswith("_static/mathjax/tex-svg.js") for s in scripts):
        problems.append(f"{name}: math on the page but the local MathJax is not loaded ({[s for s in scripts if 'math' in s.lower()]})")
    if any("cdn.jsdelivr" in s and "mathjax" in s.lower() for s in scripts):
        problems.append(f"{name}: MathJax loads from a CDN")
    for out in article.find_all(class_=re.compile(r"stderr")):
        problems.append(f"{name}: error output: {out.get_text(strip=True)[:80]!r}")
    if Path(page).parent.name == "notebooks":
        heads = article.find_all("h2")
        last = heads[-1] if heads else None
        section = last.find_parent("section") if last else None
        words = section.get_text(" ", strip=True) if section else ""
        if last is None or not last.get_text(strip=True).startswith("What this shows") or len(words) < 120:
            problems.append(f"{name}: does not end with a 'What this shows' paragraph")
    return problems


_MEASURE = """
<script>
window.addEventListener('load', function () { setTimeout(function () {
  var article = document.querySelector('article.bd-article') || document.querySelector('article') || document.body;
  var box = article.getBoundingClientRect();
  var out = {column: article.clientWidth, left: box.left, right: box.left + article.clientWidth,
             height: document.documentElement.scrollHeight, tables: [], images: [], math: 0, mathRendered: 0};
  article.querySelectorAll('table').forEach(function (t, i) {
    var r = t.getBoundingClientRect();
    out.tables.push({index: i + 1, width: Math.max(r.width, t.scrollWidth), right: r.right});
  });
  article.querySelectorAll('img').forEach(function (im) {
    var r = im.getBoundingClientRect();
    out.images.push({src: im.getAttribute('src'), width: r.width, right: r.right, natural: im.naturalWidth});
  });
  document.querySelectorAll('span.math, div.math').forEach(function (m) {
    out.math += 1; if (m.querySelector('mjx-container')) { out.mathRendered += 1; }
  });
  var pre = document.createElement('pre'); pre.id = 'mmpaper-check'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 500); });
</script>
"""
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--hide-scrollbars")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("no headless Chromium: apt-get update && apt-get install -y chromium")


def _run_chromium(args: list[str], timeout: int = 120) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)
    return proc.stdout


def measure_page(page: Path, width: int) -> dict:
    """Lay ``page`` out in headless Chromium at ``width`` px and measure its content column, tables, images and
    rendered formulas (a copy of the page with a measuring script, beside it so relative links resolve)."""
    page = Path(page)
    probe = page.with_name(page.stem + ".check.html")
    text = page.read_text()
    probe.write_text(text.replace("</body>", _MEASURE + "</body>") if "</body>" in text else text + _MEASURE)
    try:
        dom = _run_chromium([f"--window-size={width},1200", "--virtual-time-budget=15000", "--dump-dom",
                             probe.resolve().as_uri()])
    finally:
        probe.unlink(missing_ok=True)
    found = re.search(r'<pre id="mmpaper-check">(.*?)</pre>', dom, re.S)
    if not found:
        raise RuntimeError(f"{page.name} at {width} px: Chromium returned no measurement")
    import html as html_lib

    return json.loads(html_lib.unescape(found.group(1)))


def _png_text(path: Path) -> dict:
    from PIL import Image

    with Image.open(path) as im:
        return dict(getattr(im, "text", {}) or {})


def layout_problems(page: Path, width: int, m: dict) -> list[str]:
    """From a measurement: tables and figures wider than the content column, figure text under
    :data:`MIN_TEXT_PX` as rendered (from the font size and width each PNG records), formulas MathJax left raw."""
    name, problems = Path(page).name, []
    for t in m["tables"]:
        if t["width"] > m["column"] + 1 or t["right"] > m["right"] + 1:
            problems.append(f"{name} @ {width}px: table {t['index']} is {t['width']:.0f} px wide, the column "
                            f"{m['column']:.0f} px")
    for im in m["images"]:
        if im["width"] > m["column"] + 1 or im["right"] > m["right"] + 1:
            problems.append(f"{name} @ {width}px: image {im['src']} is {im['width']:.0f} px wide, the column "
                            f"{m['column']:.0f} px")
        source = (Path(page).parent / im["src"]).resolve()
        meta = _png_text(source) if source.suffix == ".png" and source.exists() else {}
        if "mmpaper:min_font_pt" in meta:
            px = float(meta["mmpaper:min_font_pt"]) * im["width"] / (72 * float(meta["mmpaper:width_in"]))
            if px < MIN_TEXT_PX:
                problems.append(f"{name} @ {width}px: figure {im['src']} shows its smallest text at {px:.1f} px "
                                f"(at least {MIN_TEXT_PX:.0f})")
    if m["math"] and m["mathRendered"] < m["math"]:
        problems.append(f"{name} @ {width}px: {m['math'] - m['mathRendered']} of {m['math']} formulas not rendered "
                        f"by MathJax")
    return problems


def browser_check(html: str | Path, shots: str | Path, widths: tuple[int, ...] = (1280, 1920)) -> int:
    """``make book-check``: screenshot every page of the built book at each width in headless Chromium and report
    every table or figure wider than the content column (plus the HTML checks of :func:`page_problems`).
    Returns the number of problems (the make target fails on any)."""
    html, shots = Path(html), Path(shots)
    if not (html / "index.html").exists():
        raise FileNotFoundError(f"no built book in {html}: run make book first")
    shots.mkdir(parents=True, exist_ok=True)
    problems = []
    for page in book_pages(html):
        problems += page_problems(page)
        for width in widths:
            m = measure_page(page, width)
            problems += layout_problems(page, width, m)
            shot = shots / f"{page.parent.name}-{page.stem}-{width}.png"
            height = int(min(max(m["height"], 800), 16000))
            _run_chromium([f"--window-size={width},{height}", f"--screenshot={shot.resolve()}",
                           "--virtual-time-budget=15000", page.resolve().as_uri()])
            print(f"  {page.parent.name}/{page.name} @ {width}px: column {m['column']:.0f} px, "
                  f"{len(m['tables'])} tables, {len(m['images'])} images, {m['mathRendered']}/{m['math']} "
                  f"formulas rendered -> {shot}", flush=True)
    for p in problems:
        print(f"PROBLEM {p}")
    print(f"book-check: {len(problems)} problem(s); screenshots in {shots}")
    return len(problems)
