"""Packaging: the conda environment, the lock and pyproject.toml agree; the Python versions are told the same way
everywhere; the dependencies resolve for Colab's Python; the wheel lists every package and ships the recorded
results; the chapters' Colab cell installs only a pinned release and fails closed."""
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_environment_yml_agrees_with_pyproject_and_has_the_book_and_test_extras():
    project = _project()
    deps = project["dependencies"] + project["optional-dependencies"]["book"] + project["optional-dependencies"]["dev"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] and env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "pip" in conda                                    # conda needs pip listed to run the pip section
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip[-1] == "-e ."
    pip = [d for d in pip if not d.startswith("-e")]
    assert {_name(d): d.replace(" ", "") for d in pip} == {_name(d): d.replace(" ", "") for d in deps}
    assert {"pytest", "papermill", "jupyter-book"} <= {_name(d) for d in pip}


def test_the_book_tools_are_an_extra_not_what_a_chapter_needs():
    project = _project()
    runtime = {_name(d) for d in project["dependencies"]}
    book = {_name(d) for d in project["optional-dependencies"]["book"]}
    assert {"papermill", "jupytext", "jupyter-book", "django-static-mathjax", "ghp-import"} <= book
    assert not runtime & (book | {"pytest", "sphinx", "optuna-dashboard"})
    assert {"torch", "faiss-cpu", "open-clip-torch", "pytorch-lightning", "ipython", "pyyaml"} <= runtime


# ------------------------------------------------------------------------------------- Python versions
def test_python_versions_are_told_the_same_way_everywhere():
    """requires-python, the classifiers, environment.yml and the README say 3.11 to 3.13 (no 3.10 interpreter
    can run the tests here, so none is claimed)."""
    project = _project()
    assert project["requires-python"] == ">=3.11,<3.14"
    classified = sorted(c.rsplit(":: ", 1)[1] for c in project["classifiers"]
                        if c.startswith("Programming Language :: Python :: 3."))
    assert classified == ["3.11", "3.12", "3.13"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python>=3.11,<3.14" in env["dependencies"]
    readme = (ROOT / "README.md").read_text()
    assert "Python 3.11–3.13" in readme and "3.10" not in readme


# ------------------------------------------------------------------------------------------- the lock
def _lock() -> dict[str, list[tuple[str, str]]]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            req, _, marker = line.partition(";")
            name, _, version = req.strip().partition("==")
            assert version, f"requirements.lock: {line!r} is not an exact pin"
            pins.setdefault(name.lower().replace("_", "-"), []).append((version.strip(), marker.strip()))
    return pins


def test_the_lock_pins_every_declared_package_within_its_range():
    from packaging.requirements import Requirement

    project = _project()
    pins = _lock()
    for req in map(Requirement, project["dependencies"] + project["optional-dependencies"]["book"]
                   + project["optional-dependencies"]["dev"]):
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"requirements.lock has no pin for {name} (make lock)"
        for version, _ in pins[name]:
            assert req.specifier.contains(version, prereleases=True), f"{name}=={version} is outside {req.specifier}"
    assert dict(pins["torch"])["2.14.1"] == "" and "torchvision" in pins   # pinned together, every platform
    assert "mmpaper" not in pins


def test_make_book_and_make_test_install_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "LOCK ?= requirements.lock" in makefile and "pip install -q -r $(LOCK)" in makefile
    assert "$(STAMP): pyproject.toml $(LOCK)" in makefile
    assert "uv pip compile pyproject.toml --extra book --extra dev --universal" in makefile


def test_ci_runs_the_readme_test_command_the_wheel_test_and_the_workflow_checks():
    ci = (ROOT / ".ci" / "run").read_text()
    for command in ("make test", "make test-py313", "make check-workflows", "make test-wheel"):
        assert f"\n{command}" in ci, command
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    makefile = (ROOT / "Makefile").read_text()
    assert 'pytest -q -m network tests/test_packaging.py -k "3.13"' in makefile   # both the CPU and the GPU set


# ------------------------------------------------------------------------------------- Python 3.11 to 3.13
def _requirements(extra_gpu: bool = False) -> list[str]:
    project = _project()
    deps = project["dependencies"] + project["optional-dependencies"]["book"] + project["optional-dependencies"]["dev"]
    if extra_gpu:  # what the Colab cell installs on a GPU runtime: faiss-gpu instead of faiss-cpu
        deps = [d for d in deps if _name(d) != "faiss-cpu"] + project["optional-dependencies"]["gpu"]
    return deps


def _registry_reachable() -> str | None:
    import urllib.request

    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=15).close()
        return None
    except OSError as err:
        return f"PyPI is unreachable ({err}); this test resolves the dependencies against the registry"


