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
# # Baselines: BiBERT and zero-shot CLIP
#
# BiBERT is trained on train-period purchases with NT-Xent. CLIP is the "public" model: a tiny open_clip model
# pretrained on the world's generic caption corpus (stage 0) and never trained on products. The query goes
# through CLIP's text tower $g_t$, the product image through its image tower $g_i$.

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
from mmpaper import plots, report
from mmpaper.book import open_experiment
ex = open_experiment(preset, runs_dir)  # reuses every finished run directory; trains only what is missing

# %%
t2 = report.table2(ex, ["bibert", "clip"])
display(t2[["model", "R@100", "E", "S", "C", "I", "paper R@100", "paper E", "paper S", "paper C", "paper I"]])

# %% [markdown]
# What each retrieves for a few eval queries: BiBERT can only match words, CLIP only sees colour, pattern and
# shape, and knows no brand, material or shop jargon.

# %%
fig = plots.retrieved_examples(ex, ["bibert", "clip"])
