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
# # Reproduction report
#
# Each claim of the paper, checked on this book's own runs. The verdicts are computed from the run directories
# each time the book is built; nothing here is typed in. A "no" is a finding about our world, not a correction of
# the paper: our world is small, synthetic and designed (see the data card), and the towers are tiny.

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
from IPython.display import Markdown, display
from mmpaper import report
from mmpaper.book import open_experiment
ex = open_experiment(preset, runs_dir)  # reuses every finished run directory; trains only what is missing

# %%
import pandas as pd
pd.set_option("display.max_colwidth", None)
claims = report.claims(ex)
display(claims)
held = (claims["holds on our world"] == "yes").sum()
display(Markdown(f"**{held} of {len(claims)} claims hold on our world** (preset `{preset}`)."))