@pytest.mark.network
@pytest.mark.parametrize("python,gpu", [("3.11", False), ("3.13", False), ("3.13", True)])
def test_every_dependency_resolves_as_wheels_for(python, gpu, tmp_path):
    """pip resolves the whole dependency set (dev extra included) to binary wheels for CPython ``python`` on this
    platform; there is no such interpreter here, so this is a dry run (pip < 24 wants --target with
    --python-version even for one; nothing is written)."""
    import json
    import subprocess
    import sys

    reason = _registry_reachable()
    if reason:
        pytest.skip(reason)
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report),
           "--target", str(tmp_path / "target"), "--python-version", python, "--only-binary=:all:",
           "--ignore-installed", *_requirements(gpu)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert proc.returncode == 0, f"Python {python}: {' '.join(errors) or proc.stderr[-2000:]}"
    installed = {item["metadata"]["name"].lower().replace("_", "-") for item in json.loads(report.read_text())["install"]}
    assert {_name(d) for d in _requirements(gpu)} <= installed
    assert ("faiss-gpu" in installed, "faiss-cpu" in installed) == (gpu, not gpu)
    if gpu:  # faiss-gpu's wheel brings the CUDA 12 runtime it was built against
        assert any(name.startswith("nvidia-") and name.endswith("-cu12") for name in installed), sorted(installed)


# ------------------------------------------------------------------------------------------------- Colab
URL, TAG, COMMIT = "https://github.com/someone/mmpaper", "v0.3.0", "0123456789abcdef0123456789abcdef01234567"


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def _colab_cells() -> dict[str, str]:
    import jupytext

    out = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        cell = next(c for c in jupytext.read(path).cells if c.cell_type == "code")
        assert "hide-output" in cell.metadata.get("tags", []), f"{path.name}: first code cell is not hide-output"
        out[path.name] = cell.source
    return out


def test_every_chapter_has_the_same_colab_cell_naming_the_configured_release():
    from mmpaper.book.launch import CELL_LINE

    cells = _colab_cells()
    assert len(cells) >= 9 and len(set(cells.values())) == 1, "the chapters' Colab cells differ"
    source = next(iter(cells.values()))
    repo = _config()["repository"]
    match = CELL_LINE.search(source)
    assert match and match.groups() == (repo["url"], repo["release_tag"], repo["release_commit"]), \
        f"the Colab cell names {match and match.groups()}, _config.yml {repo}: python -m mmpaper pin-release"
    installs = re.findall(r'pip\(f?"(install[^"]*)"', source)
    assert installs and not any("-e " in i or "--editable" in i for i in installs)  # Colab needs a restart after -e
    assert 'run_line_magic("pip"' in source and "subprocess.run([sys.executable" not in source
    assert "@{COMMIT}" in source and "main" not in source          # an immutable ref, never a branch


def test_no_repository_is_named_yet_so_nothing_points_at_the_placeholder():
    """Until a real owner exists the book names no repository: no file of the book points at the placeholder."""
    from mmpaper.book.launch import PLACEHOLDERS, read_release

    assert read_release().url == "" and _config()["repository"]["url"] == ""
    for path in [ROOT / "_config.yml", ROOT / "README.md", *sorted((ROOT / "notebooks").glob("*.py")),
                 *sorted((ROOT / "book").glob("*.md"))]:
        for placeholder in PLACEHOLDERS:
            assert placeholder.split("//")[1] + "/" not in path.read_text(), f"{path.name} links the placeholder"


