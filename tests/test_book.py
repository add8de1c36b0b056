"""The book without building it: chapter sources, figure registry, table views, "What this shows" paragraphs,
calibration section, status page, MathJax and the ``figure`` command. The smoke book's HTML is checked in
``test_book_html.py``."""
import json
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from mmpaper.book import chapters  # noqa: E402

GLUE_FIGURE = re.compile(r"```\{glue:figure\} (?P<name>\S+)\n(?P<options>(?::\w+:.*\n)+)\n(?P<caption>(?:.+\n)+?)```")


def _cells(src):
    import jupytext

    return jupytext.read(src).cells


def test_ipynb_twins_match_their_py_sources():
    for src in chapters():
        twin = json.loads(src.with_suffix(".ipynb").read_text())
        assert [c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in twin["cells"]] == \
            [c.source for c in _cells(src)], f"{src.name}: run `python -c 'from mmpaper.book import sync_notebooks; sync_notebooks()'`"


def test_first_code_cell_is_tagged_parameters_after_the_colab_cell():
    for src in chapters():
        code = [c for c in _cells(src) if c.cell_type == "code"]
        assert "hide-output" in code[0].metadata.get("tags", []) and "google.colab" in code[0].source
        assert "parameters" in code[1].metadata.get("tags", []) and 'preset = "cpu"' in code[1].source


def test_chapters_open_with_text_and_hide_their_set_up():
    """The rendered page starts with the chapter's title and text; set-up code is hidden or removed, the
    parameters stay visible, and visible code lines fit the column."""
    for src in chapters():
        cells = _cells(src)
        assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# "), src.name
        code = [c for c in cells if c.cell_type == "code"]
        assert {"hide-input", "remove-input", "remove-cell"} & set(code[0].metadata.get("tags", [])), src.name
        assert not {"hide-input", "remove-input"} & set(code[1].metadata.get("tags", [])), src.name
        setup = code[2]
        assert "remove-input" in setup.metadata.get("tags", []), f"{src.name}: the set-up cell shows its code"
        for cell in code[1:]:
            if not {"hide-input", "remove-input", "remove-cell"} & set(cell.metadata.get("tags", [])):
                long = [line for line in cell.source.splitlines() if len(line) > 88]
                assert not long, f"{src.name}: visible code line over 88 characters: {long[0]!r}"


def test_every_chapter_ends_with_what_this_shows_from_the_narrative():
    for src in chapters():
        cells = _cells(src)
        assert cells[-2].cell_type == "markdown" and cells[-2].source.strip() == "## What this shows", src.name
        assert cells[-1].cell_type == "code" and "narrative." in cells[-1].source, src.name
        assert "remove-input" in cells[-1].metadata.get("tags", []), src.name


def test_every_figure_directive_names_a_registry_figure_with_alt_caption_and_label():
    from mmpaper.figures import FIGURES

    seen = {}
    for src in chapters():
        text = "\n".join(c.source for c in _cells(src) if c.cell_type == "markdown")
        code = "\n".join(c.source for c in _cells(src) if c.cell_type == "code")
        assert "{glue:figure}" not in GLUE_FIGURE.sub("", text), f"{src.name}: a glue:figure the test cannot parse"
        for m in GLUE_FIGURE.finditer(text):
            name = m["name"]
            options = dict(re.findall(r":(\w+): (.*)", m["options"]))
            assert name in FIGURES and FIGURES[name].chapter == src.stem, (src.name, name)
            assert options.get("alt") == FIGURES[name].alt, f"{name}: the alt text differs from the registry's"
            assert options.get("name") == f"fig-{name}", name
            assert "Look at" in m["caption"], f"{name}: the caption does not say what to look at"
            assert f'figures.show("{name}"' in code, f"{src.name} glues {name} without drawing it"
            seen[name] = seen.get(name, 0) + 1
    assert seen == {name: 1 for name in FIGURES}, "every registry figure appears in its chapter exactly once"


