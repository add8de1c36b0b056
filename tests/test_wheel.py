"""The package as Colab gets it: the wheel, built from this checkout and installed without ``-e`` into a fresh
virtual environment with only its runtime dependencies (at the lock's versions, plus the ipykernel every Jupyter
runtime has), runs chapters with papermill on the smoke preset and shows the recorded results it ships.

Minutes (torch goes into the new environment), so it is opt-in: ``make test-wheel`` (``-m wheel``); ``.ci/run``
runs it."""
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK_TOOLS = {"papermill", "jupyter-book", "jupytext", "django-static-mathjax", "ghp-import", "pytest", "sphinx"}

pytestmark = pytest.mark.wheel


def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _locked(name: str) -> str:
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.startswith(f"{name}==") and ";" not in line.split("#")[0]:
            return line.split("#")[0].strip()
    raise AssertionError(f"requirements.lock pins no {name}")


def test_the_wheel_installs_alone_and_runs_chapters_with_papermill(tmp_path):
    times = {}
    t0 = time.perf_counter()
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    clean.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MMPAPER_CACHE=str(tmp_path / "cache"),
                 TOKENIZERS_PARALLELISM="false", JUPYTER_PATH=str(tmp_path / "jupyter"))
    # setuptools builds in the checkout's build/, and never removes a module deleted since: start and end without it
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    try:
        _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path / "dist", ROOT], env=clean)
    finally:
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    [wheel] = (tmp_path / "dist").glob("mmpaper-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("mmpaper/recorded/seed_sweeps/claims_seeds_cpu.json", "mmpaper/recorded/seed_sweeps/claims_seeds_cpu.csv",
                    "mmpaper/recorded/benchmarks/eval.json", "mmpaper/recorded/calibration/calibration_cpu.json",
                    "mmpaper/book/launch.py", "mmpaper/data/esci_manifest.json",
                    "mmpaper/clip_configs/mmpaper-tiny-clip.json"):
        assert shipped in names, shipped
    assert not any(n.startswith(("tests/", "notebooks/", "book/")) for n in names)
    times["wheel"] = time.perf_counter() - t0

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    # torch and torchvision together at the lock's versions (on this machine pip takes both from its disk)
    _run([py, "-m", "pip", "install", "-q", _locked("torch"), _locked("torchvision")], env=clean)
    _run([py, "-m", "pip", "install", "-q", wheel, "ipykernel", "-c", ROOT / "requirements.lock"], env=clean)
    times["install"] = time.perf_counter() - t0 - times["wheel"]
    installed = {d["name"].lower().replace("_", "-")
                 for d in json.loads(_run([py, "-m", "pip", "list", "--format=json"], env=clean).stdout)}
    assert "mmpaper" in installed and not installed & BOOK_TOOLS, installed & BOOK_TOOLS

    probe = _run([py, "-c", "import json, mmpaper, mmpaper.book, mmpaper.paths as p; print(json.dumps({"
                  "'file': mmpaper.__file__, 'checkout': p.in_checkout(), "
                  "'sweep': (p.recorded_dir() / 'claims_seeds_cpu.json').is_file(), "
                  "'calibration': p.calibration_record('cpu').is_file(), "
                  "'bench': sorted(f.name for f in p.benchmark_results().glob('*.json'))}))"],
                 env=clean, cwd=tmp_path).stdout
    found = json.loads(probe)
    assert found["file"].startswith(str(venv)) and not found["checkout"]
    assert found["sweep"] and found["calibration"] and "eval.json" in found["bench"]

    kernel = tmp_path / "jupyter" / "kernels" / "mmpaper-wheel"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({"argv": [str(py), "-m", "ipykernel_launcher", "-f",
                                                             "{connection_file}"],
                                                    "display_name": "mmpaper wheel", "language": "python"}))
    for chapter, shows in (("09_benchmarks", "Evaluation at paper scale"),
                           ("02_baselines", "BiBERT finds")):
        t1 = time.perf_counter()
        out = tmp_path / f"{chapter}.ipynb"
        _run([sys.executable, "-m", "papermill", ROOT / "notebooks" / f"{chapter}.ipynb", out, "-k", "mmpaper-wheel",
              "-p", "preset", "smoke", "-p", "runs_dir", tmp_path / "runs", "--cwd", tmp_path, "--no-progress-bar"],
             env=clean, cwd=tmp_path)
        outputs = [o for c in json.loads(out.read_text())["cells"] for o in c.get("outputs", [])]
        assert not [o for o in outputs if o["output_type"] == "error"], chapter
        shown = json.dumps(outputs)
        assert shows in shown, chapter
        assert "No recorded results yet" not in shown, chapter     # the recorded results came with the wheel
        times[chapter] = time.perf_counter() - t1
    print("wheel test seconds:", {k: round(v) for k, v in times.items()}, "total", round(time.perf_counter() - t0))