def _installed_requires() -> list[str]:
    """What pip writes as mmpaper's Requires-Dist when it installs this checkout (extras behind markers)."""
    project = _project()
    return project["dependencies"] + [f'{r} ; extra == "{extra}"' for extra, reqs in
                                      project["optional-dependencies"].items() for r in reqs]


def _run_colab_cell(monkeypatch, tmp_path, *, gpu: bool, colab: bool = True, env=None, pinned=True,
                    tagged=COMMIT, installed=COMMIT, url=URL):
    """Execute the Colab cell with a stand-in IPython that records each %pip line instead of running it, a
    stand-in git whose ls-remote says the tag points at ``tagged``, and pip's record saying it installed
    ``installed``; ``pinned`` names the release (URL, TAG, COMMIT) the way pin-release writes it."""
    import importlib.metadata
    import json
    import os
    import sys
    import types

    from mmpaper.book.launch import CELL_LINE

    calls = []
    bin_dir = tmp_path / ("gpu-bin" if gpu else "bin")
    bin_dir.mkdir(exist_ok=True)
    if gpu:  # a runtime with a GPU has a working nvidia-smi
        smi = bin_dir / "nvidia-smi"
        smi.write_text("#!/bin/sh\necho 'GPU 0: Tesla T4'\n")
        smi.chmod(0o755)
    git = bin_dir / "git"
    git.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'git.log'}\n"
                   f"printf 'ffffffffffffffffffffffffffffffffffffffff\\trefs/tags/{TAG}\\n"
                   f"{tagged}\\trefs/tags/{TAG}^{{}}\\n'\n")
    git.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("MMPAPER_COLAB", raising=False)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    real_distribution = importlib.metadata.distribution
    record = types.SimpleNamespace(read_text=lambda name: json.dumps(
        {"url": URL, "vcs_info": {"vcs": "git", "commit_id": installed}}) if name == "direct_url.json" else None)
    monkeypatch.setattr(importlib.metadata, "distribution",
                        lambda name: record if name == "mmpaper" else real_distribution(name))
    monkeypatch.setattr(importlib.metadata, "requires",
                        lambda name: _installed_requires() if name == "mmpaper" else [])
    shell = types.SimpleNamespace(run_line_magic=lambda magic, line: calls.append((magic, line)))
    source = next(iter(_colab_cells().values()))
    if pinned:
        source = CELL_LINE.sub(f'REPOSITORY, TAG, COMMIT = "{url}", "{TAG}", "{COMMIT}"', source)
    exec(compile(source, "colab_cell", "exec"), {"get_ipython": lambda: shell})
    assert os.environ["PATH"] == str(bin_dir)
    return calls


def test_colab_cell_with_no_release_named_installs_nothing_and_says_how_to_run_locally(monkeypatch, tmp_path):
    calls = []
    with pytest.raises(RuntimeError, match=r"names no released mmpaper, so it installs nothing.*make book"):
        calls = _run_colab_cell(monkeypatch, tmp_path, gpu=False, pinned=False)
    assert calls == [] and not (tmp_path / "git.log").exists()


def test_colab_cell_refuses_the_placeholder_repository_whatever_its_line_says(monkeypatch, tmp_path):
    from mmpaper.book.launch import PLACEHOLDERS

    for placeholder in PLACEHOLDERS:
        with pytest.raises(RuntimeError, match="installs nothing"):
            _run_colab_cell(monkeypatch, tmp_path, gpu=False, url=placeholder)
    assert not (tmp_path / "git.log").exists()


