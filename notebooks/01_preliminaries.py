# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#     provenance: []
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
# two-tower baseline and the world all our numbers come from, and shows how that world was calibrated.

# %% tags=["hide-input", "hide-output"]
# Colab setup: in Colab this installs the released package (the book's own runs skip it). REPOSITORY, TAG and COMMIT
# are _config.yml's repository url, release_tag and release_commit (`python -m mmpaper pin-release` writes both;
# tests/test_packaging.py keeps them equal). It fails closed: with no release named it installs nothing; the tag
# must still point at COMMIT, and pip must have installed COMMIT. Only the package and its model and evaluation
# dependencies are installed (not the book's tools); a suitable preinstalled torch is kept; FAISS is faiss-gpu
# on a GPU runtime and faiss-cpu otherwise, never both. MMPAPER_COLAB=1 outside Colab prints the commands only.
import os, sys
REPOSITORY, TAG, COMMIT = "", "", ""
if "google.colab" in sys.modules or os.environ.get("MMPAPER_COLAB"):
    import importlib, importlib.metadata as md, json, re, shutil, subprocess
    from packaging.requirements import Requirement
    placeholder = REPOSITORY.rstrip("/") == "https://github.com/mmpaper/mmpaper"  # no owner: anyone could take it
    if placeholder or not (REPOSITORY.startswith("https://github.com/") and TAG and re.fullmatch("[0-9a-f]{40}", COMMIT)):
        raise RuntimeError("This copy of the chapter names no released mmpaper, so it installs nothing. Run it from "
                           "a copy of the source: pip install -e '.[book]', then make book or papermill.")
    colab = "google.colab" in sys.modules
    if colab:
        pip = lambda line: get_ipython().run_line_magic("pip", line)  # noqa: E731, F821 - %pip in the kernel
        refs = subprocess.run(["git", "ls-remote", REPOSITORY, f"refs/tags/{TAG}", f"refs/tags/{TAG}^{{}}"],
                              capture_output=True, text=True, timeout=120).stdout.split()
        refs = dict(zip(refs[1::2], refs[::2]))
        tagged = refs.get(f"refs/tags/{TAG}^{{}}", refs.get(f"refs/tags/{TAG}"))  # an annotated tag's commit
        if tagged != COMMIT:
            raise RuntimeError(f"{REPOSITORY} tag {TAG} points at {tagged or 'nothing'}, not at {COMMIT}: "
                               "not installing")
    else:
        pip = lambda line: print("%pip", line)  # noqa: E731
    def present(req):
        try:
            return req.specifier.contains(md.version(req.name), prereleases=True)
        except md.PackageNotFoundError:
            return False
    gpu = bool(shutil.which("nvidia-smi")) and subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0
    pip(f"install -q --no-deps mmpaper@git+{REPOSITORY}@{COMMIT}")
    importlib.invalidate_caches()
    if colab:
        url = json.loads(md.distribution("mmpaper").read_text("direct_url.json") or "{}")
        if url.get("vcs_info", {}).get("commit_id") != COMMIT:
            raise RuntimeError(f"pip installed {url.get('vcs_info', {}).get('commit_id')}, not {COMMIT}")
    reqs = [Requirement(r) for r in md.requires("mmpaper")]
    faiss = next(r for r in reqs if r.name.startswith("faiss") and r.marker and r.marker.evaluate({"extra": "gpu"})) \
        if gpu else next(r for r in reqs if r.name == "faiss-cpu" and not r.marker)
    if gpu and present(Requirement("faiss-cpu")):
        pip("uninstall -q -y faiss-cpu")
    todo = [r for r in reqs if not r.marker and not r.name.startswith("faiss") and not present(r)]
    pip("install -q " + " ".join(f'"{r.name}{r.specifier}"' for r in todo + [faiss]))

# %% tags=["parameters", "hide-cell"]
preset = "cpu"      # smoke | cpu | gpu | esci
runs_dir = None     # default: runs/ beside the package

# %% tags=["remove-input"]
from IPython.display import Markdown, display
from mmpaper import figures
from mmpaper.book import open_experiment
from mmpaper.data.world import MECHANISMS
from mmpaper.report import narrative, records, tables, views
ex = open_experiment(preset, runs_dir, ["bibert"])  # this chapter's runs: reused, or trained when missing

# %% [markdown]
# ## NT-Xent (Eq. 1)
#
# $$L = -\frac{1}{N}\sum_i \log \frac{\exp(s(q_i, d_i^+)/\tau)}{\sum_{d \in C_i} \exp(s(q_i, d)/\tau)}$$
#
# $C_i$ holds the purchased product $d_i^+$, every other product of the batch (in-batch negatives) and, in the
# *Seen Negative* variant, extra negatives: products matched to a query but not purchased. The function is
# `mmpaper.losses.nt_xent` (in `mmpaper/losses.py`). A tiny worked
# example: two queries whose purchased products point the same way as they do, orthogonal to each other, with
# $\tau = 0.5$. Each query's positive scores $e^{1/0.5}$, its in-batch negative $e^{0}$:

# %%
import math
import torch
from mmpaper.losses import nt_xent
q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
by_hand = -math.log(math.exp(2) / (math.exp(2) + 1))
loss = nt_xent(q, q.clone(), temperature=0.5).item()
print(f"nt_xent = {loss:.6f}, by hand = {by_hand:.6f}")
negs = torch.tensor([[-1.0, 0.0], [1.0, 1.0]])
loss_seen = nt_xent(q, q.clone(), 0.5, negs).item()
print(f"with two seen negatives shared by the batch: {loss_seen:.6f}")

