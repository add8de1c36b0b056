"""Figures for the book (matplotlib + seaborn), each a function of run directories or the world."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .experiments import Experiment


def _plt():
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    return plt


def world_tour(world, n: int = 8, seed: int = 0):
    """Product images with their titles, and query photos with the product they show."""
    plt = _plt()
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(world.products), n, replace=False)
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.6))
    for ax, i in zip(axes[0], idx):
        ax.imshow(world.images[i], interpolation="nearest")
        ax.set_title("\n".join(_wrap(world.products["title"].iloc[i], 18)), fontsize=8)
        ax.axis("off")
    for ax, j in zip(axes[1], rng.choice(len(world.photos), n, replace=False)):
        ax.imshow(world.photo_images[j], interpolation="nearest")
        ax.set_title(f"query photo of\nproduct {world.photos['product_id'].iloc[j]}", fontsize=8)
        ax.axis("off")
    fig.suptitle("Top: product images and titles. Bottom: visual-search query photos.", fontsize=10)
    fig.tight_layout()
    return fig


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for w in text.split():
        if len(line) + len(w) + 1 > width and line:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return lines + [line]


def retrieved_examples(ex: Experiment, names: list[str], n_queries: int = 3, n_shown: int = 6, seed: int = 1):
    """For a few eval queries, the top products each model retrieves, framed by label (E green, S blue,
    C orange, I red); a star marks a purchase."""
    plt = _plt()
    cat = ex.catalog
    qids = ex.eval_query_ids()
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(qids), n_queries, replace=False)
    bought = set(zip(cat.purchases["query_id"], cat.purchases["product_id"]))
    colours = {0: "#2ca02c", 1: "#1f77b4", 2: "#ff7f0e", 3: "#d62728", -1: "#7f7f7f"}
    qtext = cat.queries.set_index("query_id")["query"]
    fig, axes = plt.subplots(n_queries * len(names), n_shown, figsize=(1.6 * n_shown, 1.75 * n_queries * len(names)))
    axes = np.atleast_2d(axes)
    for qi, row in enumerate(picks):
        for mi, name in enumerate(names):
            r = ex.result(name)
            topk = np.load(r.directory / "topk.npy")[row]
            labels = np.load(r.directory / "topk_labels.npy")[row]
            for j in range(n_shown):
                ax = axes[qi * len(names) + mi, j]
                pid = int(topk[j])
                ax.imshow(cat.images[pid], interpolation="nearest")
                for spine in ax.spines.values():
                    spine.set_edgecolor(colours[int(labels[j])])
                    spine.set_linewidth(4)
                ax.set_xticks([]), ax.set_yticks([])
                star = " ★" if (int(qids[row]), pid) in bought else ""
                ax.set_title("EBCI"[int(labels[j])].replace("B", "S") + star, fontsize=8,
                             color=colours[int(labels[j])])
                if j == 0:
                    ax.set_ylabel(f"{name}\n“{qtext[qids[row]]}”", fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle("Top retrieved products (frame: E green, S blue, C orange, I red; ★ purchased)", fontsize=10)
    fig.tight_layout()
    return fig


def recall_precision(t2: pd.DataFrame):
    """Ours vs paper: recall@100 and Exact precision per variant, side by side."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    for ax, (ours, paper, title) in zip(axes, [("R@100", "paper R@100", "purchase recall@100 (%)"),
                                               ("E", "paper E", "Exact precision (%)")]):
        df = pd.DataFrame({"ours": t2[ours], "paper": t2[paper]}, index=t2.index).reset_index()
        df = df.melt(id_vars="variant", var_name="source", value_name=title)
        import seaborn as sns

        sns.barplot(data=df, x="variant", y=title, hue="source", ax=ax, palette=["#4c72b0", "#c0c0c0"])
        ax.tick_params(axis="x", rotation=60)
        ax.set_xlabel("")
        ax.set_title(title)
    fig.tight_layout()
    return fig


def label_mix(t2: pd.DataFrame):
    """Stacked E/S/C/I shares of the top-100, per variant (ours)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(11, 4))
    bottom = np.zeros(len(t2))
    for label, colour in zip("ESCI", ["#2ca02c", "#1f77b4", "#ff7f0e", "#d62728"]):
        ax.bar(t2.index, t2[label], bottom=bottom, color=colour, label={"E": "Exact", "S": "Substitute",
                                                                        "C": "Complement", "I": "Irrelevant"}[label])
        bottom += t2[label].to_numpy()
    ax.set_ylabel("share of top-100 predictions (%)")
    ax.tick_params(axis="x", rotation=60)
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig


def alpha_curve(curve: dict[str, float], chosen: float):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = sorted(float(a) for a in curve)
    ax.plot(xs, [100 * curve[str(a)] for a in xs], marker="o")
    ax.axvline(chosen, color="grey", linestyle="--", label=f"chosen α = {chosen}")
    ax.set_xlabel("α (weight of the BiBERT part, Eq. 4)")
    ax.set_ylabel("validation recall@100 (%)")
    ax.legend()
    fig.tight_layout()
    return fig


def overlap_distribution(ex: Experiment, names: list[str]):
    """Per-query overlap with BiBERT's top-100 (Table 3 as distributions)."""
    from .metrics import overlap

    plt = _plt()
    base = np.load(ex.result("bibert").directory / "topk.npy")
    rows = [pd.DataFrame({"variant": n, "overlap with BiBERT": overlap(np.load(ex.result(n).directory / "topk.npy"),
                                                                       base)}) for n in names]
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(10, 4))
    sns.boxplot(data=pd.concat(rows), x="variant", y="overlap with BiBERT", ax=ax, color="#8fb0d9")
    ax.set_ylabel(f"|top-{ex.preset.k} ∩ BiBERT top-{ex.preset.k}| per query")
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    return fig