# ------------------------------------------------------------------------------------------------ figures
def test_save_records_width_and_smallest_font_and_refuses_unknown_formats(tmp_path):
    import matplotlib.pyplot as plt
    from PIL import Image

    from mmpaper.figures import min_font_pt, save

    fig, ax = plt.subplots(figsize=(7, 3))
    ax.set_title("title", fontsize=12)
    ax.set_xlabel("x", fontsize=9)
    ax.tick_params(labelsize=11)
    assert min_font_pt(fig) == 9.0
    with Image.open(save(fig, tmp_path / "f.png")) as im:
        assert im.text["mmpaper:width_in"] == "7.000" and im.text["mmpaper:min_font_pt"] == "9.00"
        assert im.size[0] == 7 * 200
    assert (save(fig, tmp_path / "f.svg")).read_text().lstrip().startswith("<?xml")
    one, two = save(fig, tmp_path / "a.svg").read_bytes(), save(fig, tmp_path / "b.svg").read_bytes()
    assert one == two, "the same figure gives the same SVG bytes (no date in it)"
    with pytest.raises(ValueError, match=r"f\.gif.*suffix"):
        save(fig, tmp_path / "f.gif")
    plt.close(fig)


def test_figure_fonts_are_readable_in_the_narrowest_column_the_book_allows():
    from mmpaper import plots

    # font px = pt * column / (72 * width): the smallest font at the narrowest column is exactly 10 px
    assert plots.MIN_FONT_PT * plots.MIN_COLUMN_PX / (72 * plots.WIDTH_IN) == pytest.approx(10.0)


def test_scaling_figure_from_a_record_and_without_one():
    from mmpaper import plots
    from mmpaper.figures import min_font_pt

    record = {"rows": [{"products": p, "queries": 64, "d": 256, "seconds": p / 1e5,
                        "fraction_of_matmul_peak": 0.5} for p in (1_000, 10_000)]}
    for fig in (plots.scaling_curve(record), plots.scaling_curve(None)):
        assert fig.get_figwidth() == plots.WIDTH_IN and min_font_pt(fig) >= plots.MIN_FONT_PT


# -------------------------------------------------------------------------------------------- table views
def _t2():
    """A hand-made Table 2 (what report.table2 returns) with three rows; the paper has no S value for one."""
    rows = {"bibert": dict(zip(["R@100", "E", "S", "C", "I"], [40.0, 50.0, 30.0, 5.0, 15.0])),
            "clip": dict(zip(["R@100", "E", "S", "C", "I"], [20.0, 45.0, 30.0, 5.0, 20.0])),
            "4tmm-cat": dict(zip(["R@100", "E", "S", "C", "I"], [45.0, 52.0, 28.0, 5.0, 15.0]))}
    paper = {"bibert": [78.1, 52.7, 30.3, 2.4, 13.6], "clip": [46.0, 45.4, 26.5, 2.7, 25.4],
             "4tmm-cat": [78.6, 52.5, np.nan, 2.4, 14.0]}
    for name, values in paper.items():
        rows[name].update({f"paper {c}": v for c, v in zip(["R@100", "E", "S", "C", "I"], values)})
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("variant")


def test_table2_view_pairs_ours_and_the_papers_rows_with_percent_headers_and_dashes():
    from mmpaper.report import views

    v = views.table2(_t2())
    assert list(v.columns) == ["R@100 %", "E %", "S %", "C %", "I %"]
    assert v.shape[1] + v.index.nlevels <= views.MAX_COLUMNS
    assert v.loc[("BiBERT", "ours"), "R@100 %"] == "40.0" and v.loc[("BiBERT", "paper"), "R@100 %"] == "78.1"
    assert v.loc[("4tMM cat", "paper"), "S %"] == "—"
    d = views.table2_delta(_t2())
    assert d.loc[("4tMM cat", "ours"), "ΔR@100 (% pts)"] == "+5.0"     # 45 - 40
    assert d.loc[("4tMM cat", "paper"), "ΔR@100 (% pts)"] == "+0.5"    # 78.6 - 78.1
    assert d.loc[("4tMM cat", "paper"), "ΔS (% pts)"] == "—"
    assert "BiBERT" not in d.index.get_level_values(0)


