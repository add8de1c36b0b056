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
# # Net-match analysis: Tables 3 and 4
#
# Does a multimodal model find anything BiBERT does not? Table 3 counts, per query, how many of a model's top-100
# are also in BiBERT's top-100. Table 4 looks at the *net predictions*, a model's top-100 minus BiBERT's: how many
# there are, how many purchases they recover (net recall) and how they are labelled (`mmpaper.metrics.net_matches`).

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
from mmpaper.report import narrative, tables, views
ex = open_experiment(preset, runs_dir, "table2")  # this chapter's runs: reused, or trained when missing

# %% [markdown]
# ## Table 3: overlap with BiBERT
#
# The paper's Table 3 lost its row labels when its text was extracted. The mapping used here (CLIP, 4tMM cat,
# 4tMM train MLP, 4tMM joint) is **inferred** from overlap + net ≈ 100 against Table 4, and marked so; "—" where
# the paper has no row.

# %% tags=["hide-input"]
t3 = tables.table3(ex)
display(views.table3(t3))

# %% tags=["remove-input"]
_ = figures.show("overlap", ex)

# %% [markdown]
# ```{glue:figure} overlap
# :alt: Horizontal box plots, one per model, of how many of its top-100 products are also in BiBERT's top-100 per query.
# :name: fig-overlap
#
# Per-query overlap with BiBERT's top-100. Look at where each box sits: far left means the model's list is mostly
# products BiBERT does not return; the spread says how much that varies from query to query.
# ```

# %% [markdown]
# ## Table 4: net predictions
#
# Net predictions per query (mean ± std), net recall (%) and the labels of the net predictions (%), our row above
# the paper's. Net recall is read as the purchases found among the net predictions out of those BiBERT's top-100
# missed, the only reading consistent with the paper's numbers; where the table carries the literal reading too
# (out of all purchases), it is shown beside it, labelled.

# %% tags=["hide-input"]
t4 = tables.table4(ex)
display(views.table4(t4))

# %% tags=["remove-input"]
_ = figures.show("net-examples", ex)

# %% [markdown]
# ```{glue:figure} net-examples
# :alt: For three eval queries with a purchase among them, the best-ranked products in 4tMM cat's top-100 that are not in BiBERT's top-100, with their rank in 4tMM cat, framed by label; a star marks the purchase.
# :name: fig-net-examples
#
# Net matches: products 4tMM cat retrieves that BiBERT's top-100 misses, its best-ranked five, for the three
# eval queries with the most purchases (★) among those five. Look at the frames: green and blue net matches are
# relevant products only the multimodal model finds, and the starred ones were bought.
# ```

# %% [markdown]
# ## What this shows

# %% tags=["remove-input"]
display(Markdown(narrative.net_matches_text(t3, t4, tables.table2(ex, ["bibert"]), ex.preset.k)))
