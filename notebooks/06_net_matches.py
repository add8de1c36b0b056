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
# # Net-match analysis: Tables 3 and 4
#
# Does a multimodal model find anything BiBERT does not? Table 3 counts, per query, how many of a model's top-100
# are also in BiBERT's top-100. Table 4 looks at the *net predictions*, a model's top-100 minus BiBERT's: how many
# there are, how many purchases they recover (net recall) and how they are labelled (`mmpaper.metrics.net_matches`).

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
from mmpaper.experiments import VARIANTS
from mmpaper import plots, report
from mmpaper.book import open_experiment
ex = open_experiment(preset, runs_dir)  # reuses every finished run directory; trains only what is missing

# %%
display(report.table3(ex))

# %%
fig = plots.overlap_distribution(ex, [n for n in VARIANTS if n != "bibert"])

# %%
display(report.table4(ex))

# %% [markdown]
# Examples of net matches: products 4tMM cat retrieves that BiBERT's top-100 misses.

# %%
fig = plots.retrieved_examples(ex, ["4tmm-cat"], n_queries=3, seed=3)