def test_table3_marks_the_papers_row_labels_as_inferred_and_table4_keeps_both_net_recalls():
    from mmpaper.report import views

    t3 = pd.DataFrame({"mean": [10.0, 40.0], "std": [3.0, 5.0], "paper mean": [15, np.nan],
                       "paper std": [15, np.nan]}, index=pd.Index(["clip", "3tmm-joint"], name="variant"))
    v3 = views.table3(t3)
    assert list(v3["paper's row label"]) == ["inferred", "—"] and v3.loc["3tMM MLP (joint)", "paper mean"] == "—"
    t4 = pd.DataFrame({"net mean": [84.2], "net std": [15.1], "net R@100 (of missed)": [10.0],
                       "net R@100 (of all)": [3.0], "net E": [39.0], "net S": [31.0], "net C": [3.0],
                       "net I": [27.0], "paper net mean": [84], "paper net std": [15], "paper net R@100": [10.1],
                       "paper net E": [39.1], "paper net S": [31.5], "paper net C": [3.0], "paper net I": [31.5]},
                      index=pd.Index(["clip"], name="variant"))
    v4 = views.table4(t4)
    assert v4.shape[1] + v4.index.nlevels <= views.MAX_COLUMNS
    assert v4.loc[("CLIP (zero-shot)", "ours"), "net per query"] == "84 ± 15"
    assert v4.loc[("CLIP (zero-shot)", "paper"), "net R@100 (of missed) %"] == "10.1"  # beside the first reading
    assert v4.loc[("CLIP (zero-shot)", "paper"), "net R@100 (of all) %"] == "—"
    assert v4.loc[("CLIP (zero-shot)", "ours"), "net R@100 (of all) %"] == "3.0"


def test_a_view_wider_than_ten_columns_is_refused():
    from mmpaper.report import views

    with pytest.raises(ValueError, match="11 columns"):
        views._check_width(pd.DataFrame(np.zeros((1, 10))))


# ----------------------------------------------------------------------------------------------- claims
def test_claim_records_read_the_claims_table():
    from mmpaper.report import narrative, views

    parts = pd.DataFrame([  # the shape of mmpaper.report.judge.evaluate_claims: one row per part of a claim
        {"claim_id": "c1", "claim": "CLIP alone ...", "part": "far lower recall", "quantity": "R(bibert) − R(clip)",
         "unit": "points", "rule": "above 10 points", "effect": 14.9, "ci_low": 12.0, "ci_high": 17.5,
         "verdict": "holds", "claim_verdict": "does not hold", "paper": "+32.1", "paper_meets_rule": "yes"},
        {"claim_id": "c1", "claim": "CLIP alone ...", "part": "high E+S", "quantity": "ES(clip) / ES(bibert)",
         "unit": "ratio", "rule": "above 0.8", "effect": 0.5, "ci_low": 0.4, "ci_high": 0.6,
         "verdict": "does not hold", "claim_verdict": "does not hold", "paper": "+0.87", "paper_meets_rule": "yes"}])
    [rec] = views.claim_records(parts)
    assert rec["verdict"] == "does not hold" and [p["verdict"] for p in rec["parts"]] == ["holds", "does not hold"]
    assert views.effect_text(rec["parts"][0]) == "+14.9 (95% interval +12.0 to +17.5)"
    text = narrative.claim_sections(parts)
    assert "Ours: +14.9 (95% interval +12.0 to +17.5); the paper: +32.1, which meets the rule — holds." in text
    # ratios keep three significant digits: 0.5 is +0.500, never rounded to +0.5 or +1
    assert "*Why:* the 95% interval of “high E+S” (+0.500 (95% interval +0.400 to +0.600)) lies wholly outside" \
        in text
    assert "1 of 2 parts hold" in text
    assert views.claims_summary(parts).loc[1, "this world"] == "does not hold"
    two = pd.concat([parts, parts.assign(claim_id="c2", claim="B", verdict="holds", claim_verdict="holds")])
    summary = narrative.reproduction_text(two, "smoke")
    assert summary.startswith("On preset `smoke`, 1 of 2 judged claims hold, 1 do not hold and 0 are inconclusive")


