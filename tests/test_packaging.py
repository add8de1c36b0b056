"""The conda environment and pyproject.toml list the same dependencies."""
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_agrees_with_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pip = [d for d in pip if not d.startswith("-e")]
    assert {_name(d): d.replace(" ", "") for d in pip} == {_name(d): d.replace(" ", "") for d in deps}


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme


# ------------------------------------------------------------------------------------- Python 3.10 to 3.13
def _requirements(extra_gpu: bool = False) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
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
@pytest.mark.parametrize("python,gpu", [("3.10", False), ("3.13", False), ("3.13", True)])
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


def test_every_chapter_has_the_same_colab_cell_installing_from_config_repository():
    cells = _colab_cells()
    assert len(cells) >= 9 and len(set(cells.values())) == 1, "the chapters' Colab cells differ"
    source = next(iter(cells.values()))
    repo = _config()["repository"]
    match = re.search(r'^REPOSITORY, REF = "([^"]+)", "([^"]+)"$', source, re.M)
    assert match and match.groups() == (repo["url"], repo["branch"]), \
        f"Colab cell installs from {match and match.groups()}, _config.yml names {repo['url']} at {repo['branch']}"
    assert "-e " not in source and "--editable" not in source       # Colab needs a restart after -e
    assert 'run_line_magic("pip"' in source and "subprocess.run([sys.executable" not in source


def _run_colab_cell(monkeypatch, tmp_path, *, gpu: bool, colab: bool = True, env=None):
    """Execute the Colab cell with a stand-in IPython that records each %pip line instead of running it."""
    import os
    import sys
    import types

    calls = []
    bin_dir = tmp_path / ("gpu-bin" if gpu else "bin")
    bin_dir.mkdir(exist_ok=True)
    if gpu:  # a runtime with a GPU has a working nvidia-smi
        smi = bin_dir / "nvidia-smi"
        smi.write_text("#!/bin/sh\necho 'GPU 0: Tesla T4'\n")
        smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("MMPAPER_COLAB", raising=False)
    monkeypatch.delenv("MMPAPER_REF", raising=False)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    shell = types.SimpleNamespace(run_line_magic=lambda magic, line: calls.append((magic, line)))
    exec(compile(next(iter(_colab_cells().values())), "colab_cell", "exec"), {"get_ipython": lambda: shell})
    assert os.environ["PATH"] == str(bin_dir)
    return calls


def test_colab_cell_on_a_gpu_runtime_installs_faiss_gpu_only_and_keeps_torch(monkeypatch, tmp_path):
    calls = _run_colab_cell(monkeypatch, tmp_path, gpu=True)
    repo = _config()["repository"]
    assert calls[0] == ("pip", f"install -q --no-deps mmpaper@git+{repo['url']}@{repo['branch']}")
    lines = [line for magic, line in calls]
    assert "uninstall -q -y faiss-cpu" in lines                      # faiss-cpu is installed here: it goes
    install = lines[-1]
    # the gpu extra of the installed package's metadata (in Colab the fresh install: pyproject's faiss-gpu)
    import importlib.metadata

    gpu_faiss = next(r for r in importlib.metadata.requires("mmpaper") if 'extra == "gpu"' in r).split(";")[0]
    assert install.startswith("install -q ") and f'"{gpu_faiss}"' in install and "faiss-cpu" not in install
    assert '"torch' not in install                                 # the torch already here satisfies >=2.4


def test_colab_cell_on_a_cpu_runtime_installs_faiss_cpu_and_can_be_pinned(monkeypatch, tmp_path):
    calls = _run_colab_cell(monkeypatch, tmp_path, gpu=False, env={"MMPAPER_REF": "v1.0"})
    assert calls[0][1].endswith("@v1.0")
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
    assert printed[0].startswith("%pip install -q --no-deps mmpaper@git+") and "faiss-cpu" in printed[-1]


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
    assert ex.preset == replace(presets.PRESETS["cpu"], name="colab", accelerator="auto")
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
