# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Visual search with image-text alignment
#
# The companion paper {cite}`zhu2024bringing` (KDD 2024) studies *visual search*: a shopper photographs an
# object and the system retrieves the product. Its observation is that pure image-to-image deep metric learning
# suffers **false positives from local visual patterns**: a striped red mug matches a striped red scarf because the
# stripes and the red dominate the embedding. Its remedy: start every tower from a vision-language pretrained
# model and add **image-text alignment losses** against the product title, which name the category explicitly,
# as constraints on the image-to-image loss.
#
# Our world builds exactly this situation in (see the data card): every eval query photo re-renders a product with
# another scale, background, clutter and a grey occluder that can hide part of the silhouette, and has a
# *distractor*, a product of another category with the same colour and pattern.

# %% tags=["hide-output"]
# Colab setup: installs the package only when running in Colab (the book and papermill runs skip it).
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "mmpaper @ git+https://github.com/mmpaper/mmpaper"],
                   check=True)

# %% tags=["parameters"]
preset = "cpu"      # smoke | cpu | gpu (the esci preset has no query photos)
runs_dir = None     # default: runs/ beside the package

# %%
from IPython.display import Markdown, display
from mmpaper.experiments import VISUAL_VARIANTS
from mmpaper import plots, report
from mmpaper.book import open_experiment
ex = open_experiment(preset, runs_dir)  # reuses every finished run directory; trains only what is missing
names = list(VISUAL_VARIANTS)

# %% [markdown]
# ## The three models
#
# Every encoder is an open_clip tower started from the same stage-0 CLIP (the world's "public" vision-language
# model; on real data a named pretrained model). Products are always embedded from their image alone, so the three
# models search the same gallery; what differs is the training signal and the query.
#
# | model | towers | loss |
# |---|---|---|
# | image-to-image | query photo $h_q$, product image $h_d$ | $L(q_{img}, d_{img})$ |
# | 3-tower | + product title $h_t$ (training only) | $L(q_{img}, d_{img}) + w_1 L(d_{img}, d_{title}) + w_2 L(q_{img}, d_{title})$ |
# | 4-tower | + short text query $h_s$; $e_q = \mathrm{norm}(h_q(q_{img}) + w\,h_s(q_{text}))$ | $L(e_q, d_{img}) + w_1 L(d_{img}, d_{title}) + w_2 L(q_{img}, d_{title}) + w_3 L(q_{text}, d_{title})$ |
#
# Each $L$ is a symmetric NT-Xent over in-batch negatives (`mmpaper.losses.alignment_loss`). The 4-tower's text
# query is what a shopper types beside the photo in our world: the category in shopper words ("bookbag").

# %%
p = ex.preset
n_train = int((ex.catalog.photos["split"] == "train").sum())
display(Markdown(f"Preset `{preset}`: {n_train:,} training photos (of products never photographed for the eval "
                 f"set), {len(ex.photo_rows('eval')):,} eval photos against {len(ex.catalog.products):,} product "
                 f"images; {p.vs_epochs} epochs, batch {p.vs_batch_size}, τ = {p.temperature}, "
                 f"(w₁, w₂, w₃) = {p.vs_weights}."))

# %% [markdown]
# ## Results
#
# *recall@k*: the photographed product is in the top k. *precision@10*: share of the top 10 that look identical
# (same category, colour and pattern). *false_positive@10*: share of the top 10 with the query's colour and
# pattern but another category, the paper's false positives. *distractor preferred*: share of photos whose
# distractor scores above the photographed product itself.

# %%
vs = report.visual_table(ex, names)
display(vs)

# %%
fig = plots.visual_search_bars(ex, names)

# %% [markdown]
# ## False positives, shown
#
# The photos on which image-to-image matching returns the most false positives in its top six, and what each
# model returns for them.

# %%
fig = plots.false_positive_examples(ex, names, n_photos=3)

# %% [markdown]
# ## Does the paper's claim hold on our world?

# %%
import pandas as pd
pd.set_option("display.max_colwidth", None)
claims = report.claims(ex)
display(claims[claims["claim"].str.startswith("Visual search")])
