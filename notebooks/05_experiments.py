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
# # Experiments: Table 2
#
# Every row of the paper's Table 2, trained and evaluated by this book: purchase recall@100 and the share of
# the top-100 labelled Exact, Substitute, Complement and Irrelevant, ours beside the paper's. Our world is far
# smaller than the paper's (see Table 1 in the preliminaries), so the comparison is in kind, not in value.

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
t2 = report.table2(ex)
display(t2)

# %%
fig = plots.recall_precision(t2)

# %%
fig = plots.label_mix(t2)

# %% [markdown]
# ## The effect of seen negatives

# %%
import pandas as pd
effect = pd.DataFrame([{"pair": f"{b} → {a}", "ΔR@100": t2.loc[a, "R@100"] - t2.loc[b, "R@100"],
                        "ΔE": t2.loc[a, "E"] - t2.loc[b, "E"], "ΔI": t2.loc[a, "I"] - t2.loc[b, "I"],
                        "paper ΔR@100": t2.loc[a, "paper R@100"] - t2.loc[b, "paper R@100"],
                        "paper ΔE": t2.loc[a, "paper E"] - t2.loc[b, "paper E"]}
                       for a, b in [("4tmm-joint-seenneg", "4tmm-joint"), ("4tmm-mlp-seenneg", "4tmm-mlp"),
                                    ("3tmm-joint-seenneg", "3tmm-joint")]]).set_index("pair").round(1)
display(effect)

# %% [markdown]
# Training time per variant on this machine (seconds), as recorded in each run directory:

# %%
display(pd.DataFrame({n: {k: round(ex.result(n).metrics[k], 1) for k in ("train_seconds", "eval_seconds")}
                      for n in VARIANTS}).T)
