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
# # Baselines: BiBERT and zero-shot CLIP
#
# BiBERT is trained on train-period purchases with NT-Xent. CLIP is the "public" model: a tiny open_clip model
# pretrained on the world's generic caption corpus (stage 0) and never trained on products. The query goes
# through CLIP's text tower $g_t$, the product image through its image tower $g_i$.

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
