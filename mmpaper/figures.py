"""The book's figures by name: what each shows, how it is drawn from run directories, and where it is written.

``python -m mmpaper figure NAME --preset P --out F.png|svg|pdf`` regenerates one figure without executing a
chapter; ``--list`` prints the names. In a chapter, :func:`show` draws a figure, glues it for a
``{glue:figure}`` directive (which gives it its numbered caption and alt text) and, during a book build, also
writes it to ``_build/<preset>/figures/<chapter>-<name>.{png,svg}``: the build tells the chapter where through
the environment variable ``MMPAPER_FIGURES_DIR``, so the chapters keep the two parameters every chapter takes.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import plots

FIGURES_DIR_ENV = "MMPAPER_FIGURES_DIR"
FORMATS = ("png", "svg", "pdf")
DPI = 200  # 7 in × 200 dpi = 1,400 px: sharp when the column shows it at ~750 px on a 2× screen


@dataclass(frozen=True)
class BookFigure:
    name: str
    chapter: str                       # the notebook it appears in, e.g. "05_experiments"
    title: str                         # one line for --list
    alt: str                           # alt text: what the image shows, for a reader who cannot see it
    draw: Callable                     # Experiment -> matplotlib Figure

    @property
    def file_stem(self) -> str:
        return f"{self.chapter}-{self.name}"


def _alpha(ex):
    record = ex.runs_dir / "alpha" / ex.stage_hash("alpha") / "alpha.json"
    if not record.exists():
        raise FileNotFoundError(f"no α search for preset {ex.preset.name!r} in {record}; "
                                f"run: python -m mmpaper run --preset {ex.preset.name} --variant 4tmm-acat")
    alpha = json.loads(record.read_text())
    return plots.alpha_curve(alpha["validation_recall"], alpha["alpha"])


def _table2(ex):
    from .report import table2

    return table2(ex)


def _three_vs_four(ex):
    from .report.views import three_vs_four_tower

    return plots.three_vs_four_tower(three_vs_four_tower(_table2(ex)))


def _scaling(ex):
    from .book import ROOT

    record = ROOT / "benchmarks" / "results" / "scaling.json"
    return plots.scaling_curve(json.loads(record.read_text()) if record.exists() else None)


def _visual_names():
    from .experiments import VISUAL_VARIANTS

    return list(VISUAL_VARIANTS)


def _multimodal_names():
    from .experiments import VARIANTS

    return [n for n in VARIANTS if n != "bibert"]


FIGURES: dict[str, BookFigure] = {f.name: f for f in [
    BookFigure("world-tour", "01_preliminaries", "products with their titles and visual-search query photos",
               "Two rows of small product pictures: top, six catalog images with their titles; bottom, six query "
               "photos, each a re-rendered product on another background.",
               lambda ex: plots.world_tour(ex.catalog)),
    BookFigure("baseline-examples", "02_baselines", "what BiBERT and zero-shot CLIP retrieve for three queries",
               "For three eval queries, the first five products BiBERT retrieves and the first five zero-shot CLIP "
               "retrieves, each framed by its label (Exact, Substitute, Complement, Irrelevant); a star marks a "
               "purchase.",
               lambda ex: plots.retrieved_examples(ex, ["bibert", "clip"])),
    BookFigure("alpha-curve", "03_four_tower", "validation recall@100 of α-concat over α",
               "A line of validation recall@100 against α from 0.1 to 0.9, with a dashed vertical line at the "
               "chosen α.", _alpha),
    BookFigure("four-tower-examples", "03_four_tower", "what BiBERT, 4tMM cat and 4tMM joint retrieve",
               "For two eval queries, the first five products of BiBERT, 4tMM cat and 4tMM joint, framed by label; "
               "a star marks a purchase.",
               lambda ex: plots.retrieved_examples(ex, ["bibert", "4tmm-cat", "4tmm-joint"], n_queries=2)),
    BookFigure("three-vs-four-tower", "04_three_tower", "recall@100 of 3tMM against 4tMM, ours and the paper's",
               "Grouped bars of recall@100 for three training settings; in each group 4tMM and 3tMM, ours then "
               "the paper's.", _three_vs_four),
    BookFigure("table2-recall-exact", "05_experiments", "recall@100 and Exact precision of every Table 2 row",
               "Two panels of horizontal bars, one row per Table 2 model: left recall@100, right Exact precision; "
               "in each row our bar above the paper's.",
               lambda ex: plots.recall_precision(_table2(ex))),
    BookFigure("table2-label-mix", "05_experiments", "E/S/C/I shares of each model's top-100",
               "Horizontal stacked bars, one per Table 2 model, splitting its top-100 into Exact, Substitute, "
               "Complement and Irrelevant shares.",
               lambda ex: plots.label_mix(_table2(ex))),
    BookFigure("overlap", "06_net_matches", "per-query overlap with BiBERT's top-100 (Table 3 as distributions)",
               "Horizontal box plots, one per model, of how many of its top-100 products are also in BiBERT's "
               "top-100 per query.",
               lambda ex: plots.overlap_distribution(ex, _multimodal_names())),
    BookFigure("net-examples", "06_net_matches", "products 4tMM cat retrieves that BiBERT's top-100 misses",
               "For three eval queries, the best-ranked products in 4tMM cat's top-100 that are not in BiBERT's "
               "top-100, with their rank in 4tMM cat, framed by label; a star marks a purchase.",
               lambda ex: plots.net_examples(ex, "4tmm-cat", "bibert")),
    BookFigure("visual-search-bars", "07_visual_search", "recall, precision and false positives of the visual-search "
               "models",
               "Two panels of grouped bars for image-to-image, 3-tower and 4-tower: left recall@1, @10, @100 and "
               "precision@10; right the false-positive rate and how often the distractor wins.",
               lambda ex: plots.visual_search_bars(ex, _visual_names())),
    BookFigure("false-positives", "07_visual_search", "query photos and what each visual-search model returns",
               "For two query photos, the top five products of each visual-search model, framed green for the "
               "photographed product, blue for an identical look, red for a false positive, grey otherwise.",
               lambda ex: plots.false_positive_examples(ex, _visual_names())),
    BookFigure("search-scaling", "09_benchmarks", "exact search time and share of the matmul peak against "
               "catalog size (recorded by make bench)",
               "Two line plots against the number of products on a log scale: left the exact top-100 search "
               "time, right the share of the machine's measured matrix-multiply peak.", _scaling),
]}


def figure(name: str) -> BookFigure:
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; valid: {sorted(FIGURES)} (python -m mmpaper figure --list)")
    return FIGURES[name]


def draw(name: str, ex):
    """The matplotlib figure ``name`` for the experiment ``ex`` (read from its run directories)."""
    return figure(name).draw(ex)


def min_font_pt(fig) -> float:
    """The smallest font of any visible text in ``fig`` (titles, labels, ticks, legends, annotations)."""
    from matplotlib.text import Text

    fig.canvas.draw()  # ticks exist only once drawn
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return float(min(sizes)) if sizes else float("inf")


def save(fig, path: str | Path) -> Path:
    """Write ``fig`` as PNG, SVG or PDF (by the suffix of ``path``). A PNG records its width in inches and its
    smallest font in points (text chunks ``mmpaper:width_in``, ``mmpaper:min_font_pt``), so a check of the
    rendered page can work out the size its text is shown at."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"cannot write figure to {path}: the suffix must be one of {list(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"png": {"mmpaper:width_in": f"{fig.get_figwidth():.3f}", "mmpaper:min_font_pt": f"{min_font_pt(fig):.2f}"},
                "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt]  # no dates: same figure, same bytes
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "mmpaper"}):  # fixed SVG ids: the same figure, the same bytes
        fig.savefig(path, format=fmt, dpi=DPI, metadata=metadata)
    return path


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"mmpaper:width_in": f"{fig.get_figwidth():.3f}",
                                                      "mmpaper:min_font_pt": f"{min_font_pt(fig):.2f}"})
    return buf.getvalue()


def show(name: str, ex):
    """Draw figure ``name`` in a chapter: glue it under its name for ``{glue:figure}`` and, in a book build,
    write ``<chapter>-<name>.png`` and ``.svg`` to the build's figures directory. Returns the figure."""
    import matplotlib.pyplot as plt
    from IPython.display import Image
    from myst_nb import glue

    spec = figure(name)
    fig = spec.draw(ex)
    glue(name, Image(data=png_bytes(fig), format="png"), display=False)
    directory = os.environ.get(FIGURES_DIR_ENV)
    if directory:
        for fmt in ("png", "svg"):
            save(fig, Path(directory) / f"{spec.file_stem}.{fmt}")
    plt.close(fig)
    return fig
