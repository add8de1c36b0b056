"""The book build's failure messages and its portable chapter keys: a failing chapter names itself, the failing
cell's first line and the exception's last line, and keeps the full traceback on disk; a failing Jupyter Book
render prints the last meaningful lines of its log and keeps the log; a chapter's key holds no absolute path, so a
moved checkout or a restored CI cache re-executes nothing."""
import importlib
import shutil
import os
import types
from pathlib import Path

import nbformat
import pytest

from mmpaper.book import BookBuildError, ChapterError

build = importlib.import_module("mmpaper.book.build")  # the module (mmpaper.book.build is also the function)


def _chapter(tmp_path: Path, name: str, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}")] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.cells[1].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src = tmp_path / "notebooks" / f"{name}.py"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text("# a stand-in source\n")
    nbformat.write(nb, src.with_suffix(".ipynb"))
    return src


def test_a_failing_chapter_says_which_cell_and_what_and_keeps_the_full_traceback(tmp_path, monkeypatch):
    src = _chapter(tmp_path, "99_broken", ['preset = "cpu"\nruns_dir = None',
                                           "# the division\nshare = 1 / 0\nprint(share)"])
    monkeypatch.setattr(build, "chapters", lambda root=None: [src])
    stage = tmp_path / "out" / "src"
    stamp = stage / "notebooks" / "99_broken.stamp"
    stamp.parent.mkdir(parents=True)
    stamp.write_text('{"key": "an older, successful execution"}')
    ex = types.SimpleNamespace(runs_dir=tmp_path / "runs")
    with pytest.raises(ChapterError) as info:
        build.execute_chapters("smoke", stage, None, ex, progress=False)
    message = str(info.value)
    log = stage / "notebooks" / "99_broken.error.log"
    assert message.startswith("chapter 99_broken failed in the cell `# the division`: "
                              "ZeroDivisionError: division by zero (full traceback: ")
    assert str(log) in message and str(stage / "notebooks" / "99_broken.ipynb") in message and "\n" not in message
    assert "-----" not in message                                        # not papermill's banner
    text = log.read_text()
    assert "share = 1 / 0" in text and "ZeroDivisionError" in text and ("Traceback" in text or "---->" in text)
    assert "\x1b[" not in text
    assert not stamp.exists()   # the failed copy is never taken for an executed one


