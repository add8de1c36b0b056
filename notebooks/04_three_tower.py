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
# # The 3-tower model (3tMM)
#
# Eq. 5: $e_q = F_q(f_q(q))$, $e_d = F_d(f_d(d_{text}), g_i(d_{image}))$. Without CLIP's text tower the query
# never enters CLIP's space, so the product-side MLP alone must align CLIP's image space with BiBERT's text space.
# Comparing it with 4tMM measures how much of that misalignment fine-tuning can close.

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
from mmpaper import report
from mmpaper.book import open_experiment
ex = open_experiment(preset, runs_dir)  # reuses every finished run directory; trains only what is missing

# %%
pairs = [("joint", "4tmm-joint", "3tmm-joint"), ("joint + seen neg", "4tmm-joint-seenneg", "3tmm-joint-seenneg"),
         ("MLP + seen neg", "4tmm-mlp-seenneg", "3tmm-mlp-seenneg")]
t2 = report.table2(ex)
import pandas as pd
rows = [{"training": lbl, "4tMM R@100": t2.loc[a, "R@100"], "3tMM R@100": t2.loc[b, "R@100"],
         "4tMM E": t2.loc[a, "E"], "3tMM E": t2.loc[b, "E"], "paper 4tMM R@100": t2.loc[a, "paper R@100"],
         "paper 3tMM R@100": t2.loc[b, "paper R@100"]} for lbl, a, b in pairs]
cmp = pd.DataFrame(rows).set_index("training")
display(cmp)

# %%
import matplotlib.pyplot as plt
ax = cmp[["4tMM R@100", "3tMM R@100", "paper 4tMM R@100", "paper 3tMM R@100"]].plot.bar(figsize=(8, 4), rot=0)
ax.set_ylabel("recall@100 (%)")
ax.legend(loc="lower right")
plt.tight_layout()
