"""Figures for the book (matplotlib + seaborn): pure drawing from tables and arrays; nothing is read here
(:mod:`mmpaper.figures` reads the run directories and hands the arrays over).

Every figure is drawn :data:`WIDTH_IN` inches wide and shown at the width of the book's content column, so a
font of ``f`` points renders at ``f * column_px / (72 * WIDTH_IN)`` pixels. With no font below
:data:`MIN_FONT_PT`, text stays at 10 px or more in any column of at least :data:`MIN_COLUMN_PX` pixels (the
book's column is wider at 1280 and 1920 px windows; ``make book-check`` measures it). Legends sit outside the
axes, never over the data. :mod:`mmpaper.figures` names these figures and gives them captions and alt text.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd

from .data.vocabulary import CATEGORY_NAMES
from .paper import LABEL_NAMES, variant_label

WIDTH_IN = 7.0
MIN_FONT_PT = 8.0
MIN_COLUMN_PX = 10 * 72 * WIDTH_IN / MIN_FONT_PT  # = 630 px
LABEL_COLOURS = {0: "#2ca02c", 1: "#1f77b4", 2: "#ff7f0e", 3: "#d62728", -1: "#7f7f7f"}
OURS, PAPER = "#4c72b0", "#b8b8b8"


@contextmanager
def _style():
    import matplotlib.pyplot as plt
    import seaborn as sns

    rc = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": 9,
          "ytick.labelsize": 9, "legend.fontsize": 9, "legend.title_fontsize": 9, "figure.titlesize": 10}
    with sns.axes_style("whitegrid"), plt.rc_context(rc):
        yield plt


def wrap(text: str, width: int, max_lines: int = 3) -> str:
    """``text`` in lines of at most ``width`` characters, at most ``max_lines`` of them (… marks a cut)."""
    lines, line = [], ""
    for w in str(text).split():
        if len(line) + len(w) + 1 > width and line:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: width - 1] + "…"
    return "\n".join(lines)


def _label_legend(fig, labels=(0, 1, 2, 3), extra: list[tuple[str, str]] | None = None):
    """The frame colours, explained below the figure (outside every image)."""
    from matplotlib.patches import Patch

    handles = [Patch(facecolor="white", edgecolor=LABEL_COLOURS[k], linewidth=3, label=LABEL_NAMES[k])
               for k in labels]
    handles += [Patch(facecolor="white", edgecolor=c, linewidth=3, label=t) for t, c in (extra or [])]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
               bbox_to_anchor=(0.5, 0.0))


def _frame(ax, colour: str, width: float = 3.5):
    ax.set_xticks([]), ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(width)


def world_tour(world, n: int = 6, seed: int = 0):
    """Product images with their titles (top row) and, below, three query photos each beside the product it is a
    photo of (the visual-search chapter's queries)."""
    with _style() as plt:
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(world.products), n, replace=False)
        fig, axes = plt.subplots(2, n, figsize=(WIDTH_IN, 4.1))
        for ax, i in zip(axes[0], idx):
            ax.imshow(world.images[i], interpolation="nearest")
            ax.set_title(wrap(world.products["title"].iloc[i], 14), fontsize=9)
            ax.axis("off")
        photos = getattr(world, "photos", None)
        for ax in axes[1]:
            ax.axis("off")
        if photos is not None and len(photos):
            for k, j in enumerate(rng.choice(len(photos), n // 2, replace=False)):
                pid = int(photos["product_id"].iloc[j])
                photo_ax, product_ax = axes[1][2 * k], axes[1][2 * k + 1]
                photo_ax.imshow(world.photo_images[j], interpolation="nearest")
                photo_ax.set_title("query photo", fontsize=9)
                product_ax.imshow(world.images[pid], interpolation="nearest")
                product_ax.set_title("its product", fontsize=9)
                _frame(product_ax, "#2ca02c", 2.0)
        fig.tight_layout()
    return fig


def _example_grid(plt, rows: list[tuple[str, list[tuple[int, int, bool]]]], images, n_shown: int):
    """One row per (caption, [(product, label, purchased)]): a text cell then the products, framed by label."""
    height = 1.15 * len(rows) + 0.5
    fig, axes = plt.subplots(len(rows), n_shown + 1, figsize=(WIDTH_IN, height),
                             gridspec_kw={"width_ratios": [2.1] + [1] * n_shown}, squeeze=False)
    for r, (text, items) in enumerate(rows):
        axes[r, 0].axis("off")
        axes[r, 0].text(1.0, 0.5, text, ha="right", va="center", fontsize=9, transform=axes[r, 0].transAxes)
        for j in range(n_shown):
            ax = axes[r, j + 1]
            if j >= len(items):
                ax.axis("off")
                continue
            pid, label, bought = items[j]
            ax.imshow(images[pid], interpolation="nearest")
            _frame(ax, LABEL_COLOURS[label])
            ax.set_title(LABEL_NAMES[label][0] + (" ★" if bought else ""), fontsize=10,
                         color=LABEL_COLOURS[label], pad=2)
    return fig


def example_rows(rows: list[tuple[str, list[tuple[int, int, bool]]]], images, n_shown: int = 5, note: str = ""):
    """One row per (caption, [(product, label, purchased)]): the products framed by label; ★ marks a purchase.
    ``note``: a line above the grid (e.g. that no query met the selection criterion)."""
    with _style() as plt:
        fig = _example_grid(plt, rows, images, n_shown)
        _label_legend(fig, extra=None)
        if note:
            fig.suptitle(note, fontsize=9)
        fig.tight_layout(rect=(0, 0.06, 1, 0.95 if note else 1))
    return fig


def effects_vs_bibert(effects: pd.DataFrame, metrics: tuple[str, ...] = ("R@100", "E")):
    """Each Table 2 row minus BiBERT (%-points, :func:`mmpaper.report.tables.effects_vs_bibert`): ours as a dot with
    its 95% paired-bootstrap interval, the paper's difference as a hollow diamond, one panel per metric."""
    names = list(dict.fromkeys(effects["variant"]))
    titles = {"R@100": "recall@100", "E": "Exact", "S": "Substitute", "C": "Complement", "I": "Irrelevant"}
    with _style() as plt:
        fig, axes = plt.subplots(1, len(metrics), figsize=(WIDTH_IN, 0.34 * len(names) + 1.6), sharey=True,
                                 squeeze=False)
        y = np.arange(len(names))
        for ax, m in zip(axes[0], metrics):
            e = effects[effects["metric"] == m].set_index("variant").loc[names]
            ax.axvline(0, color="#7f7f7f", linewidth=0.8)
            ax.errorbar(e["effect"], y, xerr=[e["effect"] - e["ci_low"], e["ci_high"] - e["effect"]], fmt="o",
                        color=OURS, ecolor=OURS, capsize=2, markersize=4, label="ours (95% interval)")
            ax.scatter(e["paper"], y, marker="D", facecolors="none", edgecolors="#333333", s=22, zorder=3,
                       label="paper")
            ax.set_xlabel(f"{titles[m]} minus BiBERT (% points)")
        axes[0][0].set_yticks(y, [variant_label(n) for n in names])
        axes[0][0].invert_yaxis()
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=2, frameon=False, bbox_to_anchor=(0.6, 1.0))
        fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def alpha_curve(curve: dict[str, float], chosen: float):
    """Validation recall@100 of α-concat over the α grid, the chosen α marked."""
    with _style() as plt:
        fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.0))
        xs = sorted(float(a) for a in curve)
        ax.plot(xs, [100 * curve[str(a)] for a in xs], marker="o", color=OURS)
        ax.axvline(chosen, color="grey", linestyle="--")
        ax.annotate(f"chosen α = {chosen}", xy=(chosen, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(4, 4), textcoords="offset points", fontsize=9, va="bottom")
        ax.set_xlabel("α (weight of the BiBERT part, Eq. 4)")
        ax.set_ylabel("validation recall@100 (%)")
        fig.tight_layout()
    return fig


def overlap_distribution(overlaps: dict[str, np.ndarray], k: int):
    """Per-query overlap with BiBERT's top-k (Table 3 as distributions): ``overlaps[variant]`` per eval query."""
    import seaborn as sns

    rows = [pd.DataFrame({"model": variant_label(n), "overlap": o}) for n, o in overlaps.items()]
    with _style() as plt:
        fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.32 * len(overlaps) + 1.2))
        sns.boxplot(data=pd.concat(rows), y="model", x="overlap", ax=ax, color="#8fb0d9", fliersize=2)
        ax.set_xlabel(f"|top-{k} ∩ BiBERT top-{k}| per eval query")
        ax.set_ylabel("")
        ax.set_xlim(0, k)
        fig.tight_layout()
    return fig