def test_colab_cell_refuses_a_tag_that_no_longer_points_at_the_release(monkeypatch, tmp_path):
    with pytest.raises(RuntimeError, match=f"tag {TAG} points at 9+, not at {COMMIT}: not installing"):
        _run_colab_cell(monkeypatch, tmp_path, gpu=False, tagged="9" * 40)
    assert f"ls-remote {URL} refs/tags/{TAG}" in (tmp_path / "git.log").read_text()


def test_colab_cell_refuses_what_pip_installed_when_it_is_another_commit(monkeypatch, tmp_path):
    with pytest.raises(RuntimeError, match=f"pip installed a+, not {COMMIT}"):
        _run_colab_cell(monkeypatch, tmp_path, gpu=False, installed="a" * 40)


def test_colab_cell_on_a_gpu_runtime_installs_the_pinned_commit_faiss_gpu_only_and_keeps_torch(monkeypatch, tmp_path):
    calls = _run_colab_cell(monkeypatch, tmp_path, gpu=True)
    assert calls[0] == ("pip", f"install -q --no-deps mmpaper@git+{URL}@{COMMIT}")
    lines = [line for magic, line in calls]
    assert "uninstall -q -y faiss-cpu" in lines                      # faiss-cpu is installed here: it goes
    install = lines[-1]
    gpu_faiss = _project()["optional-dependencies"]["gpu"][0]
    assert install.startswith("install -q ") and f'"{gpu_faiss}"' in install and "faiss-cpu" not in install
    assert '"torch' not in install                                 # the torch already here satisfies >=2.4
    for tool in ("papermill", "jupyter-book", "jupytext", "pytest", "ghp-import"):   # the book's tools stay out
        assert f'"{tool}' not in install, tool


def test_colab_cell_on_a_cpu_runtime_installs_faiss_cpu(monkeypatch, tmp_path):
    calls = _run_colab_cell(monkeypatch, tmp_path, gpu=False)
    assert calls[0][1].endswith(f"@{COMMIT}")
    assert not any("uninstall" in line for _, line in calls)
    assert '"faiss-cpu>=' in calls[-1][1] and "faiss-gpu" not in calls[-1][1]


def test_colab_cell_reinstalls_torch_only_when_the_present_one_is_unsuitable(monkeypatch, tmp_path):
    import importlib.metadata

    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "2.0.0" if name == "torch" else real(name))
    assert '"torch>=2.4"' in _run_colab_cell(monkeypatch, tmp_path, gpu=False)[-1][1]


def test_colab_cell_does_nothing_outside_colab_and_only_prints_when_simulated(monkeypatch, tmp_path, capsys):
    assert _run_colab_cell(monkeypatch, tmp_path, gpu=False, colab=False) == []
    assert capsys.readouterr().out == ""
    assert _run_colab_cell(monkeypatch, tmp_path, gpu=False, colab=False, env={"MMPAPER_COLAB": "1"}) == []
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"%pip install -q --no-deps mmpaper@git+{URL}@{COMMIT}" and "faiss-cpu" in printed[-1]
    assert not (tmp_path / "git.log").exists()                     # a simulation asks no remote


def test_notebooks_ask_colab_for_a_gpu_runtime():
    import json

    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        meta = json.loads(path.read_text())["metadata"]
        assert meta.get("accelerator") == "GPU" and meta["colab"]["gpuType"], path.name


def test_open_experiment_in_colab_says_what_trains_then_trains_only_the_chapters_runs(monkeypatch, tmp_path, capsys):
    from mmpaper.book import open_experiment

    monkeypatch.setenv("MMPAPER_COLAB", "1")
    monkeypatch.setenv("MMPAPER_CACHE", str(tmp_path / "cache"))
    ex = open_experiment("smoke", tmp_path / "runs", variants=["bibert", "clip"])
    out = capsys.readouterr().out
    assert "Colab: preset 'smoke' on CPU" in out and "this chapter reads 2 run(s): bibert, clip" in out
    assert re.search(r"To train now \(about \d+ s on a 2-core CPU \(measured\)\), then reused from .*: "
                     r"stage0-clip, bibert, clip", out)
    assert re.search(r"Trained 3 stage\(s\) in \d+ s\.", out)
    assert ex.result("bibert").metrics and ex.result("clip").metrics
    with pytest.raises(FileNotFoundError):               # nothing the chapter does not read was trained
        ex.result("4tmm-cat")
    open_experiment("smoke", tmp_path / "runs", variants=["bibert", "clip"])
    assert "nothing trains" in capsys.readouterr().out


