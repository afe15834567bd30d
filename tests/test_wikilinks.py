"""Every Obsidian wikilink form, read with its position (fixtures/wikilinks.txt)."""

from __future__ import annotations

import pytest

from sdwiki.notes import WikiLink, parse_note
from sdwiki.types import RelPath
from tests import fixtures

CASES = fixtures.read("wikilinks.txt")


def describe(link: WikiLink, body_line: int) -> str:
    parts = [f"{link.line - body_line + 1}:{link.column}", link.raw, f"target={link.target}"]
    if link.anchor:
        parts.append(f"anchor={link.anchor}")
    if link.shown:
        parts.append(f"shown={link.shown}")
    if link.embed:
        parts.append("embed")
    return " ".join(parts)


@pytest.mark.parametrize("case", CASES, ids=fixtures.ids(CASES))
def test_wikilink_fixture(case: fixtures.Case) -> None:
    note = parse_note(RelPath("n.md"), case.input)
    got = "\n".join(describe(link, note.body_line) for link in note.links)
    assert got == case.expected


def test_positions_count_frontmatter_lines() -> None:
    note = parse_note(RelPath("n.md"), "---\ntitle: T\n---\n\nText [[Link]]\n")
    (link,) = note.links
    assert (link.line, link.column) == (5, 6)
