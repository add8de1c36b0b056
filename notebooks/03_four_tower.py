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
# # The 4-tower model (4tMM)
#
# Eq. 2: $e_q = F_q(f_q(q), g_t(q))$, $e_d = F_d(f_d(d_{text}), g_i(d_{image}))$ with three fusions
# (`mmpaper.fusion`):
#
# * Eq. 3, concat $F(x, y) = [x; y]$ with both parts L2-normalised, so the score is the sum of the BiBERT cosine
#   and the CLIP cosine;
# * Eq. 4, α-concat $F(x, y) = [\alpha x; (1-\alpha) y]$, scoring $\alpha^2\cos_{BiBERT} + (1-\alpha)^2\cos_{CLIP}$;
# * MLP fusion $F(x, y) = \mathrm{MLP}([x; y])$, separate weights for the query and the product side.
#
# Training switches: *train MLP* (BiBERT and CLIP frozen), *tune BiBERT* + MLP jointly, and *seen negatives*.

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

# %% [markdown]
# ## Choosing α on validation data
#
# α is chosen on held-out train-period queries, never on the eval period.

# %%
import json
alpha_file = ex.runs_dir / "alpha" / ex.stage_hash("alpha") / "alpha.json"
alpha = json.loads(alpha_file.read_text())
fig = plots.alpha_curve(alpha["validation_recall"], alpha["alpha"])

# %%
names = ["bibert", "4tmm-cat", "4tmm-acat", "4tmm-mlp", "4tmm-joint", "4tmm-joint-seenneg", "4tmm-mlp-seenneg"]
t2 = report.table2(ex, names)
display(t2[["tune BiBERT", "train MLP", "seen neg", "R@100", "E", "S", "C", "I", "paper R@100", "paper E"]])

# %%
fig = plots.retrieved_examples(ex, ["bibert", "4tmm-cat", "4tmm-joint"], n_queries=2)
