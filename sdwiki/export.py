"""Exports of the whole graph: Turtle, N-Triples, N-Quads, TriG, JSON-LD (and GraphML)."""

from __future__ import annotations

from collections.abc import Iterable

from rdflib import Dataset, Graph

from sdwiki.extract import NoteGraph
from sdwiki.graph import nquads, nt_term
from sdwiki.ontology import PREFIXES

RDF_FORMATS = ("ttl", "nt", "nq", "trig", "jsonld")


def union_graph(note_graphs: Iterable[NoteGraph]) -> Graph:
    """Every note's triples in one graph (what queries see as the default graph)."""
    g = Graph()
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns)
    for ng in note_graphs:
        for t in ng.triples:
            g.add(t)
    return g


def dataset(note_graphs: Iterable[NoteGraph]) -> Dataset:
    ds = Dataset()
    for prefix, ns in PREFIXES.items():
        ds.bind(prefix, ns)
    for ng in note_graphs:
        g = ds.graph(ng.graph)
        for t in ng.triples:
            g.add(t)
    return ds


def export(note_graphs: list[NoteGraph], fmt: str) -> str:
    """The graph in ``fmt``; deterministic: the same notes give the same text."""
    if fmt == "nq":
        return "".join(sorted(set(nquads(note_graphs).splitlines(keepends=True))))
    if fmt == "nt":
        lines = {f"{nt_term(s)} {nt_term(p)} {nt_term(o)} .\n" for ng in note_graphs for s, p, o in ng.triples}
        return "".join(sorted(lines))
    if fmt == "ttl":
        return str(union_graph(note_graphs).serialize(format="turtle"))
    if fmt == "jsonld":
        return stable_jsonld(union_graph(note_graphs))
    if fmt == "trig":
        return str(dataset(note_graphs).serialize(format="trig"))
    raise ValueError(f"unknown format {fmt!r}")


def stable_jsonld(graph: Graph) -> str:
    """JSON-LD with a stable order (nodes by @id, keys sorted, value lists sorted)."""
    import json

    data = json.loads(graph.serialize(format="json-ld", auto_compact=True))

    def order(value: object) -> object:
        if isinstance(value, dict):
            return {k: order(v) for k, v in sorted(value.items())}
        if isinstance(value, list):
            items = [order(v) for v in value]
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False))
        return value

    return json.dumps(order(data), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