def paper_vs_ours_scatter(t2: pd.DataFrame):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(t2["paper R@100"], t2["R@100"])
    for name, row in t2.iterrows():
        ax.annotate(name, (row["paper R@100"], row["R@100"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("paper recall@100 (%)")
    ax.set_ylabel("our recall@100 (%)")
    fig.tight_layout()
    return fig


def false_positive_examples(ex: Experiment, names: list[str], n_photos: int = 3, n_shown: int = 6, seed: int = 0):
    """Query photos beside each visual-search model's top products, framed by what they are: the photographed
    product (green), a visual match (blue: same category, colour, pattern), a false positive (red: same colour
    and pattern, another category) or other (grey). Photos are the ones where image-to-image matching puts the
    most false positives in its top ``n_shown``, so the chapter shows the failure the paper is about."""
    plt = _plt()
    cat = ex.catalog
    attrs = cat.products[["category", "colour", "pattern"]].to_numpy()
    first = ex.result(names[0])
    rows = np.load(first.directory / "eval_photo_rows.npy")
    target = cat.photos["product_id"].to_numpy()[rows]
    tops = {n: np.load(ex.result(n).directory / "topk.npy")[:, :n_shown] for n in names}

    def kinds(top, t):
        a, b = attrs[top], attrs[t]
        look = (a[:, 1] == b[1]) & (a[:, 2] == b[2])
        return np.where(top == t, 0, np.where(look & (a[:, 0] == b[0]), 1, np.where(look, 2, 3)))

    fp = np.array([(kinds(tops[names[0]][i], target[i]) == 2).sum() for i in range(len(rows))])
    rng = np.random.default_rng(seed)
    picks = np.argsort(-fp + 0.01 * rng.random(len(fp)), kind="stable")[:n_photos]
    colours = ["#2ca02c", "#1f77b4", "#d62728", "#9a9a9a"]
    words = ["the product", "match", "false +", "other"]
    fig, axes = plt.subplots(n_photos * len(names), n_shown + 1,
                             figsize=(1.55 * (n_shown + 1), 1.7 * n_photos * len(names)))
    axes = np.atleast_2d(axes)
    from .data.world import CATEGORY_NAMES
    for pi, i in enumerate(picks):
        for mi, name in enumerate(names):
            r = pi * len(names) + mi
            ax = axes[r, 0]
            ax.imshow(cat.photo_images[rows[i]], interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            query = f"\n+ “{cat.photos['query'].iloc[rows[i]]}”" if name.endswith("4tower") else ""
            ax.set_ylabel(f"{name}{query}", fontsize=8, rotation=0, ha="right", va="center")
            ax.set_title(f"photo of a {CATEGORY_NAMES[attrs[target[i], 0]]}", fontsize=7)
            for j, (pid, kind) in enumerate(zip(tops[name][i], kinds(tops[name][i], target[i]))):
                ax = axes[r, j + 1]
                ax.imshow(cat.images[pid], interpolation="nearest")
                for spine in ax.spines.values():
                    spine.set_edgecolor(colours[kind])
                    spine.set_linewidth(4)
                ax.set_xticks([]), ax.set_yticks([])
                label = words[kind] if kind != 2 else f"false +: {CATEGORY_NAMES[attrs[pid, 0]]}"
                ax.set_title(label, fontsize=7, color=colours[kind])
    fig.suptitle("Visual search: query photo and top products (green: the product; blue: identical look; "
                 "red: same colour and pattern, wrong category)", fontsize=9)
    fig.tight_layout()
    return fig


def visual_search_bars(ex: Experiment, names: list[str]):
    """Recall@k and the false-positive rate of each visual-search model, side by side."""
    plt = _plt()
    from .report import visual_table

    t = visual_table(ex, names)
    fp = next(c for c in t.columns if c.startswith("false_positive@"))
    prec = next(c for c in t.columns if c.startswith("precision@"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    t[[c for c in t.columns if c.startswith("recall@")] + [prec]].plot.bar(ax=axes[0], rot=0)
    axes[0].set_ylabel("%")
    axes[0].set_title("finding the photographed product (higher is better)")
    axes[0].set_xlabel("")
    t[[fp, "distractor preferred"]].plot.bar(ax=axes[1], rot=0, color=["#d62728", "#ff9896"])
    axes[1].set_ylabel("%")
    axes[1].set_title("false positives (lower is better)")
    axes[1].set_xlabel("")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