def test_the_command_line_prints_the_chapter_error_as_it_is(monkeypatch, capsys, tmp_path):
    from mmpaper import book
    from mmpaper.cli import main

    def fail(*args, **kwargs):
        raise ChapterError("chapter 05_experiments failed in the cell `ex = open_experiment(preset)`: "
                           "ValueError: no (full traceback: /x/05.error.log; the executed notebook: /x/05.ipynb)")

    monkeypatch.setattr(book, "build", fail)
    monkeypatch.setenv("MMPAPER_CACHE", str(tmp_path / "cache"))
    assert main(["book", "--preset", "smoke", "--runs-dir", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err
    assert err == ("mmpaper: error: chapter 05_experiments failed in the cell `ex = open_experiment(preset)`: "
                   "ValueError: no (full traceback: /x/05.error.log; the executed notebook: /x/05.ipynb)\n")


def test_a_failing_render_prints_the_last_meaningful_lines_of_its_log_and_keeps_it(tmp_path):
    stage = tmp_path / "src"
    stage.mkdir()
    (stage / "_config.yml").write_text("title: broken\nexecute:\n  execute_notebooks: 'off'\n")
    (stage / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (stage / "intro.md").write_text("# Intro\n\nSee {ref}`a-label-that-does-not-exist`.\n")
    with pytest.raises(BookBuildError) as info:
        build.render(stage, tmp_path / "out")
    message = str(info.value)
    log = tmp_path / "out" / "jupyter-book.log"
    assert message.startswith("jupyter-book build failed (exit ")
    assert "undefined label" in message and "a-label-that-does-not-exist" in message
    assert message.endswith(f"the full log: {log}")
    shown = message.splitlines()[1:-1]
    assert 0 < len(shown) <= 12 and all(line.strip() for line in shown)
    assert not any("reading sources" in line or "%]" in line for line in shown)
    assert "undefined label" in log.read_text() and len(log.read_text().splitlines()) > len(shown)


def test_meaningful_lines_prefer_warnings_and_drop_progress_and_boxes():
    log = ("Running Sphinx v7.4.7\nloading pickled environment... done\nreading sources... [ 50%] intro\n\n"
           "\x1b[91m/b/intro.md:3: WARNING: undefined label: 'x'\x1b[39;49;00m\n"
           "====================================\nbuild finished with problems, 1 warning.\n")
    assert build.meaningful_lines(log) == ["/b/intro.md:3: WARNING: undefined label: 'x'",
                                           "build finished with problems, 1 warning."]


def test_jupyter_book_runs_through_this_interpreter_not_a_script_beside_it(tmp_path, monkeypatch):
    seen = {}

    def fake_run(cmd, **kwargs):
        seen["cmd"] = cmd
        return types.SimpleNamespace(returncode=0)

    monkeypatch.setattr(build.subprocess, "run", fake_run)
    build.render(tmp_path / "src", tmp_path / "out")
    assert seen["cmd"][0] == build.sys.executable and seen["cmd"][1] == "-c"
    assert "jupyter_book.cli.main" in seen["cmd"][2] and seen["cmd"][3:5] == ["build", str(tmp_path / "src")]


# ------------------------------------------------------------------------------------------ portable keys
def _layout(root: Path) -> tuple[Path, Path, Path]:
    runs = root / "runs" / "smoke" / "bibert" / "abc"
    runs.mkdir(parents=True)
    (runs / "metrics.json").write_text('{"R@100": 0.5}')
    return root / "_build" / "smoke", root / "runs", root / "_build" / "smoke" / "figures"


def test_chapter_keys_hold_relative_paths_so_a_moved_checkout_reuses_them(tmp_path):
    from mmpaper.book import chapters

    src = chapters()[0]
    keys = []
    for where in ("first/checkout", "moved/elsewhere/checkout"):
        out, runs, figures = _layout(tmp_path / where)
        state = build._runs_state(types.SimpleNamespace(runs_dir=runs / "smoke"))
        keys.append((state, build.chapter_key(src, "smoke", runs, figures, out, state, "code")))
        assert build._relative(runs, out) == "../../runs"
    assert keys[0] == keys[1]
    out, runs, figures = _layout(tmp_path / "third")
    shutil.rmtree(runs)
    assert build.chapter_key(src, "smoke", tmp_path / "other-runs", figures, out, keys[0][0], "code") != keys[0][1]


def test_chapters_execute_two_at_a_time_and_a_failure_keeps_the_others(tmp_path, monkeypatch):
    """The pooled chapters run beside each other with one thread per kernel; the timed chapter runs alone with the
    build's own threads; one failing chapter leaves the others executed and stamped."""
    out = tmp_path / "seen"
    out.mkdir()
    cell = "import os, pathlib\npathlib.Path({!r}).write_text(os.environ.get('OMP_NUM_THREADS', 'unset'))"
    ok = _chapter(tmp_path, "01_ok", ['preset = "cpu"\nruns_dir = None', cell.format(str(out / "01"))])
    broken = _chapter(tmp_path, "02_broken", ['preset = "cpu"\nruns_dir = None', "1 / 0"])
    timed = _chapter(tmp_path, "09_benchmarks", ['preset = "cpu"\nruns_dir = None', cell.format(str(out / "09"))])
    monkeypatch.setattr(build, "chapters", lambda root=None: [ok, broken, timed])
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    stage = tmp_path / "out" / "src"
    ex = types.SimpleNamespace(runs_dir=tmp_path / "runs")
    with pytest.raises(ChapterError, match="chapter 02_broken failed"):
        build.execute_chapters("smoke", stage, None, ex, progress=False, workers=2)
    assert (out / "01").read_text() == "1" and (stage / "notebooks" / "01_ok.stamp").exists()
    assert not (out / "09").exists()  # the timed chapter waits for the pool, which failed
    monkeypatch.setattr(build, "chapters", lambda root=None: [ok, timed])
    assert build.execute_chapters("smoke", stage, None, ex, progress=False, workers=2) == ["09_benchmarks"]
    assert (out / "09").read_text() == "unset" and "OMP_NUM_THREADS" not in os.environ
