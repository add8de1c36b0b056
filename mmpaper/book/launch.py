"""Where a reader runs a chapter: the repository the book names, the release its chapters install, and what the
build makes of them — the Colab, repository and issues buttons, the chapters' install cell and the note at the top
of each chapter that says how to run it.

It fails closed. ``_config.yml``'s ``repository`` block names the repository once (``url``) and the release the
chapters install (``release_tag`` and that tag's ``release_commit``); the chapters' install cell carries the same
three values (``python -m mmpaper pin-release`` writes both; ``tests/test_packaging.py`` checks they agree).

- No URL, or the placeholder the book named before any owner existed: no Colab, repository or issues button, the
  install cell is left out of the rendered pages, and each chapter says how to run it from a copy of the source.
- A URL but no release (or a build from uncommitted files): the repository and issues buttons, no Colab button.
- A URL, a release and a build from a clean checkout: Colab buttons that open the chapter at the build's own commit
  (an immutable ref, never a branch); its install cell installs the release's commit after checking that the tag
  still points there, and checks that pip installed that very commit.

A notebook cannot name the commit it is part of, so a release takes two commits: the tagged one (the code) and the
one that pins it (``pin-release``); the book is built, and its Colab buttons point, at the second.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..paths import ROOT

CONFIG = "_config.yml"
# The URL the book named before any owner existed: whoever registers it would serve code to every reader who
# presses a button, so it counts as unset.
PLACEHOLDERS = frozenset({"https://github.com/mmpaper/mmpaper"})
GITHUB = re.compile(r"^https://github\.com/(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/(?P<repo>[A-Za-z0-9._-]+?)"
                    r"(?:\.git)?/?$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")
# the line of every chapter's install cell that carries the release (pin_release rewrites it)
CELL_LINE = re.compile(r'^REPOSITORY, TAG, COMMIT = "(?P<url>[^"]*)", "(?P<tag>[^"]*)", "(?P<commit>[^"]*)"$', re.M)
NOTE_TAG = "mmpaper-run-note"  # the metadata tag of the note the build puts at the top of each chapter


@dataclass(frozen=True)
class Release:
    """The repository and release ``_config.yml`` names; ``url`` is "" when unset or the placeholder."""

    url: str = ""
    tag: str = ""
    commit: str = ""

    @property
    def pinned(self) -> bool:
        """A repository, a release tag and that tag's full commit: what the install cell needs."""
        return bool(self.url and self.tag and COMMIT.match(self.commit))


def trusted_url(url: str | None) -> str:
    """``url`` when it names a GitHub repository (the only host Colab opens), else "" (unset, placeholder, other)."""
    url = (url or "").strip()
    if not url or url.rstrip("/") in PLACEHOLDERS or not GITHUB.match(url):
        return ""
    return url.rstrip("/").removesuffix(".git")


def read_release(root: Path = ROOT) -> Release:
    return release_from(yaml.safe_load((root / CONFIG).read_text()) or {})


def release_from(config: dict) -> Release:
    """The release a parsed ``_config.yml`` names."""
    repository = config.get("repository") or {}
    url = trusted_url(repository.get("url"))
    return Release(url, str(repository.get("release_tag") or "") if url else "",
                   str(repository.get("release_commit") or "") if url else "")


def pages_url(url: str) -> str:
    """Where GitHub Pages serves the book of the repository at ``url``."""
    m = GITHUB.match(url)
    return f"https://{m['owner'].lower()}.github.io/{m['repo']}/"


def state(release: Release, commit: str | None) -> str:
    """``unset``, ``repository`` (buttons to the repository, no Colab) or ``colab`` (everything, pinned)."""
    if not release.url:
        return "unset"
    return "colab" if release.pinned and commit and COMMIT.match(commit) else "repository"


def book_config(config: dict, release: Release, commit: str | None) -> dict:
    """The ``_config.yml`` the build renders with: the buttons this state allows and nothing else. ``commit`` is the
    clean commit the book is built from (None when the files differ from every commit)."""
    config = yaml.safe_load(yaml.safe_dump(config))  # a deep copy
    repository = config.setdefault("repository", {})
    html = config.setdefault("html", {})
    launch = config.setdefault("launch_buttons", {})
    for key in ("release_tag", "release_commit"):  # ours, not Jupyter Book's
        repository.pop(key, None)
    now = state(release, commit)
    if now == "unset":
        repository.pop("url", None)
        repository.pop("branch", None)
        html["use_repository_button"] = html["use_issues_button"] = html["use_edit_page_button"] = False
    else:
        repository["url"] = release.url
        if not html.get("baseurl"):
            html["baseurl"] = pages_url(release.url)
    if now == "colab":
        repository["branch"] = commit  # the Colab button opens the chapter at this very commit
    else:
        launch.pop("colab_url", None)
    if not any(launch.get(k) for k in ("binderhub_url", "jupyterhub_url", "colab_url", "thebe", "deepnote_url")):
        config.pop("launch_buttons")
    return config