def three_vs_four_tower(cmp: pd.DataFrame):
    """Recall@100 of 4tMM and 3tMM under each training setting, ours and the paper's."""
    cols = [("4tMM R@100", OURS, "4tMM (ours)"), ("3tMM R@100", "#8fb0d9", "3tMM (ours)"),
            ("paper 4tMM R@100", "#7a7a7a", "4tMM (paper)"), ("paper 3tMM R@100", PAPER, "3tMM (paper)")]
    with _style() as plt:
        fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.4))
        x = np.arange(len(cmp))
        w = 0.2
        for i, (c, colour, label) in enumerate(cols):
            ax.bar(x + (i - 1.5) * w, cmp[c].astype(float), width=w, color=colour, label=label)
        ax.set_xticks(x, list(cmp.index))
        ax.set_ylabel("recall@100 (%)")
        ax.set_ylim(0, 100)
        fig.legend(*ax.get_legend_handles_labels(), loc="upper center", ncol=4, frameon=False,
                   bbox_to_anchor=(0.5, 1.0))
        fig.tight_layout(rect=(0, 0, 1, 0.91))
    return fig


FP_KINDS = ("the product", "match", "false +", "other")  # what a returned product is to the photo


def photo_match_kinds(top: np.ndarray, target: int, attributes: np.ndarray) -> np.ndarray:
    """What each returned product is to the photographed one: 0 the product itself, 1 a visual match (same
    category, colour, pattern), 2 a false positive (same colour and pattern, another category), 3 other."""
    a, b = attributes[top], attributes[target]
    look = (a[:, 1] == b[1]) & (a[:, 2] == b[2])
    return np.where(top == target, 0, np.where(look & (a[:, 0] == b[0]), 1, np.where(look, 2, 3)))


