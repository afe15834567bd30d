"""Exports of the whole graph: Turtle, N-Triples, N-Quads, TriG, JSON-LD (and GraphML)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from typing import Any, BinaryIO

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Node

from sdwiki.extract import NoteGraph, Triple
from sdwiki.graph import nquads, nt_term
from sdwiki.ontology import PREFIXES
from sdwiki.terms import RDF, XSD

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


def export(note_graphs: list[NoteGraph], fmt: str) -> str:
    """The graph in ``fmt``; deterministic: the same notes give the same text."""
    if fmt == "nq":
        return "".join(sorted(set(nquads(note_graphs).splitlines(keepends=True))))
    if fmt == "nt":
        lines = {f"{nt_term(s)} {nt_term(p)} {nt_term(o)} .\n" for ng in note_graphs for s, p, o in ng.triples}
        return "".join(sorted(lines))
    if fmt in ("ttl", "jsonld"):
        return dump(oxigraph_store(nquads(note_graphs, with_default=True)), fmt).decode("utf-8")
    if fmt == "trig":
        return dump(oxigraph_store(nquads(note_graphs)), fmt).decode("utf-8")
    raise ValueError(f"unknown format {fmt!r}")


def oxigraph_store(quads: str) -> Any:
    """A pyoxigraph store holding N-Quads text (parsed natively, in one go)."""
    import pyoxigraph as ox

    store = ox.Store()
    store.load(quads.encode("utf-8"), format=ox.RdfFormat.N_QUADS)
    return store


def dump(store: Any, fmt: str) -> bytes:
    """The default graph (``ttl``, ``jsonld``) or every named graph (``trig``) of a pyoxigraph store,
    written by Oxigraph's serialisers: an order of its own, the same for a store loaded in one go
    from the same text (a store updated step by step may list the same triples in another order)."""
    out = io.BytesIO()
    dump_to(store, fmt, out)
    return out.getvalue()


def dump_to(store: Any, fmt: str, output: BinaryIO) -> None:
    """:func:`dump`, written to ``output`` as Oxigraph makes it (a large graph is never in memory whole)."""
    import pyoxigraph as ox

    prefixes = {p: str(ns) for p, ns in PREFIXES.items()}
    if fmt == "ttl":
        store.dump(output, format=ox.RdfFormat.TURTLE, from_graph=ox.DefaultGraph(), prefixes=prefixes)
    elif fmt == "jsonld":
        store.dump(output, format=ox.RdfFormat.JSON_LD, from_graph=ox.DefaultGraph())
        output.write(b"\n")
    elif fmt == "trig":
        store.dump(output, format=ox.RdfFormat.TRIG, prefixes=prefixes)
    else:
        raise ValueError(f"unknown format {fmt!r}")


_LOCAL = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _order(term: Node) -> tuple[str, str, str]:
    """A cheap total order on terms: kind, text, then datatype or language."""
    if type(term) is Literal:
        lit: Literal = term
        return ("2", str(lit), lit.language or str(lit.datatype or ""))
    return ("1" if type(term) is URIRef else "3", str(term), "")


def _grouped(triples: Iterable[Triple]) -> dict[Node, dict[Node, list[Node]]]:
    out: dict[Node, dict[Node, dict[Node, None]]] = {}
    for s, p, o in triples:
        out.setdefault(s, {}).setdefault(p, {})[o] = None
    return {
        s: {p: sorted(os, key=_order) for p, os in sorted(ps.items(), key=lambda kv: str(kv[0]))}
        for s, ps in sorted(out.items(), key=lambda kv: str(kv[0]))
    }


_CURIES: dict[Node, str] = {}
"""Terms already written as CURIEs (the same predicates and classes are on every page)."""


def _curie(term: Node) -> str:
    found = _CURIES.get(term)
    if found is None:
        text = str(term)
        found = nt_term(term)
        for prefix, ns in PREFIXES.items():
            if text.startswith(ns) and _LOCAL.match(text[len(ns) :]):
                found = f"{prefix}:{text[len(ns) :]}"
                break
        if len(_CURIES) < 100_000:
            _CURIES[term] = found
    return found


def turtle(triples: Iterable[Triple]) -> str:
    """Turtle, written directly (fast and deterministic): sorted subjects, predicates, objects."""
    return _turtle(_grouped(triples))


def turtle_and_jsonld(triples: Iterable[Triple]) -> tuple[str, str]:
    """:func:`turtle` and :func:`jsonld` of the same triples, sorted once."""
    groups = _grouped(triples)
    return _turtle(groups), _jsonld(groups)


def _turtle(groups: dict[Node, dict[Node, list[Node]]]) -> str:
    lines = [f"@prefix {p}: <{ns}> ." for p, ns in PREFIXES.items()]
    lines.append("")
    for s, ps in groups.items():
        parts = []
        for p, objs in ps.items():
            pred = "a" if p == RDF.type else _curie(p)
            values = ", ".join(_curie(o) if type(o) is URIRef else nt_term(o) for o in objs)
            parts.append(f"{pred} {values}")
        lines.append(f"{nt_term(s)} " + " ;\n    ".join(parts) + " .\n")
    return "\n".join(lines)


_XSD_STRING = str(XSD.string)


def _jsonld_value(o: Node) -> dict[str, str]:
    kind = type(o)
    if kind is URIRef:
        return {"@id": str(o)}
    if kind is BNode:
        return {"@id": f"_:{o}"}
    lit: Literal = o  # type: ignore[assignment]
    value: dict[str, str] = {"@value": str(lit)}
    if lit.language:
        value["@language"] = lit.language
    elif lit.datatype is not None and lit.datatype != _XSD_STRING:
        value["@type"] = str(lit.datatype)
    return value


def jsonld(triples: Iterable[Triple]) -> str:
    """Expanded JSON-LD, written directly (fast and deterministic)."""
    return _jsonld(_grouped(triples))


def _jsonld(groups: dict[Node, dict[Node, list[Node]]]) -> str:
    nodes = []
    for s, ps in groups.items():
        node: dict[str, object] = {"@id": str(s) if isinstance(s, URIRef) else f"_:{s}"}
        for p, objs in ps.items():
            if p == RDF.type:
                node["@type"] = [str(o) for o in objs]
            else:
                node[str(p)] = [_jsonld_value(o) for o in objs]
        nodes.append(node)
    return json.dumps(nodes, ensure_ascii=False, separators=(",", ":")) + "\n"