def run_note(release: Release, commit: str | None, chapter: str) -> str:
    """The note at the top of a chapter: how to run it, in the state the book was built in."""
    local = (f"`pip install -e \".[book]\"` in a copy of the source, then `make book` (every chapter) or "
             f"`papermill notebooks/{chapter}.ipynb out.ipynb -p preset cpu` (this one)")
    now = state(release, commit)
    if now == "unset":
        text = ("This book names no repository yet, so it offers no Colab button and installs nothing from the "
                f"network. To run this chapter yourself: {local}.")
    elif now == "repository":
        why = "no release" if not release.pinned else "no committed build"
        text = (f"This build names [its repository]({release.url}) but {why}, so it offers no Colab button. To "
                f"run this chapter yourself: `git clone {release.url}`, then {local}.")
    else:
        text = (f"The Colab button above opens this chapter as committed ({commit[:12]}); its first cell installs "
                f"mmpaper {release.tag} (commit {release.commit[:12]}) from [the repository]({release.url}) after "
                f"checking that the tag still points at that commit. Choose a GPU runtime for speed. Or run it "
                f"yourself: `git clone {release.url}`, `git checkout {release.tag}`, then {local}.")
    return f":::{{admonition}} Run this chapter\n:class: tip\n\n{text}\n:::"


def stage_chapter(nb, release: Release, commit: str | None, chapter: str) -> bool:
    """Put the run note after the chapter's opening text and, while no release is named, drop the install cell
    from the rendered page (``remove-cell``). Returns whether the notebook changed."""
    import nbformat  # installed with the book's tools (papermill, jupytext)

    before = nbformat.writes(nb)
    nb.cells = [c for c in nb.cells if NOTE_TAG not in c.get("metadata", {}).get("tags", [])]
    note = nbformat.v4.new_markdown_cell(run_note(release, commit, chapter), metadata={"tags": [NOTE_TAG]})
    note["id"] = NOTE_TAG  # a fixed id: the same note leaves the notebook byte for byte the same
    first_text = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    nb.cells.insert(first_text + 1, note)
    for cell in nb.cells:
        if cell.cell_type == "code" and CELL_LINE.search(cell.source):
            tags = [t for t in cell.metadata.get("tags", []) if t != "remove-cell"]
            if not release.pinned:
                tags.append("remove-cell")
            cell.metadata["tags"] = tags
    return nbformat.writes(nb) != before


def pin_release(tag: str, commit: str, url: str | None = None, root: Path = ROOT) -> list[Path]:
    """Name the release the chapters install: ``_config.yml``'s ``repository`` (``url`` when given,
    ``release_tag``, ``release_commit``) and the install line of every chapter source. Returns the files written;
    the ``.ipynb`` twins follow with :func:`mmpaper.book.sync_notebooks`."""
    if not COMMIT.match(commit):
        raise ValueError(f"release commit {commit!r} is not a full 40-hex commit")
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", tag):
        raise ValueError(f"release tag {tag!r} is not a tag name")
    config_path = root / CONFIG
    text = config_path.read_text()
    current = (yaml.safe_load(text) or {}).get("repository") or {}
    url = url if url is not None else current.get("url", "")
    if not trusted_url(url):
        raise ValueError(f"repository URL {url!r} is not a https://github.com/OWNER/REPO URL (or is the placeholder)")
    url = trusted_url(url)
    for key, value in (("url", url), ("release_tag", tag), ("release_commit", commit)):
        text, n = re.subn(rf'^(  {key}:)[ \t]*[^#\n]*?([ \t]*#.*)?$', lambda m: f'{m[1]} "{value}"{m[2] or ""}',
                          text, count=1, flags=re.M)
        if n != 1:
            raise ValueError(f"{config_path}: no `repository.{key}:` line to set")
    if release_from(yaml.safe_load(text)) != Release(url, tag, commit):
        raise ValueError(f"{config_path}: the repository block did not take the new values")
    written = [config_path]
    config_path.write_text(text)
    line = f'REPOSITORY, TAG, COMMIT = "{url}", "{tag}", "{commit}"'
    for src in sorted((root / "notebooks").glob("[0-9][0-9]_*.py")):
        source = src.read_text()
        new, n = CELL_LINE.subn(line, source, count=1)
        if n != 1:
            raise ValueError(f"{src}: no install line `REPOSITORY, TAG, COMMIT = ...` to set")
        if new != source:
            src.write_text(new)
            written.append(src)
    return written