# %% [markdown]
# ## The two-tower baseline
#
# BiBERT has a query tower $f_q$ and a product tower $f_d$: BERTs with 2 transformer layers and 4 attention heads
# that share every weight except their LayerNorms and projection layers (`mmpaper.towers.BiBERT`). Its WordPiece
# vocabulary is built with `tokenizers` from the world's titles and train-period queries.

# %% tags=["hide-input"]
bibert = ex.bibert()
q_params = {id(p) for p in bibert.query_bert.parameters()}
shared = q_params & {id(p) for p in bibert.product_bert.parameters()}
n_all = sum(p.numel() for p in bibert.parameters())
n_shared = sum(p.numel() for p in bibert.query_bert.parameters() if id(p) in shared)
c = bibert.config
display(Markdown(f"BiBERT on preset `{preset}`: {n_all:,} parameters, {n_shared:,} of them shared by "
                 f"the two towers; hidden size {c.hidden_size}, {c.num_layers} layers, "
                 f"{c.num_heads} heads, embeddings of {c.embed_dim} dimensions."))

# %% [markdown]
# ## The world
#
# No public dataset or pretrained weight can be downloaded where this book is built, so every number comes from a
# synthetic world the package generates from a seed (see the data card). Titles state the colour and the pattern
# of most products but not all (a calibrated share); images always show them. Queries use the shopper's words.

# %% tags=["remove-input"]
_ = figures.show("world-tour", ex)

# %% [markdown]
# ```{glue:figure} world-tour
# :alt: Two rows of small product pictures: top, six catalog images with their titles; bottom, three query photos, each beside the catalog image of the product it is a photo of.
# :name: fig-world-tour
#
# Products of the world (top) and three query photos, each beside the product it is a photo of (bottom).
# Look at each title beside its picture: where a title leaves out the colour or the pattern that the image
# shows, a product image can add to a text-only retriever.
# ```

# %% tags=["hide-input"]
world = ex.catalog
sample = world.purchases.merge(world.queries[["query_id", "query"]], on="query_id").head(6)
sample["purchased title"] = world.products["title"].iloc[sample["product_id"]].to_numpy()
display(sample[["query", "purchased title", "split"]].set_index("query"))

# %% [markdown]
# ### Table 1 for our world
#
# Pairs (query, purchased product), distinct queries and distinct products per period, ours above the paper's;
# the eval period searches the whole catalog, as the paper's eval set does.

# %% tags=["hide-input"]
display(views.table1(world))

# %% [markdown]
# ### What recall@100 measures in this world
#
# Recall@100 counts purchases found in a top 100, so what it rewards depends on the catalog: how many products
# each kind has against those 100 slots, how often an eval purchase is a product already bought in the train
# months, how often it is among the few most popular of its kind, and whether the title already says what the
# image shows. The paper gives none of these figures for its data ("—"); they are where the world can differ
# from Amazon's without the two baselines noticing.

# %% tags=["hide-input"]
display(views.regime(tables.regime(world, ex.preset.k)))

# %% [markdown]
# ### The world's mechanisms
#
# Every mechanism a claim can turn on is a named setting of the world (`mmpaper.data.world.WorldConfig`), listed
# here with its value in this preset's world; the data card says how each was chosen. Seen negatives follow the
# paper's definition: products the shop's lexical matcher (BM25 over titles) returned for a query and the query did
# not buy in the train months, at most three per query and never filled in; no eval-month information reaches any
# training table.

# %% tags=["hide-input"]
display(views.mechanisms(world.config, MECHANISMS))

# %% [markdown]
# ## Calibration: the world against the paper's two baselines
#
# The world is calibrated like a simulation study, on its control arms only: the two single-modality rows of
# Table 2 (BiBERT and zero-shot CLIP: recall@100, E, S, C, I) and Table 1's shape (purchases per distinct query).
# A search over the world's settings (`python -m mmpaper calibrate`) trains only those two baselines for each
# candidate and keeps the setting closest to the paper's rows, within a tolerance, on several seeds. Three
# further choices were judged on those two rows and nothing else: the stage-0 CLIP's size, caption corpus and
# budget; the everyday words its captions use for each kind; and training BiBERT until its validation recall
# stops rising. The synthetic world's data card (appendix) gives each one with the numbers that moved it. Every
# trained model, BiBERT and the nine multimodal rows alike, is evaluated at its epoch of best validation recall.
#
# **Not calibrated, by design:** the nine multimodal rows of Table 2, Tables 3 and 4, and every claim. They are
# outcomes of the world and are never used to set it, so a claim that fails on a calibrated world is a finding,
# not a tuning error. The record below is read from `data_cards/calibration_<world>.json`.

# %% tags=["remove-input"]
record = records.load_calibration(ex.preset.world)
display(Markdown(narrative.calibration_text(record, ex.preset.world)))
if record is not None and record.get("achieved"):
    display(views.calibration_table(record))
if record is not None and record.get("chosen"):
    display(Markdown("Settings the search chose (now the preset's defaults):"))
    display(views.calibration_chosen(record))

# %% [markdown]
# ## What this shows

# %% tags=["remove-input"]
display(Markdown(narrative.preliminaries_text(world.table1(), record, ex.preset.name)))