def false_positive_examples(photos: list[dict], product_images, attributes: np.ndarray, n_shown: int = 5):
    """Query photos beside each visual-search model's top products, framed by what they are: the photographed
    product (green), a visual match (blue: same category, colour, pattern), a false positive (red: same colour
    and pattern, another category) or other (grey). ``photos``: one dict per row, ``{"name", "text", "image",
    "target", "top"}`` (the model, its query text, the photo, the photographed product, the model's top ids)."""
    colours = ["#2ca02c", "#1f77b4", "#d62728", "#9a9a9a"]
    with _style() as plt:
        fig, axes = _photo_rows(plt, len(photos), n_shown, 1.2, 0.5)
        for r, row in enumerate(photos):
            _photo_row_head(axes[r], variant_label(row["name"]) + row["text"], row["image"],
                            wrap(f"photo: {CATEGORY_NAMES[attributes[row['target'], 0]]}", 12, 2), 9)
            top = row["top"][:n_shown]
            for j, (pid, kind) in enumerate(zip(top, photo_match_kinds(top, row["target"], attributes))):
                ax = axes[r, j + 2]
                ax.imshow(product_images[pid], interpolation="nearest")
                _frame(ax, colours[kind])
                label = FP_KINDS[kind] if kind != 2 else wrap(f"false +: {CATEGORY_NAMES[attributes[pid, 0]]}", 12, 2)
                ax.set_title(label, fontsize=9, color=colours[kind], pad=2)
        _frame_legend(fig, zip(["the photographed product", "identical look", "false positive", "other"], colours))
    return fig


REAL_PHOTO_KINDS = {0: ("the photographed product", "#2ca02c"), 1: ("fine FP: same kind", "#1f77b4"),
                    2: ("gross FP: another kind", "#d62728")}