# ------------------------------------------------------------------------------------ what this shows
def test_baselines_paragraph_follows_the_numbers():
    from mmpaper.report import narrative

    t2 = _t2()
    text = narrative.baselines_text(t2)
    # E+S: BiBERT 50+30 = 80.0, CLIP 45+30 = 75.0 (≥ 0.8 × 80): CLIP relevant, lower recall, as in the paper
    assert "BiBERT finds 40.0%" in text and "80.0%" in text and "75.0%" in text and "As in the paper, CLIP" in text
    t2.loc["clip", "R@100"] = 55.0
    assert "Unlike the paper, CLIP alone matches or beats BiBERT" in narrative.baselines_text(t2)


def test_experiments_paragraph_counts_rows_moving_the_papers_way():
    from mmpaper.report import narrative

    t2 = _t2()
    # 4tmm-cat: ours +5.0, paper +0.5 (under the 0.5-point tie both ways? paper +0.5 is not < 0.5) -> same sign
    assert narrative.experiments_text(t2).startswith("Of the 1 multimodal rows, 1 move recall@100")
    t2.loc["4tmm-cat", "R@100"] = 30.0  # ours now -10
    assert narrative.experiments_text(t2).startswith("Of the 1 multimodal rows, 0 move recall@100")


def test_no_number_is_typed_into_the_narrative():
    """Every digit in narrative.py's sentences comes from a formatted value: the module's string literals hold no
    number (format specs and thresholds in code are not sentences)."""
    import ast
    import inspect

    from mmpaper.report import narrative

    for node in ast.walk(ast.parse(inspect.getsource(narrative))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) > 12:
            names = re.sub(r"Tables? \d( and \d)?|\b[34]t(mm|MM)|R@\d+|recall@\d+|top-\d+|\b[34]-tower|best of 3|95% interval|@", "", node.value)
            assert not re.search(r"\d", names), node.value


# ------------------------------------------------------------------------------------------- calibration
CALIBRATION = {
    "preset": "cpu", "status": "calibrated", "created": "2026-11-22", "machine": "2-core CPU",
    "targets": {"bibert": {"R@100": 78.1, "E": 52.7, "S": 30.3, "C": 2.4, "I": 13.6},
                "clip": {"R@100": 46.0, "E": 45.4, "S": 26.5, "C": 2.7, "I": 25.4},
                "purchases_per_query": {"train": 5.5, "eval": 3.9}},
    "tolerance": {"R@100": 5, "E": 6, "S": 6, "C": 3, "I": 5},
    "seeds": [0, 1, 2],
    "achieved": {s: {"bibert": {"R@100": 76.0 + i, "E": 50.0, "S": 31.0, "C": 2.0, "I": 14.0},
                     "clip": {"R@100": 44.0, "E": 46.0, "S": 27.0, "C": 3.0, "I": 24.0 + 7 * (i == 2)},
                     "purchases_per_query": {"train": 5.4, "eval": 4.0}} for i, s in enumerate("012")},
    "within_tolerance": {"0": True, "1": True, "2": False},
    "chosen": {"title_colour_rate": 0.4, "popularity": 1.5}, "search": {"method": "optuna TPE", "n_trials": 24,
                                                                        "space": {}},
    "trials": [{"number": 0, "params": {}, "distance": 1.0, "seconds": 60.0}], "seconds": 1800.0}


def test_calibration_table_shows_targets_against_each_seed_and_marks_misses(tmp_path):
    from mmpaper.report import records, views

    (tmp_path / "calibration_cpu.json").write_text(json.dumps(CALIBRATION))
    record = records.load_calibration("cpu", tmp_path)
    t = views.calibration_table(record)
    assert list(t.columns) == ["target", "tolerance ±", "seed 0", "seed 1", "seed 2"]
    assert t.loc[("BiBERT", "R@100 %"), "seed 2"] == "78.0"                 # 76 + 2, within ±5 of 78.1
    assert t.loc[("CLIP (zero-shot)", "I %"), "seed 2"] == "31.0 ✗"          # 24 + 7, |31 - 25.4| > 5
    assert t.loc[("CLIP (zero-shot)", "I %"), "seed 1"] == "24.0"
    assert t.loc[("Table 1 shape", "purchases per query (train)"), "target"] == "5.5"
    assert records.load_calibration("gpu", tmp_path) is None
    (tmp_path / "calibration_bad.json").write_text("{")
    with pytest.raises(ValueError, match="calibration_bad.json: not valid JSON"):
        records.load_calibration("bad", tmp_path)


