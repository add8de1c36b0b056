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
# # Experiments: Table 2
#
# Every row of the paper's Table 2, trained and evaluated by this book: purchase recall@100 and the share of
# the top-100 labelled Exact, Substitute, Complement and Irrelevant, ours beside the paper's. Our world is far
# smaller than the paper's (see Table 1 in the preliminaries), so the comparison is in kind, not in value: the
# second table sets each row against BiBERT, ours and the paper's.

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
import pandas as pd
from IPython.display import Markdown, display
from mmpaper import figures
from mmpaper.book import open_experiment
from mmpaper.paper import VARIANTS, variant_label
from mmpaper.report import narrative, tables, views
ex = open_experiment(preset, runs_dir, "table2,controls")  # this chapter's runs: reused, or trained when missing

# %% [markdown]
# ## Table 2, ours and the paper's
#
# Which parts each row trains:

# %% tags=["hide-input"]
t2 = tables.table2(ex)
display(views.switches(t2.index))

# %% [markdown]
# Recall@100 and label precision (%), our row above the paper's:

# %% tags=["hide-input"]
display(views.table2(t2))

# %% [markdown]
# ## Control rows: what recall measures here
#
# Three rows that are not the paper's, computed by the same evaluation and never part of a claim. The two oracles
# rank each eval query's *true* category (which no model sees), by the products' true popularity or at random;
# the third is BiBERT trained with the same seen negatives as the multimodal rows, and no image.

# %% tags=["hide-input"]
controls = tables.controls(ex)
display(views.table2(controls).xs("ours", level="source"))
display(Markdown(narrative.controls_text(t2, controls)))

# %% [markdown]
# The comparison in kind: each row minus BiBERT, in %-points, ours above the paper's.

# %% tags=["hide-input"]
display(views.table2_delta(t2))

# %% tags=["remove-input"]
_ = figures.show("table2-recall-exact", ex)

# %% [markdown]
# ```{glue:figure} table2-recall-exact
# :alt: Two panels, one row per multimodal Table 2 model: left its recall@100 minus BiBERT's, right its Exact share minus BiBERT's, in percentage points; ours a dot with its 95% interval, the paper's a hollow diamond, a vertical line at zero.
# :name: fig-table2-recall-exact
#
# Each multimodal row minus BiBERT, in percentage points: recall@100 (left) and the Exact share (right); ours a
# dot with its 95% paired-bootstrap interval, the paper's a hollow diamond. Look at which side of the zero line
# each dot sits and whether its interval crosses it, beside where the paper's diamond sits.
# ```

# %% tags=["remove-input"]
_ = figures.show("table2-label-mix", ex)

# %% [markdown]
# ```{glue:figure} table2-label-mix
# :alt: Three panels, one row per multimodal Table 2 model: its Substitute, Complement and Irrelevant shares minus BiBERT's, in percentage points; ours a dot with its 95% interval, the paper's a hollow diamond.
# :name: fig-table2-label-mix
#
# The rest of the label mix, each row minus BiBERT: the Substitute, Complement and Irrelevant shares of the
# top-100 (percentage points), ours with 95% intervals, the paper's as diamonds. Look at the Irrelevant panel: a
# model that fuses the image well moves left of zero there.
# ```

# %% [markdown]
# ## The effect of seen negatives
#
# Adding 3 seen negatives per query (products matched to it but not bought), in %-points, ours above the
# paper's:

# %% tags=["hide-input"]
display(views.seen_negative_effect(t2))

# %% [markdown]
# ## Training budgets
#
# Every trained row, BiBERT and the controls included, trains under one maximum number of epochs and stops when
# its validation recall (held-out train-period queries) has not improved for `patience` epochs; the epoch with the
# best validation recall is the one evaluated.

# %% tags=["hide-input"]
trained = [n for n in [*VARIANTS, "bibert-seenneg"] if ex.result(n).metrics.get("epochs")]
display(views.budgets({n: ex.result(n).metrics for n in trained}, ex.preset.max_epochs, ex.preset.patience))

# %% [markdown]
# Training and evaluation time per variant on the machine that built this book (seconds), as recorded in each
# run directory:

# %% tags=["hide-input"]
times = pd.DataFrame({n: {k: ex.result(n).metrics[k] for k in ("train_seconds", "eval_seconds")}
                      for n in VARIANTS}).T
times.index = [variant_label(n) for n in times.index]
display(views.formatted(times.rename(columns={"train_seconds": "train (s)",
                                              "eval_seconds": "eval (s)"})))

# %% [markdown]
# ## What this shows

# %% tags=["remove-input"]
display(Markdown(narrative.experiments_text(t2, controls)))
