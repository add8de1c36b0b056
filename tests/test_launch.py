"""Launch buttons that fail closed (mmpaper.book.launch), at the level of the files the build writes: the staged
``_config.yml`` in each state, the note each chapter gets, the install cell left out while no release is named, and
``pin-release`` writing the release into the config and every chapter. The built HTML of the unset state is checked
in ``test_book_html.py`` (the smoke book), and of the pinned state there too, by rendering the same executed
chapters again with a pinned configuration."""
import shutil

import nbformat
import pytest
import yaml

from mmpaper.book import launch
from mmpaper.book.launch import Release
from mmpaper.paths import ROOT

URL, TAG, COMMIT, BUILT = "https://github.com/Someone/mmpaper", "v0.3.0", "a" * 40, "b" * 40


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def test_the_placeholder_and_other_hosts_count_as_unset():
    for url in ("", None, "https://github.com/mmpaper/mmpaper", "https://github.com/mmpaper/mmpaper/",
                "http://github.com/a/b", "https://gitlab.com/a/b", "https://github.com/a", "git@github.com:a/b.git"):
        assert launch.trusted_url(url) == "", url
    assert launch.trusted_url("https://github.com/a/b.git") == "https://github.com/a/b"
    assert launch.pages_url(URL) == "https://someone.github.io/mmpaper/"


def test_unset_leaves_out_every_button_and_needs_nothing_configured():
    config = launch.book_config(_config(), Release(), BUILT)
    assert launch.state(Release(), BUILT) == "unset"
    assert "url" not in config["repository"] and "launch_buttons" not in config
    assert not config["html"]["use_repository_button"] and not config["html"]["use_issues_button"]
    assert "release_tag" not in config["repository"]        # ours, never handed to Jupyter Book


def test_a_repository_without_a_release_gets_its_buttons_but_no_colab():
    for release, commit in ((Release(URL), BUILT), (Release(URL, TAG, "abc"), BUILT), (Release(URL, TAG, COMMIT), None)):
        config = launch.book_config(_config(), release, commit)
        assert launch.state(release, commit) == "repository"
        assert config["repository"]["url"] == URL and config["html"]["use_repository_button"]
        assert "launch_buttons" not in config
        assert config["html"]["baseurl"] == "https://someone.github.io/mmpaper/"


def test_a_pinned_release_built_from_a_commit_opens_colab_at_that_commit():
    config = launch.book_config(_config(), Release(URL, TAG, COMMIT), BUILT)
    assert config["repository"]["branch"] == BUILT != "main"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["html"]["use_issues_button"]


def _chapter() -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "notebooks" / "02_baselines.ipynb", as_version=4)


def test_each_chapter_gets_its_note_and_loses_the_install_cell_while_no_release_is_named():
    nb = _chapter()
    assert launch.stage_chapter(nb, Release(), None, "02_baselines")
    note = nb.cells[1]
    assert nb.cells[0].source.startswith("# ") and launch.NOTE_TAG in note.metadata["tags"]
    assert "names no repository yet" in note.source and "papermill notebooks/02_baselines.ipynb" in note.source
    install = next(c for c in nb.cells if c.cell_type == "code")
    assert "remove-cell" in install.metadata["tags"] and launch.CELL_LINE.search(install.source)
    assert not launch.stage_chapter(nb, Release(), None, "02_baselines")   # the same state: nothing changes
    assert sum(launch.NOTE_TAG in c.metadata.get("tags", []) for c in nb.cells) == 1


def test_a_pinned_chapter_keeps_its_install_cell_and_names_the_release_in_its_note():
    nb = _chapter()
    launch.stage_chapter(nb, Release(), None, "02_baselines")
    assert launch.stage_chapter(nb, Release(URL, TAG, COMMIT), BUILT, "02_baselines")
    note = next(c for c in nb.cells if launch.NOTE_TAG in c.metadata.get("tags", []))
    assert f"mmpaper {TAG} (commit {COMMIT[:12]})" in note.source and BUILT[:12] in note.source
    install = next(c for c in nb.cells if c.cell_type == "code")
    assert "remove-cell" not in install.metadata["tags"]
    assert {"hide-input", "hide-output"} <= set(install.metadata["tags"])


@pytest.fixture()
def book_copy(tmp_path):
    shutil.copy2(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "notebooks").mkdir()
    for src in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        shutil.copy2(src, tmp_path / "notebooks" / src.name)
    return tmp_path


def test_pin_release_writes_the_release_into_the_config_and_every_chapter(book_copy):
    written = launch.pin_release(TAG, COMMIT, URL, root=book_copy)
    assert launch.read_release(book_copy) == Release(URL, TAG, COMMIT)
    text = (book_copy / "_config.yml").read_text()
    assert "# the release tag the chapters install" in text            # the comments stay
    chapters = sorted((book_copy / "notebooks").glob("*.py"))
    assert set(written) == {book_copy / "_config.yml", *chapters}
    for src in chapters:
        assert launch.CELL_LINE.search(src.read_text()).groups() == (URL, TAG, COMMIT)
    assert launch.pin_release(TAG, COMMIT, root=book_copy) == [book_copy / "_config.yml"]  # the URL it names


def test_pin_release_refuses_the_placeholder_a_short_commit_and_a_bad_tag(book_copy):
    before = (book_copy / "_config.yml").read_text()
    with pytest.raises(ValueError, match="placeholder"):
        launch.pin_release(TAG, COMMIT, "https://github.com/mmpaper/mmpaper", root=book_copy)
    with pytest.raises(ValueError, match="not a https://github.com/OWNER/REPO URL"):
        launch.pin_release(TAG, COMMIT, root=book_copy)                 # none named yet
    with pytest.raises(ValueError, match="40-hex"):
        launch.pin_release(TAG, "abc123", URL, root=book_copy)
    with pytest.raises(ValueError, match="not a tag name"):
        launch.pin_release("v1; rm -rf /", COMMIT, URL, root=book_copy)
    assert (book_copy / "_config.yml").read_text() == before


def test_pin_release_command_refuses_a_tag_this_checkout_lacks(capsys):
    from mmpaper.cli import main

    assert main(["pin-release", "--tag", "no-such-tag-anywhere"]) == 2
    assert "no tag 'no-such-tag-anywhere' in this checkout" in capsys.readouterr().err
