"""The book on the smoke preset: every chapter executes, and the HTML has every chapter, table and figure."""
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from mmpaper.book import chapters


def test_ipynb_twins_match_their_py_sources(tmp_path):
    import jupytext

    for src in chapters():
        twin = json.loads(src.with_suffix(".ipynb").read_text())
        nb = jupytext.read(src)
        assert [c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in twin["cells"]] == \
            [c.source for c in nb.cells], f"{src.name}: run `python -c 'from mmpaper.book import sync_notebooks; sync_notebooks()'`"


def test_first_code_cell_is_tagged_parameters_after_the_colab_cell():
    import jupytext

    for src in chapters():
        code = [c for c in jupytext.read(src).cells if c.cell_type == "code"]
        assert "hide-output" in code[0].metadata.get("tags", []) and "google.colab" in code[0].source
        assert "parameters" in code[1].metadata.get("tags", []) and 'preset = "cpu"' in code[1].source


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables = self.images = 0
        self.errors = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tables += tag == "table"
        self.images += tag == "img" and "_images/" in (attrs.get("src") or "")
        if "output" in (attrs.get("class") or "") and "stderr" in (attrs.get("class") or ""):
            self.errors.append(attrs.get("class"))


# chapters with at least this many tables and figures in their HTML
EXPECTED = {"01_preliminaries": (2, 1), "02_baselines": (1, 1), "03_four_tower": (1, 2), "04_three_tower": (1, 1),
            "05_experiments": (3, 2), "06_net_matches": (2, 2), "07_visual_search": (2, 2),
            "08_reproduction_report": (1, 0)}


def test_smoke_book_has_every_chapter_table_and_figure(smoke_book):
    html = Path(smoke_book)
    assert (html / "index.html").exists()
    for name, (n_tables, n_figures) in EXPECTED.items():
        page = html / "notebooks" / f"{name}.html"
        assert page.exists(), name
        text = page.read_text()
        parser = _Page()
        parser.feed(text)
        assert parser.tables >= n_tables, (name, parser.tables)
        assert parser.images >= n_figures, (name, parser.images)
        assert "Traceback" not in text and not re.search(r"\b\w+Error\b: ", text), name
    assert (html / "book" / "data_cards.html").exists() and (html / "book" / "references.html").exists()
    report = (html / "notebooks" / "08_reproduction_report.html").read_text()
    assert "claims hold on our world" in report


def test_second_build_with_nothing_changed_executes_nothing(smoke_book, tmp_path):
    from mmpaper.book import execute_chapters
    from mmpaper.experiments import Experiment

    out = Path(smoke_book).parents[1]
    runs = out.parent / "runs"
    ex = Experiment("smoke", runs_dir=runs, progress=False)
    assert execute_chapters("smoke", out / "src", runs, ex, progress=False) == []
