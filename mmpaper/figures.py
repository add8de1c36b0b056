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

import numpy as np

from . import plots
from .data.download import grocery_ready
from .experiments import Experiment
from .metrics import false_positive_kinds, overlap
from .paper import VARIANTS, VISUAL_VARIANTS, variant_label
from .paths import benchmark_results
from .realphotos import FOR_PRESET, KINDS, RealPhotoExperiment
from .report import tables, views

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


def _alpha(ex: Experiment):
    record = ex.runs_dir / "alpha" / ex.stage_hash("alpha") / "alpha.json"
    if not record.exists():
        raise FileNotFoundError(f"no α search for preset {ex.preset.name!r} in {record}; "
                                f"run: python -m mmpaper run --preset {ex.preset.name} --variant 4tmm-acat")
    alpha = json.loads(record.read_text())
    return plots.alpha_curve(alpha["validation_recall"], alpha["alpha"])


def _three_vs_four(ex: Experiment):
    return plots.three_vs_four_tower(views.three_vs_four_tower(tables.table2(ex)))


def _scaling(ex: Experiment):
    record = benchmark_results() / "scaling.json"
    return plots.scaling_curve(json.loads(record.read_text()) if record.exists() else None)


def _picks(n_total: int, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(n_total, min(n, n_total), replace=False)


def _query_context(ex: Experiment):
    cat = ex.catalog
    return (ex.eval_query_ids(), set(zip(cat.purchases["query_id"], cat.purchases["product_id"])),
            cat.queries.set_index("query_id")["query"])


def retrieved_examples(ex: Experiment, names: list[str], n_queries: int = 3, n_shown: int = 5, seed: int = 1):
    """For a few eval queries, the top products each model retrieves, framed by label; ★ marks a purchase."""
    qids, bought, qtext = _query_context(ex)
    arrays = {n: tables.run_arrays(ex, n) for n in names}
    rows = []
    for row in _picks(len(qids), n_queries, seed):
        for name in names:
            topk, labels = arrays[name][0][row], arrays[name][1][row]
            items = [(int(topk[j]), int(labels[j]), (int(qids[row]), int(topk[j])) in bought) for j in range(n_shown)]
            rows.append((f"“{plots.wrap(qtext[qids[row]], 22, 2)}”\n{variant_label(name)}", items))
    return plots.example_rows(rows, ex.catalog.images, n_shown)


def net_examples(ex: Experiment, name: str = "4tmm-cat", base: str = "bibert", n_queries: int = 3,
                 n_shown: int = 5, seed: int = 3):
    """Net predictions: the best-ranked products of ``name``'s top-k that ``base``'s top-k does not contain.

    Queries are drawn among those whose net predictions include a purchase (when any do), so the figure shows what
    the net-match analysis counts: products only the multimodal model finds."""
    qids, bought, qtext = _query_context(ex)
    topk, labels = tables.run_arrays(ex, name)
    base_topk, _ = tables.run_arrays(ex, base)
    net_rows = [np.flatnonzero(~np.isin(topk[row], base_topk[row])) for row in range(len(qids))]
    has_purchase = [i for i, cols in enumerate(net_rows)
                    if any((int(qids[i]), int(topk[i, c])) in bought for c in cols)]
    pool = np.array(has_purchase if len(has_purchase) >= n_queries else range(len(qids)))
    chosen = pool[_picks(len(pool), n_queries, seed)]
    rows = []
    for row in chosen:
        cols = net_rows[row][:n_shown]
        items = [(int(topk[row, c]), int(labels[row, c]), (int(qids[row]), int(topk[row, c])) in bought)
                 for c in cols]
        ranks = ", ".join(str(int(c) + 1) for c in cols)
        rows.append((f"“{plots.wrap(qtext[qids[row]], 22, 2)}”\n{len(net_rows[row])} net; ranks "
                     f"{plots.wrap(ranks, 22, 2)}", items))
    return plots.example_rows(rows, ex.catalog.images, n_shown)


def overlap_distribution(ex: Experiment, names: list[str]):
    base, _ = tables.run_arrays(ex, "bibert")
    return plots.overlap_distribution({n: overlap(tables.run_arrays(ex, n)[0], base) for n in names}, ex.preset.k)


def false_positive_examples(ex: Experiment, names: list[str], n_photos: int = 2, n_shown: int = 5, seed: int = 0):
    """The photos where image-to-image matching (``names[0]``) puts the most false positives in its top
    ``n_shown``, so the chapter shows the failure the paper is about; each model's top products beside them."""
    cat = ex.catalog
    attrs = cat.products[["category", "colour", "pattern"]].to_numpy()
    rows, _ = tables.visual_arrays(ex, names[0])
    target = cat.photos["product_id"].to_numpy()[rows]
    tops = {n: tables.visual_arrays(ex, n)[1][:, :n_shown] for n in names}
    fp = np.array([(plots.photo_match_kinds(tops[names[0]][i], target[i], attrs) == 2).sum() for i in range(len(rows))])
    rng = np.random.default_rng(seed)
    picks = np.argsort(-fp + 0.01 * rng.random(len(fp)), kind="stable")[:n_photos]
    photos = [{"name": name,
               "text": f"\n+ “{cat.photos['query'].iloc[rows[i]]}”" if name.endswith("4tower") else "",
               "image": cat.photo_images[rows[i]], "target": int(target[i]), "top": tops[name][i]}
              for i in picks for name in names]
    return plots.false_positive_examples(photos, cat.images, attrs, n_shown)


def visual_search_bars(ex: Experiment, names: list[str]):
    return plots.visual_search_bars(tables.visual_table(ex, names), {n: v.label for n, v in VISUAL_VARIANTS.items()})


def real_photo_experiment(ex) -> RealPhotoExperiment:
    """The real-photo runs a figure reads: the chapter section's (``book.open_real_photos``), or, for an
    :class:`Experiment` (``python -m mmpaper figure``), those of its preset's config beside its runs."""
    if isinstance(ex, RealPhotoExperiment):
        return ex
    if isinstance(getattr(ex, "experiment", None), RealPhotoExperiment):
        return ex.experiment
    return RealPhotoExperiment(FOR_PRESET.get(ex.preset.name, "cpu"), runs_dir=ex.runs_dir.parent)


def real_photo_examples(ex, n_photos: int = 3, n_shown: int = 5, seed: int = 0):
    """Test photos of the Grocery Store dataset with each model's top products (seed 0's runs), framed by what
    they are. The photos are drawn at random (``seed``): one among those where the 3-tower has fewer gross false
    positives in its top ``n_shown`` than image-to-image, one where it has more, the rest among all, so the
    figure shows both ways the losses can go. Without the data: a panel saying so and how to fetch it."""
    rp = real_photo_experiment(ex)
    if grocery_ready(rp.data_dir, rp.manifest) is None:
        return plots.absent_data(["The Grocery Store photos are not on this machine, so no photo is shown.",
                                  f"Fetch them with: python -m mmpaper data grocery --dir {rp.data_dir}"])
    runs = {kind: rp.result(kind, 0) for kind in KINDS}
    cat = rp.catalog
    rows = cat.photo_rows("test")
    target = cat.photos["product_id"].to_numpy()[rows]
    tops = {kind: run.topk() for kind, run in runs.items()}
    gross = {kind: false_positive_kinds(t, target, cat.coarse, n_shown)["gross"] for kind, t in tops.items()}
    diff = gross["img2img"] - gross["3tower"]
    rng = np.random.default_rng(seed)
    picks: list[int] = []
    for pool in (np.flatnonzero(diff > 0), np.flatnonzero(diff < 0)) + (np.arange(len(rows)),) * n_photos:
        pool = np.setdiff1d(pool, picks)
        if len(picks) < n_photos and len(pool):
            picks.append(int(rng.choice(pool)))
    labels = {"img2img": "image-to-image", "3tower": "3-tower\n(+ alignment)"}
    names = cat.products["name"].str.replace("-", " ").tolist()
    photos = [{"model": labels[kind], "image": cat.photo_images[rows[i]], "target": int(target[i]),
               "top": tops[kind][i]} for i in picks for kind in KINDS]
    return plots.real_photo_grid(photos, cat.images, names, cat.coarse, n_shown)


_VISUAL_NAMES = list(VISUAL_VARIANTS)
_MULTIMODAL_NAMES = [n for n in VARIANTS if n != "bibert"]


FIGURES: dict[str, BookFigure] = {f.name: f for f in [
    BookFigure("world-tour", "01_preliminaries", "products with their titles and visual-search query photos",
               "Two rows of small product pictures: top, six catalog images with their titles; bottom, six query "
               "photos, each a re-rendered product on another background.",
               lambda ex: plots.world_tour(ex.catalog)),
    BookFigure("baseline-examples", "02_baselines", "what BiBERT and zero-shot CLIP retrieve for three queries",
               "For three eval queries, the first five products BiBERT retrieves and the first five zero-shot CLIP "
               "retrieves, each framed by its label (Exact, Substitute, Complement, Irrelevant); a star marks a "
               "purchase.",
               lambda ex: retrieved_examples(ex, ["bibert", "clip"])),
    BookFigure("alpha-curve", "03_four_tower", "validation recall@100 of α-concat over α",
               "A line of validation recall@100 against α from 0.1 to 0.9, with a dashed vertical line at the "
               "chosen α.", _alpha),
    BookFigure("four-tower-examples", "03_four_tower", "what BiBERT, 4tMM cat and 4tMM joint retrieve",
               "For two eval queries, the first five products of BiBERT, 4tMM cat and 4tMM joint, framed by label; "
               "a star marks a purchase.",
               lambda ex: retrieved_examples(ex, ["bibert", "4tmm-cat", "4tmm-joint"], n_queries=2)),
    BookFigure("three-vs-four-tower", "04_three_tower", "recall@100 of 3tMM against 4tMM, ours and the paper's",
               "Grouped bars of recall@100 for three training settings; in each group 4tMM and 3tMM, ours then "
               "the paper's.", _three_vs_four),
    BookFigure("table2-recall-exact", "05_experiments", "recall@100 and Exact precision of every Table 2 row",
               "Two panels of horizontal bars, one row per Table 2 model: left recall@100, right Exact precision; "
               "in each row our bar above the paper's.",
               lambda ex: plots.recall_precision(tables.table2(ex))),
    BookFigure("table2-label-mix", "05_experiments", "E/S/C/I shares of each model's top-100",
               "Horizontal stacked bars, one per Table 2 model, splitting its top-100 into Exact, Substitute, "
               "Complement and Irrelevant shares.",
               lambda ex: plots.label_mix(tables.table2(ex))),
    BookFigure("overlap", "06_net_matches", "per-query overlap with BiBERT's top-100 (Table 3 as distributions)",
               "Horizontal box plots, one per model, of how many of its top-100 products are also in BiBERT's "
               "top-100 per query.",
               lambda ex: overlap_distribution(ex, _MULTIMODAL_NAMES)),
    BookFigure("net-examples", "06_net_matches", "products 4tMM cat retrieves that BiBERT's top-100 misses",
               "For three eval queries, the best-ranked products in 4tMM cat's top-100 that are not in BiBERT's "
               "top-100, with their rank in 4tMM cat, framed by label; a star marks a purchase.",
               lambda ex: net_examples(ex, "4tmm-cat", "bibert")),
    BookFigure("visual-search-bars", "07_visual_search", "recall, precision and false positives of the visual-search "
               "models",
               "Two panels of grouped bars for image-to-image, 3-tower and 4-tower: left recall@1, @10, @100 and "
               "precision@10; right the false-positive rate and how often the distractor wins.",
               lambda ex: visual_search_bars(ex, _VISUAL_NAMES)),
    BookFigure("false-positives", "07_visual_search", "query photos and what each visual-search model returns",
               "For two query photos, the top five products of each visual-search model, framed green for the "
               "photographed product, blue for an identical look, red for a false positive, grey otherwise.",
               lambda ex: false_positive_examples(ex, _VISUAL_NAMES)),
    BookFigure("real-photo-search", "07_visual_search", "real shopper photos (Grocery Store) and what each model "
               "returns",
               "Rows of real grocery-store photos, each beside the five catalog images that image-to-image matching "
               "and the 3-tower model return for it, framed green for the photographed product, blue for another "
               "product of the same kind and red for a product of another kind; when the data is not on the "
               "machine, a panel saying so and how to fetch it.",
               real_photo_examples),
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
    import matplotlib.pyplot as plt  # the notebook's libraries: only when a chapter shows a figure
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