def test_calibration_text_says_not_yet_calibrated_when_absent_or_so_marked():
    from mmpaper.report import narrative

    assert narrative.calibration_text(None, "gpu").startswith("**Not yet calibrated.**")
    pending = dict(CALIBRATION, status="not yet calibrated")
    assert narrative.calibration_text(pending, "cpu").startswith("**Not yet calibrated.**")
    done = narrative.calibration_text(CALIBRATION, "cpu")
    assert "2 of 3 seeds land within tolerance" in done and "optuna TPE over 24" in done and "30 minutes" in done
    table1 = pd.DataFrame({"pairs": [550, 390], "queries": [100, 100], "products": [300, 1000]},
                          index=pd.Index(["train", "eval"], name="split"))
    text = narrative.preliminaries_text(table1, CALIBRATION, "cpu")
    assert "5.5 purchases per distinct query" in text and "2 of 3 seeds" in text
    assert "not yet calibrated" in narrative.preliminaries_text(table1, None, "cpu")


# ------------------------------------------------------------------------------- status page and MathJax
def test_status_page_reads_what_the_build_recorded(tmp_path):
    from mmpaper.book import write_status_page

    (tmp_path / "notebooks").mkdir()
    first = chapters()[0].stem
    (tmp_path / "notebooks" / f"{first}.stamp").write_text(json.dumps(
        {"key": "k", "seconds": 12.345, "preset": "smoke", "executed_at": "2026-11-22 10:00:00"}))
    page = write_status_page(tmp_path, "smoke", {"bibert": 3.0}).read_text()
    assert f"| {first} | smoke | 12.3 | 2026-11-22 10:00:00 |" in page
    assert f"| {chapters()[1].stem} | — | — | — |" in page
    assert "preset **`smoke`**" in page and "1 run(s) trained in this build (3 s in all)" in page


def test_mathjax_is_copied_into_the_book_from_the_installed_package(tmp_path):
    from mmpaper.book import install_mathjax

    target = install_mathjax(tmp_path)
    assert (target / "tex-svg.js").stat().st_size > 1_000_000 and (target / "input" / "tex" / "extensions").is_dir()
    import yaml
    from mmpaper.paths import ROOT

    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert config["mathjax_path"] == "mathjax/tex-svg.js" and "_mathjax" in config["html_static_path"]
    assert target == tmp_path / "_mathjax" / "mathjax"


# ---------------------------------------------------------------------------------------- the CLI
def test_figure_command_lists_names_and_rejects_bad_ones(capsys):
    from mmpaper.cli import main
    from mmpaper.figures import FIGURES

    assert main(["figure", "--list", "--preset", "smoke"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in FIGURES)
    assert main(["figure", "no-such-figure", "--preset", "smoke"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mmpaper: error: figure: unknown figure 'no-such-figure'") and "\n" not in err
    assert main(["figure", "overlap", "--out", "x.gif", "--preset", "smoke"]) == 2
    assert "must end in one of" in capsys.readouterr().err


def test_every_markdown_table_row_is_one_line():
    """A table row broken over two lines renders as a paragraph (the data card's purchases row once did)."""
    from mmpaper.paths import ROOT

    for page in [*sorted((ROOT / "book").glob("*.md")), *sorted((ROOT / "data_cards").glob("*.md"))]:
        lines = page.read_text().splitlines()
        in_table = False
        for i, line in enumerate(lines):
            if line.startswith("|"):
                in_table = True
                assert line.rstrip().endswith("|"), f"{page.name}:{i + 1}: a table row that does not end its line"
            elif in_table:
                assert not line.strip() or not line.startswith((" ", "\t")), f"{page.name}:{i + 1}: a row's tail"
                in_table = False


def test_the_intro_links_every_chapter_and_the_glossary():
    from mmpaper.paths import ROOT

    intro = (ROOT / "book" / "intro.md").read_text()
    for chapter in chapters():
        assert f"{{doc}}`../notebooks/{chapter.stem}`" in intro, chapter.stem
    assert "{doc}`glossary`" in intro and "_generated/at_a_glance.md" in intro
