"""The smoke book as its readers see it, from its HTML (built once per session by the ``smoke_book`` fixture):
tables that fit, numbered captions and alt text, no NaN, no raw LaTeX, no error output, every chapter closing on
"What this shows", figures written by name, the status page, the references. ``make book-check`` measures the
same pages in a browser."""
import json
from pathlib import Path

from bs4 import BeautifulSoup

from mmpaper.book import book_pages, chapters, page_problems
from mmpaper.figures import FIGURES
from mmpaper.plots import MIN_FONT_PT, WIDTH_IN

# chapters with at least this many tables
TABLES = {"01_preliminaries": 2, "02_baselines": 1, "03_four_tower": 2, "04_three_tower": 1, "05_experiments": 5,
          "06_net_matches": 2, "07_visual_search": 1, "08_reproduction_report": 1, "09_benchmarks": 1}


def _soup(page: Path):
    return BeautifulSoup(page.read_text(), "html.parser")


def test_every_page_passes_the_reader_checks(smoke_book):
    html = Path(smoke_book)
    pages = book_pages(html)
    assert {p.stem for p in pages} >= {c.stem for c in chapters()} | {"intro", "references", "status", "data_cards"}
    problems = [p for page in pages for p in page_problems(page)]
    assert not problems, "\n".join(problems)


def test_each_chapter_has_its_tables_and_its_captioned_figures(smoke_book):
    html = Path(smoke_book)
    for src in chapters():
        soup = _soup(html / "notebooks" / f"{src.stem}.html")
        article = soup.find("article")
        assert len(article.find_all("table")) >= TABLES[src.stem], src.stem
        figures = article.find_all("figure")
        expected = sorted(f"fig-{n}" for n, f in FIGURES.items() if f.chapter == src.stem)
        assert sorted(f.get("id") for f in figures) == expected, src.stem
        for fig in figures:
            number = fig.find("figcaption").find(class_="caption-number").get_text(strip=True)
            assert number.startswith("Figure "), (src.stem, number)
            assert fig.find("img").get("alt") == FIGURES[fig["id"][4:]].alt


def test_the_build_writes_every_figure_by_chapter_and_name(smoke_book):
    from PIL import Image

    figures = Path(smoke_book).parents[1] / "figures"
    for spec in FIGURES.values():
        png, svg = figures / f"{spec.file_stem}.png", figures / f"{spec.file_stem}.svg"
        assert png.exists() and svg.exists(), spec.file_stem
        with Image.open(png) as im:
            assert float(im.text["mmpaper:width_in"]) == WIDTH_IN
            assert float(im.text["mmpaper:min_font_pt"]) >= MIN_FONT_PT, spec.name


def test_math_renders_from_the_books_own_mathjax(smoke_book):
    html = Path(smoke_book)
    assert (html / "_static" / "mathjax" / "tex-svg.js").stat().st_size > 1_000_000
    page = (html / "notebooks" / "01_preliminaries.html").read_text()
    assert "_static/mathjax/tex-svg.js" in page and "cdn.jsdelivr.net/npm/mathjax" not in page


def test_reproduction_report_gives_each_claims_words_verdict_and_why(smoke_book):
    text = _soup(Path(smoke_book) / "notebooks" / "08_reproduction_report.html").get_text(" ")
    assert text.count("verdict:") >= 8 and text.count("Why:") >= 8 and text.count("The paper:") >= 8
    assert "claims hold" in text


def test_status_page_reports_each_chapters_execution(smoke_book):
    soup = _soup(Path(smoke_book) / "book" / "status.html")
    rows = {tr.find_all("td")[0].get_text(strip=True): [td.get_text(strip=True) for td in tr.find_all("td")]
            for tr in soup.find("table").find_all("tr") if tr.find_all("td")}
    assert set(rows) == {c.stem for c in chapters()}
    for stem, (_, preset, seconds, executed) in rows.items():
        assert preset == "smoke" and float(seconds) > 0 and executed[:2] == "20", (stem, rows[stem])
    assert "preset smoke" in " ".join(soup.find("article").get_text(" ").split())


def test_references_name_both_papers_and_the_data_sets(smoke_book):
    text = " ".join(_soup(Path(smoke_book) / "book" / "references.html").get_text(" ").split())  # nbsp → space
    for needle in ("Dong Liu", "Esther Lopez Ramos", "2501.07365", "Xinliang Zhu", "Arnab Dhua", "KDD",
                   "Shopping Queries Dataset", "Shopping Queries Image Dataset", "SQID"):
        assert needle.lower() in text.lower(), needle
    assert "Companion text" not in text


def test_second_build_with_nothing_changed_executes_nothing(smoke_book):
    from mmpaper.book import execute_chapters, read_stamp
    from mmpaper.experiments import Experiment

    out = Path(smoke_book).parents[1]
    runs = out.parent / "runs"
    ex = Experiment("smoke", runs_dir=runs, progress=False)
    stamps = {c.stem: read_stamp(out / "src" / "notebooks" / f"{c.stem}.stamp") for c in chapters()}
    assert execute_chapters("smoke", out / "src", runs, ex, progress=False, figures_dir=out / "figures") == []
    assert all(s and s["preset"] == "smoke" for s in stamps.values())
    assert json.dumps(stamps) == json.dumps({c.stem: read_stamp(out / "src" / "notebooks" / f"{c.stem}.stamp")
                                             for c in chapters()})


