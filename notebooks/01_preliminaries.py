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
# # Preliminaries
#
# Semantic retrieval represents a query $q$ and a product $d$ as vectors and scores them by cosine similarity
# $s(q, d)$; the top-100 products by score are retrieved with FAISS. This chapter sets up the training loss, the
# two-tower baseline and the world all our numbers come from.

# %% tags=["hide-output"]
# Colab setup: installs the package only when running in Colab (the book and papermill runs skip it).
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "mmpaper @ git+https://github.com/mmpaper/mmpaper"],
                   check=True)

# %% tags=["parameters"]
preset = "cpu"      # smoke | cpu | gpu | esci
runs_dir = None     # default: runs/ beside the package

# %%
from IPython.display import display
from mmpaper import plots
from mmpaper.book import open_experiment
ex = open_experiment(preset, runs_dir)  # reuses every finished run directory; trains only what is missing

# %% [markdown]
# ## NT-Xent (Eq. 1)
#
# $$L = -\frac{1}{N}\sum_i \log \frac{\exp(s(q_i, d_i^+)/\tau)}{\sum_{d \in C_i} \exp(s(q_i, d)/\tau)}$$
#
# $C_i$ holds the purchased product $d_i^+$, every other product of the batch (in-batch negatives) and, in the
# *Seen Negative* variant, extra negatives: products matched to a query but not purchased. The function is
# [`mmpaper.losses.nt_xent`](https://github.com/mmpaper/mmpaper/blob/main/mmpaper/losses.py). A tiny worked
# example: two queries whose purchased products point the same way as they do, orthogonal to each other, with
# $\tau = 0.5$. Each query's positive scores $e^{1/0.5}$, its in-batch negative $e^{0}$:

# %%
import math
import torch
from mmpaper.losses import nt_xent
q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
by_hand = -math.log(math.exp(2) / (math.exp(2) + 1))
print(f"nt_xent = {nt_xent(q, q.clone(), temperature=0.5).item():.6f}, by hand = {by_hand:.6f}")
negs = torch.tensor([[-1.0, 0.0], [1.0, 1.0]])
print(f"with two seen negatives shared by the batch: {nt_xent(q, q.clone(), 0.5, negs).item():.6f}")

# %% [markdown]
# ## The two-tower baseline
#
# BiBERT has a query tower $f_q$ and a product tower $f_d$: BERTs with 2 transformer layers and 4 attention heads
# that share every weight except their LayerNorms and projection layers (`mmpaper.towers.BiBERT`). Its WordPiece
# vocabulary is trained with `tokenizers` on the world's titles and train-period queries.

# %%
bibert = ex.bibert()
shared = {id(p) for p in bibert.query_bert.parameters()} & {id(p) for p in bibert.product_bert.parameters()}
n_all = sum(p.numel() for p in bibert.parameters())
n_shared = sum(p.numel() for p in bibert.query_bert.parameters() if id(p) in shared)
print(f"BiBERT: {n_all:,} parameters, {n_shared:,} shared by the two towers; config {bibert.config}")

# %% [markdown]
# ## The world
#
# No public dataset or pretrained weight can be downloaded where this book is built, so every number comes from a
# synthetic world the package generates from a seed (see the data card). Titles state the colour only sometimes;
# images always show it. Queries use the shopper's words.

# %%
world = ex.catalog
fig = plots.world_tour(world)

# %%
sample = world.purchases.merge(world.queries[["query_id", "query"]], on="query_id").head(8)
sample["purchased title"] = world.products["title"].iloc[sample["product_id"]].to_numpy()
display(sample[["query", "purchased title", "split"]])

# %% [markdown]
# ### Table 1 for our world
#
# Pairs (query, purchased product), distinct queries and distinct products per period; the eval period searches
# the whole catalog, as the paper's eval set does.

# %%
display(world.table1())
