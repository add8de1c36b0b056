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
# # Reproduction report
#
# Each claim of the two papers, checked on this book's own runs. The verdicts are computed from the run
# directories each time the book is built; nothing here is typed in. A claim that does not hold is a finding about
# our world, not a correction of the paper: the world is small, synthetic, designed (see the data card) and
# calibrated only on the two single-modality baselines, and the towers are tiny.
#
# For each claim: the claim in the paper's words, the rule applied to our runs, our effect with its interval and the
# smallest effect our eval set can resolve, the paper's own value, the verdict (holds / does not hold /
# inconclusive; a failing part says which way) and one sentence of why; then, from a recorded ensemble of worlds
# that all reproduce the paper's two baselines, in how many of them the claim holds and what it turns on.

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
from mmpaper.report import ensemble, narrative, records, tables, views
from mmpaper.report.claims import claim_definitions
from mmpaper.report.judge import N_RESAMPLES
import pandas as pd
pd.set_option("display.max_colwidth", None)  # claims are sentences: never cut them short
ex = open_experiment(preset, runs_dir, "all")  # this chapter's runs: reused, or trained when missing
claims = tables.claims(ex)
record = records.load_robustness(preset)  # the recorded ensemble of baseline-consistent worlds
book_verdicts = claims.groupby("claim_id", sort=False)["claim_verdict"].first().to_dict()
across = ensemble.summary(record, book_verdicts, {c.id: c.text for c in claim_definitions()}) if record else None

# %% [markdown]
# ## How the report judges

# %% tags=["remove-input"]
display(Markdown(narrative.method_text(claims, N_RESAMPLES)))

# %% [markdown]
# ## The verdicts at a glance
#
# Each claim's verdict on this book's own world and, from the recorded ensemble below, in how many of the worlds
# that reproduce the paper's two baselines it holds, and which property of the world it turns on.

# %% tags=["hide-input"]
if record and not record.get("finished"):
    display(Markdown(narrative.ensemble_unfinished_text(record)))
display(views.claims_summary(claims, across))

# %% [markdown]
# ## Claim by claim

# %% tags=["remove-input"]
display(Markdown(narrative.claim_sections(claims, across)))

# %% [markdown]
# ## Across worlds: which claims the paper's baselines decide
#
# One calibrated world turns every choice its calibration could not pin down into a verdict. The ensemble below
# varies those choices — the image gap, popularity strength, where seen negatives come from — each world
# calibrated on the two baselines with its corner held, and judges every claim in each.

# %% tags=["remove-input"]
display(Markdown(narrative.ensemble_text(record, preset)))
_ = figures.show("verdict-grid", ex)

# %% [markdown]
# ```{glue:figure} verdict-grid
# :alt: A grid with one row per claim and one column per world of the ensemble; each cell is green with a check mark where the claim holds, red with a cross where it does not, grey with a question mark where it is inconclusive, white for the claim set by the calibration.
# :name: fig-verdict-grid
#
# Each claim (rows) in each baseline-consistent world (columns, named by their corner: image gap, popularity
# strength, source of seen negatives). Look at each row across the columns: all green, the claim follows from the
# paper's baselines; mixed, the column labels where it changes name the setting that decides it.
# ```

# %% tags=["hide-input"]
if across is not None:
    display(views.ensemble(across))

# %% [markdown]
# Each part's effect across the worlds (mean, lowest and highest) beside the paper's value:

# %% tags=["hide-input", "hide-output"]
if record is not None:
    display(views.ensemble_effects(ensemble.pooled_effects(record)))

# %% [markdown]
# ## Three seeds (recorded)
#
# One seed can decide a verdict that sits near its rule's boundary. The whole study was therefore run on three
# seeds of the book's own world, each with a new world and new training; the record below is the last such run.

# %% tags=["remove-input"]
recorded = records.load_seed_sweep(preset)
display(Markdown(narrative.seed_sweep_text(recorded[0] if recorded else None, preset)))
if recorded:
    display(views.seed_sweep_table(recorded[1]))
recorded_parts = records.load_seed_sweep_parts(preset)
if recorded_parts is not None:  # the effects behind those verdicts, pooled over the seeds
    display(Markdown("Each claim part's effect pooled over the three seeds (the mean of the seeds' paired effects, "
                     "its interval from their bootstrap standard errors), and how far the seeds' own effects spread:"))
    display(views.seed_sweep_effects(recorded_parts))

# %% [markdown]
# ## What this shows

# %% tags=["remove-input"]
display(Markdown(narrative.reproduction_text(claims, ex.preset.name, across)))
