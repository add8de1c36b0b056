"""Checking the built pages as a reader sees them: the HTML checks of every page (tables, NaN cells, captions,
alt text, LaTeX, MathJax, error output, the closing "What this shows") and, in headless Chromium, the layout at
1280 and 1920 px (``python -m mmpaper book-check``; ``make book-check``)."""
from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)

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
    from bs4 import BeautifulSoup  # an optional checking tool (the check extra)

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
    from PIL import Image  # an optional checking tool (the check extra)

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


def browser_check(html: str | Path, shots: str | Path, widths: tuple[int, ...] = (1280, 1920)) -> list[str]:
    """``make book-check``: screenshot every page of the built book at each width in headless Chromium and report
    every table or figure wider than the content column (plus the HTML checks of :func:`page_problems`).
    Returns the problems, one line each (the command fails on any)."""
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
            logger.info(f"  {page.parent.name}/{page.name} @ {width}px: column {m['column']:.0f} px, "
                        f"{len(m['tables'])} tables, {len(m['images'])} images, {m['mathRendered']}/{m['math']} "
                        f"formulas rendered -> {shot}")
    return problems
