"""Frontmatter, titles, tags and sections (fixtures/frontmatter.txt, fixtures/sections.txt)."""

from __future__ import annotations

import pytest

from sdwiki.notes import Note, Section, aliases, parse_note
from sdwiki.types import RelPath
from tests import fixtures

FRONTMATTER = fixtures.read("frontmatter.txt")
SECTIONS = fixtures.read("sections.txt")


def describe_meta(note: Note) -> str:
    out = [f"title: {note.title} @{note.title_line}"]
    if note.kind:
        out.append(f"type: {note.kind}")
    if note.tags:
        out.append("tags: " + " ".join(f"{t.name}@{t.line}" for t in note.tags))
    if "aliases" in note.meta:
        out.append(("aliases: " + " | ".join(aliases(note))).rstrip())
    out.extend(f"diag: {d.line} {d.code}" for d in note.diagnostics)
    return "\n".join(out)


@pytest.mark.parametrize("case", FRONTMATTER, ids=fixtures.ids(FRONTMATTER))
def test_frontmatter_fixture(case: fixtures.Case) -> None:
    text = case.input.replace("\n", "\r\n") if "CRLF" in case.name else case.input
    note = parse_note(RelPath("n.md"), text)
    assert describe_meta(note) == case.expected


def describe_section(section: Section, indent: str = "") -> list[str]:
    blocks = " ".join(
        f"{b.kind}{f'#{b.number}' if b.number else ''}@{b.line}{f'(depth {b.depth})' if b.depth > 1 else ''}"
        for b in section.blocks
    )
    head = f"{indent}{'#' * section.level} {section.heading} @{section.line}"
    lines = [f"{head}: {blocks}" if blocks else head]
    for child in section.children:
        lines.extend(describe_section(child, indent + "  "))
    return lines


@pytest.mark.parametrize("case", SECTIONS, ids=fixtures.ids(SECTIONS))
def test_sections_fixture(case: fixtures.Case) -> None:
    note = parse_note(RelPath("n.md"), case.input)
    lines = []
    if note.preamble:
        lines.append("preamble: " + " ".join(f"{b.kind}@{b.line}" for b in note.preamble))
    for s in note.sections:
        lines.extend(describe_section(s))
    if note.block_ids:
        lines.append("blocks: " + " ".join(sorted(note.block_ids)))
    assert "\n".join(lines) == case.expected