def test_in_colab_the_cpu_preset_becomes_colab_with_the_automatic_accelerator(monkeypatch, tmp_path):
    from dataclasses import replace

    from mmpaper import book, experiments, presets
    from mmpaper.book import runtime

    monkeypatch.setenv("MMPAPER_COLAB", "1")
    monkeypatch.setattr(runtime, "training_plan", lambda ex, names: [])
    monkeypatch.setattr(experiments.Experiment, "run_all", lambda self, names=None, force=False: {})
    ex = book.open_experiment("cpu", tmp_path / "runs", variants=["bibert"])
    assert ex.preset == replace(presets.PRESETS["cpu"], name="colab", accelerator="auto", row_threads=None)
    monkeypatch.delenv("MMPAPER_COLAB")
    assert book.open_experiment("cpu", tmp_path / "runs", variants=["bibert"]).preset.name == "cpu"


def test_presets_pick_the_accelerator_automatically_unless_pinned_on_purpose():
    from mmpaper.presets import PRESETS, Preset

    assert Preset("new", "cpu").accelerator == "auto"
    assert {name: p.accelerator for name, p in PRESETS.items() if name in ("smoke", "cpu", "gpu", "esci", "colab")} \
        == {"smoke": "cpu", "cpu": "cpu", "gpu": "gpu", "esci": "auto", "colab": "auto"}


def test_the_esci_manifest_ships_with_the_package():
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "esci_manifest.json" in package_data["mmpaper.data"]
    assert (ROOT / "mmpaper" / "data" / "esci_manifest.json").is_file()


# ------------------------------------------------------------------------------- what the wheel carries
def test_the_wheel_lists_every_package_and_ships_the_recorded_results_from_where_they_are_kept():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = set(setuptools["packages"])
    code = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "mmpaper").rglob("__init__.py")}
    assert code <= packages, f"packages missing from pyproject.toml: {code - packages}"
    mapped = setuptools["package-dir"]
    assert packages - code == set(mapped) == {"mmpaper.recorded.seed_sweeps", "mmpaper.recorded.benchmarks",
                                             "mmpaper.recorded.calibration"}
    for package, folder in mapped.items():
        patterns = setuptools["package-data"][package]
        assert all(list((ROOT / folder).glob(pattern)) for pattern in patterns), (package, folder, patterns)


def test_recorded_results_are_read_from_the_checkout_or_else_from_the_package(monkeypatch, tmp_path):
    from mmpaper import paths

    assert paths.in_checkout()
    assert paths.recorded_dir() == ROOT / "book" / "recorded"
    assert paths.benchmark_results() == ROOT / "benchmarks" / "results"
    assert paths.calibration_record("cpu") == ROOT / "data_cards" / "calibration_cpu.json"
    monkeypatch.setattr(paths, "ROOT", tmp_path / "site-packages")   # an installed wheel: no checkout around it
    assert not paths.in_checkout()
    assert paths.recorded_dir() == paths.PACKAGE / "recorded" / "seed_sweeps"
    assert paths.benchmark_results() == paths.PACKAGE / "recorded" / "benchmarks"
    assert paths.calibration_record("cpu") == paths.PACKAGE / "recorded" / "calibration" / "calibration_cpu.json"


def test_chapter_nine_reads_the_benchmarks_through_mmpaper_paths():
    source = (ROOT / "notebooks" / "09_benchmarks.py").read_text()
    assert "benchmark_results()" in source and 'ROOT / "benchmarks"' not in source