def real_photo_match_kinds(top: np.ndarray, target: int, coarse: np.ndarray) -> np.ndarray:
    """What each returned product is to the photographed one: 0 the product itself, 1 a fine false positive
    (another product of its coarse class), 2 a gross false positive (another coarse class)."""
    top = np.asarray(top)
    return np.where(top == target, 0, np.where(coarse[top] == coarse[target], 1, 2))


def real_photo_grid(rows: list[dict], product_images, names: list[str], coarse: np.ndarray, n_shown: int = 5):
    """Real query photos beside each model's top products, framed by what they are: the photographed product
    (green), a fine false positive (blue: another product of its kind) or a gross one (red: another kind).
    ``rows``: one dict per row, ``{"model", "image", "target", "top"}`` (the model's label, the photo, the
    photographed product's row, the model's top product rows); ``names``: every product's name."""
    with _style() as plt:
        fig, axes = _photo_rows(plt, len(rows), n_shown, 1.25, 0.55)
        for r, row in enumerate(rows):
            _photo_row_head(axes[r], row["model"], row["image"], wrap(f"photo: {names[row['target']]}", 13, 2), 8)
            top = np.asarray(row["top"][:n_shown])
            for j, (pid, kind) in enumerate(zip(top, real_photo_match_kinds(top, row["target"], coarse))):
                ax = axes[r, j + 2]
                ax.imshow(product_images[pid], interpolation="nearest")
                colour = REAL_PHOTO_KINDS[int(kind)][1]
                _frame(ax, colour)
                ax.set_title(wrap(names[pid], 13, 2), fontsize=8, color=colour, pad=2)
        _frame_legend(fig, REAL_PHOTO_KINDS.values())
    return fig


def _photo_rows(plt, n_rows: int, n_shown: int, row_in: float, pad_in: float):
    """The grid of the photo figures: per row a label, the query photo, then ``n_shown`` returned products."""
    return plt.subplots(n_rows, n_shown + 2, figsize=(WIDTH_IN, row_in * n_rows + pad_in),
                        gridspec_kw={"width_ratios": [1.5, 1] + [1] * n_shown}, squeeze=False)


def _photo_row_head(axes_row, label: str, image, title: str, fontsize: int) -> None:
    """A photo row's label (right-aligned beside the photo) and its query photo, framed black."""
    axes_row[0].axis("off")
    axes_row[0].text(1.0, 0.5, label, ha="right", va="center", fontsize=fontsize, transform=axes_row[0].transAxes)
    ax = axes_row[1]
    ax.imshow(image, interpolation="nearest")
    _frame(ax, "black", 1.0)
    ax.set_title(title, fontsize=fontsize, pad=2)


def _frame_legend(fig, items) -> None:
    """The legend of frame colours, ``(label, colour)`` pairs, in one row under the grid."""
    from matplotlib.patches import Patch

    handles = [Patch(facecolor="white", edgecolor=c, linewidth=3, label=t) for t, c in items]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))


def absent_data(lines: list[str]):
    """A panel that says, in words, why a figure of data that is not on this machine is missing, and what to do."""
    with _style() as plt:
        fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.2 + 0.3 * len(lines)))
        ax.axis("off")
        ax.text(0.5, 0.5, "\n".join(lines), ha="center", va="center", fontsize=10, transform=ax.transAxes,
                bbox={"boxstyle": "round", "facecolor": "#f4f4f4", "edgecolor": "#9a9a9a"})
    return fig


