"""The README, CONTRIBUTING.md and docs/ link to files and headings that exist, and the
README stays a page a user reads (problem, install, try, configure), not the manual."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the headings of ``page``."""
    found = set()
    in_code = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower()
        title = re.sub(r"[^\w\- ]", "", title)
        found.add(title.replace(" ", "-"))
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (
            anchor and linked.suffix == ".md" and anchor not in anchors(linked)
        ):
            broken.append(target)
    return broken


def test_every_link_resolves():
    assert {page.name: broken_links(page) for page in PAGES} == {page.name: [] for page in PAGES}


def test_every_doc_is_linked_from_the_readme_or_another_doc():
    linked = set()
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            path = target.partition("#")[0]
            if path and not re.match(r"[a-z]+:", path):
                linked.add((page.parent / path).resolve())
    assert [page.name for page in PAGES[2:] if page.resolve() not in linked] == []


def test_the_readme_is_short_and_keeps_the_two_commands():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 220
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in text  # the test command, exactly as .ci/run runs it
    assert "spawnfix demo" in text


def test_the_link_checker_finds_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md#title) [bad](#nothing)\n")
    assert broken_links(page) == ["missing.md#title", "#nothing"]