# ------------------------------------------------------------------------------------ launch buttons (issue 24)
COLAB = "colab.research.google.com"


def _header_links(page: Path) -> list[str]:
    soup = _soup(page)
    header = soup.find(class_="article-header-buttons") or soup
    return [a.get("href", "") for a in header.find_all("a")]


def test_with_no_repository_named_the_book_has_no_buttons_no_install_cell_and_says_how_to_run_locally(smoke_book):
    """The state of a fresh clone: nothing points at any repository, least of all the placeholder."""
    html = Path(smoke_book)
    for page in book_pages(html):
        text = page.read_text()
        assert COLAB not in text and "github.com/mmpaper/mmpaper" not in text, page.name
        assert not [h for h in _header_links(page) if "github.com" in h], page.name
    for src in chapters():
        soup = _soup(html / "notebooks" / f"{src.stem}.html")
        article = soup.find("article")
        note = article.find(class_="admonition")
        assert note and "Run this chapter" in note.get_text() and "names no repository yet" in note.get_text()
        assert f"papermill notebooks/{src.stem}.ipynb" in note.get_text(), src.stem
        assert "REPOSITORY, TAG, COMMIT" not in article.get_text() and "git+" not in article.get_text(), src.stem
        assert "launch-buttons" not in str(soup.find(class_="article-header-buttons")), src.stem


def test_a_pinned_release_renders_colab_buttons_at_the_build_commit(smoke_book, tmp_path):
    """The same executed chapters rendered again with a release pinned (what pin-release writes) and a clean build
    commit: Colab opens each chapter at that commit, the repository and issues buttons point at the repository,
    and the install cell is there with the release. Only the render is repeated (the chapters' execution is the
    smoke book's), which keeps this test to the time of one Jupyter Book run."""
    import importlib
    import shutil

    import nbformat
    import yaml

    from mmpaper.book import launch
    from mmpaper.paths import ROOT

    build = importlib.import_module("mmpaper.book.build")
    url, tag, commit, built = "https://github.com/Someone/mmpaper", "v0.3.0", "a" * 40, "b" * 40
    release = launch.Release(url, tag, commit)
    stage = tmp_path / "src"
    shutil.copytree(Path(smoke_book).parents[1] / "src", stage)
    config = launch.book_config(yaml.safe_load((ROOT / "_config.yml").read_text()), release, built)
    (stage / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    for src in chapters():  # what pin-release does to the sources, done to the executed copies
        target = stage / "notebooks" / f"{src.stem}.ipynb"
        nb = nbformat.read(target, as_version=4)
        for cell in nb.cells:
            cell.source = launch.CELL_LINE.sub(f'REPOSITORY, TAG, COMMIT = "{url}", "{tag}", "{commit}"', cell.source)
        nbformat.write(nb, target)
    build.stage_notes(stage, release, built)
    html = build.render(stage, tmp_path)
    for src in chapters():
        page = html / "notebooks" / f"{src.stem}.html"
        links = _header_links(page)
        assert f"https://{COLAB}/github/Someone/mmpaper/blob/{built}/notebooks/{src.stem}.ipynb" in links, src.stem
        assert url in links and any(h.startswith(f"{url}/issues") for h in links), src.stem
        article = _soup(page).find("article")
        assert f'"{url}", "{tag}", "{commit}"' in article.get_text()        # the install cell, hidden but there
        assert f"installs mmpaper {tag} (commit {commit[:12]})" in article.find(class_="admonition").get_text()
        assert "blob/main" not in page.read_text()
    intro = (html / "book" / "intro.html").read_text()
    assert COLAB not in intro                                                  # a page, not a notebook: no Colab


def test_status_page_lists_the_machine_and_every_declared_packages_version(smoke_book):
    from importlib import metadata

    from mmpaper.book.build import declared_packages

    soup = _soup(Path(smoke_book) / "book" / "status.html")
    text = " ".join(soup.find("article").get_text(" ").split())
    assert "Machine" in text and "CPU cores" in text and "Python " in text and "Built from commit" in text
    tables = soup.find("article").find_all("table")
    versions = {tr.find_all("td")[0].get_text(strip=True): [td.get_text(strip=True) for td in tr.find_all("td")]
                for tr in tables[-1].find_all("tr") if tr.find_all("td")}
    assert set(versions) == set(declared_packages())
    assert versions["torch"][1] == metadata.version("torch") and versions["papermill"][1] == metadata.version("papermill")
    assert all(row[2] != "—" for row in versions.values()), "every declared package has a pin in requirements.lock"


def test_bench_book_warm_rebuild(smoke_book, tmp_path):
    """`benchmarks/bench_book.py --warm-only` on the session's smoke book (here, beside the other tests that read
    it: make test hands each test file to one worker)."""
    import os
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_book

    out = Path(smoke_book).parents[1]
    cache = os.environ.get("MMPAPER_CACHE", str(out.parent / "cache"))  # where the smoke book's world lives
    bench_book.main(["--preset", "smoke", "--warm-only", "--runs-dir", str(out.parent / "runs"), "--cache-dir",
                     cache, "--out", str(out), "--out-dir", str(tmp_path)])
    rows = json.loads((tmp_path / "book-smoke.json").read_text())["rows"]
    assert rows[0]["build"].startswith("warm") and rows[0]["seconds"] > 0
