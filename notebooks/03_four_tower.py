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
# Training switches: *train MLP* (BiBERT and CLIP frozen), *tune BiBERT* + MLP jointly ("joint"), and
# *seen negatives*.

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
from mmpaper.paper import FOUR_TOWER_ROWS
from mmpaper.report import narrative, tables, views
ex = open_experiment(preset, runs_dir, ["bibert", "4tmm-cat", "4tmm-acat", "4tmm-mlp", "4tmm-joint", "4tmm-joint-seenneg",
                                                "4tmm-mlp-seenneg"])  # this chapter's runs: reused, or trained when missing

# %% [markdown]
# ## Choosing α on validation data
#
# α is chosen on held-out train-period queries, never on the eval period.

# %% tags=["remove-input"]
_ = figures.show("alpha-curve", ex)

# %% [markdown]
# ```{glue:figure} alpha-curve
# :alt: A line of validation recall@100 against α from 0.1 to 0.9, with a dashed vertical line at the chosen α.
# :name: fig-alpha-curve
#
# Validation recall@100 of α-concat (Eq. 4) for each α on the grid. Look at where the curve peaks: the dashed
# line is the α used for the eval run, chosen on validation queries only.
# ```

# %% [markdown]
# ## The 4tMM rows of Table 2
#
# Which parts each row trains, then recall@100 and label precision, ours above the paper's:

# %% tags=["hide-input"]
names = ["bibert", "4tmm-cat", "4tmm-acat", "4tmm-mlp", "4tmm-joint", "4tmm-joint-seenneg",
         "4tmm-mlp-seenneg"]
t2 = tables.table2(ex, names)
display(views.switches(names))
display(views.table2(t2))

# %% tags=["remove-input"]
_ = figures.show("four-tower-examples", ex)

# %% [markdown]
# ```{glue:figure} four-tower-examples
# :alt: For two eval queries where 4tMM joint's first five hold more Exact products than BiBERT's, the first five products of BiBERT, 4tMM cat and 4tMM joint, framed by label; a star marks a purchase.
# :name: fig-four-tower-examples
#
# The first five products of BiBERT, 4tMM cat and 4tMM joint for the two eval queries where 4tMM joint's first
# five gain the most Exact products over BiBERT's (and a purchase, ★, is among one of the rows). Look at how the
# frames turn green (Exact) from the BiBERT row to the joint row.
# ```

# %% [markdown]
# ## What this shows

# %% tags=["remove-input"]
display(Markdown(narrative.four_tower_text(tables.table2(ex, ["bibert", *FOUR_TOWER_ROWS]))))
