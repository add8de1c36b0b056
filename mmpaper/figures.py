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
from .paper import MULTIMODAL, VARIANTS, VISUAL_VARIANTS, variant_label
from .paths import benchmark_results
from .realphotos import FOR_PRESET, KINDS, RealPhotoExperiment
from .report import ensemble, records, tables, views

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


def choose(score: np.ndarray, eligible: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """The ``n`` eligible rows with the highest score (ties by row), and how many rows were eligible. When fewer
    than ``n`` are, the best of the rest fill in, and the figure says so."""
    score, eligible = np.asarray(score, dtype=float), np.asarray(eligible, dtype=bool)
    order = np.lexsort((np.arange(len(score)), -score, ~eligible))  # eligible first, then by score, then by row
    return order[:n], int(eligible.sum())


def _shortfall(found: int, n: int, what: str) -> str:
    return "" if found >= n else f"only {found} eval {what} meet the criterion; the rest are the closest"


def _query_context(ex: Experiment):
    cat = ex.catalog
    return (ex.eval_query_ids(), set(zip(cat.purchases["query_id"], cat.purchases["product_id"])),
            cat.queries.set_index("query_id")["query"])


def _bought_matrix(topk: np.ndarray, qids: np.ndarray, bought: set) -> np.ndarray:
    return np.array([[(int(q), int(p)) in bought for p in row] for q, row in zip(qids, topk)], dtype=bool)


def _rows(qids, qtext, chosen, names, arrays, bought, n_shown):
    rows = []
    for row in chosen:
        for name in names:
            topk, labels = arrays[name][0][row], arrays[name][1][row]
            items = [(int(topk[j]), int(labels[j]), (int(qids[row]), int(topk[j])) in bought) for j in range(n_shown)]
            rows.append((f"“{plots.wrap(qtext[qids[row]], 22, 2)}”\n{variant_label(name)}", items))
    return rows


def baseline_example_rows(ex: Experiment, n_queries: int = 3, n_shown: int = 5):
    """Eval queries that ask for a colour, where BiBERT's first five hold a purchase (★) and zero-shot CLIP's hold
    Exact products (the right kind in the asked colour) but no purchase; most CLIP Exact first. Returns the rows
    the figure draws and the note it shows when too few queries meet the criterion."""
    qids, bought, qtext = _query_context(ex)
    arrays = {n: tables.run_arrays(ex, n) for n in ("bibert", "clip")}
    asks = ex.catalog.queries.set_index("query_id").loc[qids, "colour"].to_numpy() >= 0
    top = {n: arrays[n][0][:, :n_shown] for n in arrays}
    bibert_buys = _bought_matrix(top["bibert"], qids, bought).any(1)
    clip_buys = _bought_matrix(top["clip"], qids, bought).any(1)
    clip_exact = (arrays["clip"][1][:, :n_shown] == 0).sum(1)
    chosen, found = choose(clip_exact, asks & bibert_buys & ~clip_buys & (clip_exact > 0), n_queries)
    return _rows(qids, qtext, chosen, ["bibert", "clip"], arrays, bought, n_shown), \
        _shortfall(found, n_queries, "queries")


def baseline_examples(ex: Experiment, n_queries: int = 3, n_shown: int = 5):
    rows, note = baseline_example_rows(ex, n_queries, n_shown)
    return plots.example_rows(rows, ex.catalog.images, n_shown, note)


def four_tower_example_rows(ex: Experiment, n_queries: int = 2, n_shown: int = 5):
    """Eval queries where 4tMM joint's first five hold more Exact products than BiBERT's and a purchase (★) is
    among the first five of one of the three rows; the largest gain in Exact first. Rows and note, as above."""
    names = ["bibert", "4tmm-cat", "4tmm-joint"]
    qids, bought, qtext = _query_context(ex)
    arrays = {n: tables.run_arrays(ex, n) for n in names}
    exact = {n: (arrays[n][1][:, :n_shown] == 0).sum(1) for n in names}
    any_buy = np.any([_bought_matrix(arrays[n][0][:, :n_shown], qids, bought).any(1) for n in names], axis=0)
    gain = exact["4tmm-joint"] - exact["bibert"]
    chosen, found = choose(gain, (gain > 0) & any_buy, n_queries)
    return _rows(qids, qtext, chosen, names, arrays, bought, n_shown), _shortfall(found, n_queries, "queries")


def four_tower_examples(ex: Experiment, n_queries: int = 2, n_shown: int = 5):
    rows, note = four_tower_example_rows(ex, n_queries, n_shown)
    return plots.example_rows(rows, ex.catalog.images, n_shown, note)


def net_example_rows(ex: Experiment, name: str = "4tmm-cat", base: str = "bibert", n_queries: int = 3,
                     n_shown: int = 5):
    """Net predictions: the best-ranked products of ``name``'s top-k that ``base``'s top-k does not contain, for
    eval queries where a purchase (★) is among those first ``n_shown`` net predictions (most such purchases first),
    so the figure shows what the net-match analysis counts: products only the multimodal model finds."""
    qids, bought, qtext = _query_context(ex)
    topk, labels = tables.run_arrays(ex, name)
    base_topk, _ = tables.run_arrays(ex, base)
    net_rows = [np.flatnonzero(~np.isin(topk[row], base_topk[row])) for row in range(len(qids))]
    shown_buys = np.array([sum((int(qids[i]), int(topk[i, c])) in bought for c in cols[:n_shown])
                           for i, cols in enumerate(net_rows)])
    chosen, found = choose(shown_buys, shown_buys > 0, n_queries)
    rows = []
    for row in chosen:
        cols = net_rows[row][:n_shown]
        items = [(int(topk[row, c]), int(labels[row, c]), (int(qids[row]), int(topk[row, c])) in bought)
                 for c in cols]
        ranks = ", ".join(str(int(c) + 1) for c in cols)
        rows.append((f"“{plots.wrap(qtext[qids[row]], 22, 2)}”\n{len(net_rows[row])} net; ranks "
                     f"{plots.wrap(ranks, 22, 2)}", items))
    return rows, _shortfall(found, n_queries, "queries")


def net_examples(ex: Experiment, name: str = "4tmm-cat", base: str = "bibert", n_queries: int = 3,
                 n_shown: int = 5):
    rows, note = net_example_rows(ex, name, base, n_queries, n_shown)
    return plots.example_rows(rows, ex.catalog.images, n_shown, note)


def effects(ex: Experiment, metrics: tuple[str, ...]):
    """The multimodal rows minus BiBERT (CLIP, a calibrated baseline 30 points away, would squash their scale)."""
    e = tables.effects_vs_bibert(ex)
    return plots.effects_vs_bibert(e[e["variant"].isin(MULTIMODAL)], metrics)


def overlap_distribution(ex: Experiment, names: list[str]):
    base, _ = tables.run_arrays(ex, "bibert")
    return plots.overlap_distribution({n: overlap(tables.run_arrays(ex, n)[0], base) for n in names}, ex.preset.k)


def false_positive_examples(ex: Experiment, names: list[str], n_photos: int = 2, n_shown: int = 5):
    """The eval photos where the 3-tower (``names[1]``) removes the most false positives from image-to-image's
    (``names[0]``) first ``n_shown``, so the figure shows the failure the paper is about and the fix it claims;
    each model's top products beside them."""
    cat = ex.catalog
    attrs = cat.products[["category", "colour", "pattern"]].to_numpy()
    rows, _ = tables.visual_arrays(ex, names[0])
    target = cat.photos["product_id"].to_numpy()[rows]
    tops = {n: tables.visual_arrays(ex, n)[1][:, :n_shown] for n in names}
    fp = {n: np.array([(plots.photo_match_kinds(tops[n][i], target[i], attrs) == 2).sum() for i in range(len(rows))])
          for n in names[:2]}
    removed = fp[names[0]] - fp[names[1]]
    picks, found = choose(removed, removed > 0, n_photos)
    photos = [{"name": name,
               "text": f"\n+ “{cat.photos['query'].iloc[rows[i]]}”" if name.endswith("4tower") else "",
               "image": cat.photo_images[rows[i]], "target": int(target[i]), "top": tops[name][i]}
              for i in picks for name in names]
    return plots.false_positive_examples(photos, cat.images, attrs, n_shown)


def visual_search_bars(ex: Experiment, names: list[str]):
    return plots.visual_search_bars(tables.visual_table(ex, names), {n: v.label for n, v in VISUAL_VARIANTS.items()})


def verdict_grid(ex: Experiment):
    """The claims × worlds grid of the recorded ensemble of baseline-consistent worlds."""
    record = records.load_robustness(ex.preset.name)
    grid = ensemble.claim_verdicts(record) if record else None
    return plots.verdict_grid(grid, ensemble.world_labels(record) if record else None)


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
               "Two rows of small product pictures: top, six catalog images with their titles; bottom, three query "
               "photos, each beside the catalog image of the product it is a photo of.",
               lambda ex: plots.world_tour(ex.catalog)),
    BookFigure("baseline-examples", "02_baselines", "what BiBERT and zero-shot CLIP retrieve for three queries",
               "For three eval queries that ask for a colour, the first five products BiBERT retrieves (a purchase "
               "among them, marked with a star) and the first five zero-shot CLIP retrieves (Exact products, no "
               "purchase), each framed by its label.",
               lambda ex: baseline_examples(ex)),
    BookFigure("alpha-curve", "03_four_tower", "validation recall@100 of α-concat over α",
               "A line of validation recall@100 against α from 0.1 to 0.9, with a dashed vertical line at the "
               "chosen α.", _alpha),
    BookFigure("four-tower-examples", "03_four_tower", "what BiBERT, 4tMM cat and 4tMM joint retrieve",
               "For two eval queries where 4tMM joint's first five hold more Exact products than BiBERT's, the first "
               "five products of BiBERT, 4tMM cat and 4tMM joint, framed by label; a star marks a purchase.",
               lambda ex: four_tower_examples(ex)),
    BookFigure("three-vs-four-tower", "04_three_tower", "recall@100 of 3tMM against 4tMM, ours and the paper's",
               "Grouped bars of recall@100 for three training settings; in each group 4tMM and 3tMM, ours then "
               "the paper's.", _three_vs_four),
    BookFigure("table2-recall-exact", "05_experiments", "each Table 2 row minus BiBERT: recall@100 and Exact, with "
               "95% intervals, beside the paper's",
               "Two panels, one row per multimodal Table 2 model: left its recall@100 minus BiBERT's, right its Exact "
               "share minus BiBERT's, in percentage points; ours a dot with its 95% interval, the paper's a hollow "
               "diamond, a vertical line at zero.",
               lambda ex: effects(ex, ("R@100", "E"))),
    BookFigure("table2-label-mix", "05_experiments", "each Table 2 row minus BiBERT: Substitute, Complement and "
               "Irrelevant shares, with 95% intervals, beside the paper's",
               "Three panels, one row per multimodal Table 2 model: its Substitute, Complement and Irrelevant shares "
               "minus BiBERT's, in percentage points; ours a dot with its 95% interval, the paper's a hollow diamond.",
               lambda ex: effects(ex, ("S", "C", "I"))),
    BookFigure("overlap", "06_net_matches", "per-query overlap with BiBERT's top-100 (Table 3 as distributions)",
               "Horizontal box plots, one per model, of how many of its top-100 products are also in BiBERT's "
               "top-100 per query.",
               lambda ex: overlap_distribution(ex, _MULTIMODAL_NAMES)),
    BookFigure("net-examples", "06_net_matches", "products 4tMM cat retrieves that BiBERT's top-100 misses",
               "For three eval queries with a purchase among them, the best-ranked products in 4tMM cat's top-100 "
               "that are not in BiBERT's top-100, with their rank in 4tMM cat, framed by label; a star marks the "
               "purchase.",
               lambda ex: net_examples(ex, "4tmm-cat", "bibert")),
    BookFigure("visual-search-bars", "07_visual_search", "recall, precision and false positives of the visual-search "
               "models",
               "Two panels of grouped bars for image-to-image, 3-tower and 4-tower: left recall@1, @10, @100 and "
               "precision@10; right the false-positive rate and how often the distractor wins.",
               lambda ex: visual_search_bars(ex, _VISUAL_NAMES)),
    BookFigure("false-positives", "07_visual_search", "query photos and what each visual-search model returns",
               "For the two query photos where the 3-tower removes the most false positives from image-to-image's "
               "first five, each photo beside the top five products of each visual-search model, framed green for "
               "the photographed product, blue for an identical look, red for a false positive, grey otherwise.",
               lambda ex: false_positive_examples(ex, _VISUAL_NAMES)),
    BookFigure("verdict-grid", "08_reproduction_report", "each claim's verdict in each baseline-consistent world "
               "(recorded by python -m mmpaper robustness)",
               "A grid with one row per claim and one column per world of the ensemble; each cell is green with a "
               "check mark where the claim holds, red with a cross where it does not, grey with a question mark where "
               "it is inconclusive, white for the claim set by the calibration.", verdict_grid),
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
    from IPython.display import Image, display

    spec = figure(name)
    fig = spec.draw(ex)
    image = Image(data=png_bytes(fig), format="png")
    try:
        from myst_nb import glue  # the book's tools (Jupyter Book): the chapter's {glue:figure} places it
    except ImportError:  # Colab, or papermill without the book's tools: no directive will place it, so show it here
        display(image)
    else:
        glue(name, image, display=False)
    directory = os.environ.get(FIGURES_DIR_ENV)
    if directory:
        for fmt in ("png", "svg"):
            save(fig, Path(directory) / f"{spec.file_stem}.{fmt}")
    plt.close(fig)
    return fig
