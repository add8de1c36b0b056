"""Citation and licence: CITATION.cff (CFF 1.2.0) for the companion with the two papers as references, the LICENSE
file the package metadata names, and the same how-to-cite block in the README and the book's introduction."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_citation_cff_names_the_companion_and_references_both_papers():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    for key in ("message", "title", "authors", "version", "license", "abstract"):
        assert cff.get(key), key
    assert str(cff["version"]) == _project()["version"] and cff["license"] == _project()["license"]
    assert all(a.get("name") or a.get("family-names") for a in cff["authors"])
    refs = {r["title"]: r for r in cff["references"]}
    paper = refs["Multimodal semantic retrieval for product search"]
    assert [a["family-names"] for a in paper["authors"]] == ["Liu", "Lopez Ramos"] and paper["year"] == 2025
    assert any(i["value"] == "arXiv:2501.07365" for i in paper["identifiers"])
    kdd = refs["Bringing Multimodality to Amazon Visual Search System"]
    assert kdd["doi"] == "10.1145/3637528.3671640" and kdd["year"] == 2024 and len(kdd["authors"]) == 13
    for ref in refs.values():
        assert ref["type"] in ("article", "conference-paper") and ref["authors"]


def test_the_licence_file_is_the_one_the_metadata_names():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    assert _project()["license"] == "Apache-2.0" and _project()["license-files"] == ["LICENSE"]


def _cite_block(text: str) -> str:
    section = text.split("## How to cite", 1)[1]
    return re.search(r"```bibtex\n(.*?)```", section, re.S)[1]


def test_readme_and_the_books_introduction_give_the_same_how_to_cite_block():
    readme = _cite_block((ROOT / "README.md").read_text())
    intro = _cite_block((ROOT / "book" / "intro.md").read_text())
    assert readme == intro
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert f"version = {{{cff['version']}}}" in readme.replace("  ", " ").replace("  ", " ")
    for key in ("@software{mmpaper", "@misc{liu2025multimodal", "@inproceedings{zhu2024bringing", "2501.07365",
                "10.1145/3637528.3671640"):
        assert key in readme, key