def visual_search_bars(t: pd.DataFrame, labels: dict[str, str]):
    """Recall@k and precision (left) and the false-positive rates (right) of each visual-search model, from the
    visual-search table (:func:`mmpaper.report.tables.visual_table`); ``labels`` name the models."""
    fp = next(c for c in t.columns if c.startswith("false_positive@"))
    prec = next(c for c in t.columns if c.startswith("precision@"))
    good = [c for c in t.columns if c.startswith("recall@")] + [prec]
    bad = [fp, "distractor preferred"]
    with _style() as plt:
        fig, axes = plt.subplots(1, 2, figsize=(WIDTH_IN, 3.8), gridspec_kw={"width_ratios": [len(good), len(bad)]})
        for ax, cols, title in [(axes[0], good, "finding the product\n(higher is better)"),
                                (axes[1], bad, "false positives\n(lower is better)")]:
            x = np.arange(len(cols))
            w = 0.8 / len(t)
            for i, (name, shade) in enumerate(zip(t.index, [1.0, 0.7, 0.45])):
                ax.bar(x + (i - (len(t) - 1) / 2) * w, t.loc[name, cols].astype(float), width=w,
                       color=OURS, alpha=shade, label=labels.get(name, name))
            ax.set_xticks(x, [c.replace("_", " ").replace(" ", "\n") for c in cols])
            ax.set_title(title)
            ax.set_ylabel("%")
            ax.set_ylim(0, 100)
        fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=len(t), frameon=False)
        fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def scaling_curve(record: dict | None):
    """Exact search time and the share of the measured matmul peak against the number of products, from the
    benchmark record ``benchmarks/results/scaling.json`` (``make bench``); a note in its place when absent."""
    with _style() as plt:
        if not record or not record.get("rows"):
            fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.2))
            ax.axis("off")
            ax.text(0.5, 0.5, "no recorded scaling results: run `make bench`", ha="center", va="center")
            return fig
        rows = pd.DataFrame(record["rows"])
        fig, axes = plt.subplots(1, 2, figsize=(WIDTH_IN, 3.2))
        for d, part in rows.groupby("d"):
            axes[0].plot(part["products"], part["seconds"], marker="o", label=f"d = {d}")
            axes[1].plot(part["products"], 100 * part["fraction_of_matmul_peak"], marker="o", label=f"d = {d}")
        axes[0].set(xscale="log", yscale="log", xlabel="products", ylabel="search time (s)")
        axes[1].set(xscale="log", xlabel="products", ylabel="share of matmul peak (%)", ylim=(0, 105))
        queries = int(rows["queries"].iloc[0])
        fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", frameon=False,
                   ncol=max(1, rows["d"].nunique()), title=f"{queries:,} queries, exact top-100")
        fig.tight_layout(rect=(0, 0, 1, 0.82))
    return fig


VERDICT_COLOURS = {"holds": "#2ca02c", "does not hold": "#d62728", "inconclusive": "#c7c7c7",
                   "set by the calibration": "#ffffff"}


def verdict_grid(grid: pd.DataFrame | None, columns: dict[str, str] | None = None):
    """Claims (rows) × worlds (columns), each cell coloured by the claim's verdict in that world
    (:func:`mmpaper.report.ensemble.claim_verdicts`); ``columns`` relabel the worlds for the reader. A note in its
    place when no ensemble is recorded."""
    from matplotlib.patches import Patch

    if grid is None or grid.empty:
        with _style() as plt:
            fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.2))
            ax.axis("off")
            ax.text(0.5, 0.5, "no recorded ensemble of worlds: python -m mmpaper robustness", ha="center",
                    va="center")
        return fig
    labels = [columns.get(c, c) if columns else c for c in grid.columns]
    with _style() as plt:
        fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.36 * len(grid) + 2.1))
        for i, (claim, row) in enumerate(grid.iterrows()):
            for j, verdict in enumerate(row):
                ax.add_patch(plt.Rectangle((j, i), 0.94, 0.9, facecolor=VERDICT_COLOURS.get(verdict, "#ffffff"),
                                           edgecolor="#7f7f7f", linewidth=0.6))
                mark = {"holds": "✓", "does not hold": "✗", "inconclusive": "?"}.get(verdict, "")
                ax.text(j + 0.47, i + 0.45, mark, ha="center", va="center", fontsize=9,
                        color="white" if verdict in ("holds", "does not hold") else "black")
        ax.set_xlim(0, len(grid.columns))
        ax.set_ylim(len(grid), 0)
        ax.set_xticks(np.arange(len(grid.columns)) + 0.47, labels, rotation=0, fontsize=8)
        ax.set_yticks(np.arange(len(grid)) + 0.45, list(grid.index), fontsize=9)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.grid(False)
        fig.legend(handles=[Patch(facecolor=c, edgecolor="#7f7f7f", label=v) for v, c in VERDICT_COLOURS.items()],
                   loc="lower center", ncol=4, frameon=False)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
