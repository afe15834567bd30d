"""Each section form, well-formed and malformed (fixtures/extract.txt).

A case's note is read as ``a.md`` beside a note titled B (``b.md``). Expected lines:
``+ s p o`` must be in the note's graph, ``- s p o`` must not, and ``diag: LINE code`` lists
exactly the diagnostics of the note. IRIs are written without the base.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import Literal, URIRef

from sdwiki.ontology import PREFIXES
from sdwiki.pipeline import load_project
from sdwiki.registry import DEFAULT_BASE
from tests import fixtures

CASES = fixtures.read("extract.txt")


def term(text: str) -> URIRef | Literal:
    if text.startswith('"'):
        value, _, datatype = text[1:].partition('"')
        if datatype.startswith("^^"):
            prefix, local = datatype[2:].split(":")
            return Literal(value, datatype=URIRef(PREFIXES[prefix] + local))
        return Literal(value)
    if ":" in text:
        prefix, local = text.split(":", 1)
        return URIRef(PREFIXES[prefix] + local)
    return URIRef(DEFAULT_BASE + text)


def parse_triple(line: str) -> tuple[URIRef | Literal, ...]:
    s, p, o = line.split(" ", 2)
    return term(s), term(p), term(o)


@pytest.mark.parametrize("case", CASES, ids=fixtures.ids(CASES))
def test_extract_fixture(case: fixtures.Case, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(case.input + "\n", "utf-8")
    (tmp_path / "b.md").write_text("# B\n## Definition\nThe b.\n", "utf-8")
    project = load_project(tmp_path)
    graph = {
        (s, p, o if not (isinstance(o, Literal) and o.datatype is None) else Literal(str(o)))
        for s, p, o in project.note_graphs["a.md"].triples
    }  # type: ignore[index]
    want_diags = []
    for line in case.expected.splitlines():
        if line.startswith("+ "):
            assert parse_triple(line[2:]) in graph, line
        elif line.startswith("- "):
            assert parse_triple(line[2:]) not in graph, line
        elif line.startswith("diag: "):
            n, code = line[6:].split()
            want_diags.append((int(n), code))
    got = sorted((d.line, d.code) for d in project.diagnostics if d.file == "a.md")
    assert got == sorted(want_diags)
