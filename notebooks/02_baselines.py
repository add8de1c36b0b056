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

# %% tags=["hide-input", "hide-output"]
# Colab setup: in Colab this installs the package with %pip (the book's own runs skip it). REPOSITORY and REF are
# _config.yml's repository.url and repository.branch (tests/test_packaging.py keeps them equal); set MMPAPER_REF to
# a tag or commit to pin another. A suitable preinstalled torch is kept, not reinstalled; FAISS is faiss-gpu-cu12
# on a GPU runtime and faiss-cpu otherwise, never both. MMPAPER_COLAB=1 outside Colab prints the commands only.
import os, sys
REPOSITORY, REF = "https://github.com/mmpaper/mmpaper", "main"
if "google.colab" in sys.modules or os.environ.get("MMPAPER_COLAB"):
    import importlib.metadata as md, shutil, subprocess
    from packaging.requirements import Requirement
    if "google.colab" in sys.modules:
        pip = lambda line: get_ipython().run_line_magic("pip", line)  # noqa: E731, F821 - %pip in the kernel
    else:
        pip = lambda line: print("%pip", line)  # noqa: E731
    def present(req):
        try:
            return req.specifier.contains(md.version(req.name), prereleases=True)
        except md.PackageNotFoundError:
            return False
    gpu = bool(shutil.which("nvidia-smi")) and subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0
    pip(f"install -q --no-deps mmpaper@git+{REPOSITORY}@{os.environ.get('MMPAPER_REF', REF)}")
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
from mmpaper.provenance import machine_line
from mmpaper.report import narrative, records, tables, views
ex = open_experiment(preset, runs_dir, ["bibert", "clip"])  # this chapter's runs: reused, or trained when missing

# %% [markdown]
# Purchase recall@100 and the share of the top-100 labelled Exact, Substitute, Complement and Irrelevant, ours
# above the paper's:

# %% tags=["hide-input"]
t2 = tables.table2(ex, ["bibert", "clip"])
display(views.table2(t2))

# %% tags=["remove-input"]
display(Markdown(narrative.record_vs_build_text(records.load_calibration(ex.preset.world), t2, ex.preset.seed,
                                                machine_line())))

# %% [markdown]
# What each retrieves for a few eval queries: BiBERT can only match words; CLIP sees colour, pattern and
# shape, knows no brand or material, and knows the shop's kinds only by the words of its pretraining captions
# (everyday words such as "cable" for a charger and "mat" for a yoga mat, sometimes the catalog's or the
# shoppers' words, sometimes only the shape).

# %% tags=["remove-input"]
_ = figures.show("baseline-examples", ex)

# %% [markdown]
# ```{glue:figure} baseline-examples
# :alt: For three eval queries that ask for a colour, the first five products BiBERT retrieves (a purchase among them, marked with a star) and the first five zero-shot CLIP retrieves (Exact products, no purchase), each framed by its label.
# :name: fig-baseline-examples
#
# Three eval queries that ask for a colour, chosen where BiBERT's first five hold a purchase (★) and zero-shot
# CLIP's hold Exact products (the right kind in the asked colour) but no purchase, most CLIP Exact first; a note
# above the grid says when fewer queries meet that. Look at the frames: CLIP finds the kind and the colour from
# the picture, BiBERT the product shoppers bought.
# ```

# %% [markdown]
# ## What this shows

# %% tags=["remove-input"]
display(Markdown(narrative.baselines_text(t2)))
