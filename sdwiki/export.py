"""Exports of the whole graph: Turtle, N-Triples, N-Quads, TriG, JSON-LD (and GraphML)."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Node

from sdwiki.extract import NoteGraph, Triple
from sdwiki.graph import Sink, mapped, nquads, nt_term
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
    if fmt in ("ttl", "jsonld"):  # as the site's data/graph.ttl and data/graph.jsonld
        from sdwiki.facts import index

        ttl, jsonld = io.BytesIO(), io.BytesIO()
        write_merged(index(note_graphs).out, (), ttl, jsonld)
        return (ttl if fmt == "ttl" else jsonld).getvalue().decode("utf-8")
    if fmt == "trig":
        return trig(nquads(note_graphs)).decode("utf-8")
    raise ValueError(f"unknown format {fmt!r}")


def trig(quads: str) -> bytes:
    """Every named graph of N-Quads text as TriG, written by Oxigraph (loaded in one go: a store
    updated step by step may list the same triples in another order)."""
    import pyoxigraph as ox

    store = ox.Store()
    store.load(quads.encode("utf-8"), format=ox.RdfFormat.N_QUADS)
    out = io.BytesIO()
    store.dump(out, format=ox.RdfFormat.TRIG, prefixes={p: str(ns) for p, ns in PREFIXES.items()})
    return out.getvalue()


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
        if len(_CURIES) < 1_000_000:
            _CURIES[term] = found
    return found


_PREDICATES: dict[Node, tuple[str, str]] = {}
"""Each predicate as Turtle writes it and as JSON-LD keys it (``rdf:type``: ``a`` and ``@type``)."""


def _predicate(p: Node) -> tuple[str, str]:
    found = _PREDICATES.get(p)
    if found is None:
        found = _PREDICATES[p] = ("a", "@type") if p == RDF.type else (_curie(p), str(p))
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
    lines.extend(_turtle_block(s, ps) for s, ps in groups.items())
    return "\n".join(lines)


def _turtle_block(s: Node, ps: Mapping[Node, Sequence[Node]]) -> str:
    """What ``s`` says, in Turtle (its predicates and their objects sorted)."""
    parts = []
    for p, objs in ps.items():
        pred = _predicate(p)[0]
        values = ", ".join(_curie(o) if type(o) is URIRef else nt_term(o) for o in objs)
        parts.append(f"{pred} {values}")
    return f"{nt_term(s)} " + " ;\n    ".join(parts) + " .\n"


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
    nodes = [_jsonld_node(s, ps) for s, ps in groups.items()]
    return json.dumps(nodes, ensure_ascii=False, separators=(",", ":")) + "\n"


def _jsonld_node(s: Node, ps: Mapping[Node, Sequence[Node]]) -> dict[str, object]:
    node: dict[str, object] = {"@id": str(s) if isinstance(s, URIRef) else f"_:{s}"}
    for p, objs in ps.items():
        key = _predicate(p)[1]
        if key == "@type" and all(type(o) is URIRef for o in objs):
            node[key] = [str(o) for o in objs]
        else:  # a type that is not an IRI is a plain value
            node[str(p)] = [_jsonld_value(o) for o in objs]
    return node


def _by_text(item: tuple[Node, object]) -> str:
    return str(item[0])


Spans = dict[Node, tuple[int, int, int, int]]
"""Where each subject is in the whole-graph Turtle and JSON-LD files (from, to in each)."""


@dataclass(frozen=True, slots=True)
class LastFiles:
    """The whole-graph Turtle and JSON-LD files as the last build wrote them (see :func:`write_merged`)."""

    ttl: Path
    jsonld: Path
    spans: Spans
    changed: set[Node]
    """The subjects whose triples may have changed since."""


def write_merged(
    out: Mapping[Any, Mapping[URIRef, Sequence[Node]]],
    extra: Iterable[Triple],
    ttl: Sink,
    jsonld: Sink,
    last: LastFiles | None = None,
) -> Spans:
    """The merge of the note graphs (``out``: every subject's triples, see :class:`sdwiki.facts.Facts`)
    and the ``extra`` triples, as Turtle and expanded JSON-LD: subject by subject, in order, each
    with its predicates and objects in order (as :func:`turtle` and :func:`jsonld` write them).
    A subject's text depends on its own triples alone: with ``last``, a subject not among
    :attr:`LastFiles.changed` is copied from the last build's files. Where each subject went."""
    more: dict[Node, dict[URIRef, dict[Node, None]]] = {}
    for subject, p, o in extra:
        more.setdefault(subject, {}).setdefault(p, {})[o] = None
    empty: Mapping[URIRef, Sequence[Node]] = {}
    spans: Spans = {}
    header = "\n".join(f"@prefix {p}: <{ns}> ." for p, ns in PREFIXES.items()) + "\n\n"
    at_ttl = ttl.write(header.encode("utf-8"))
    at_jsonld = jsonld.write(b"[")
    with contextlib.ExitStack() as stack:
        old_ttl = stack.enter_context(mapped(last.ttl)) if last is not None else None
        old_jsonld = stack.enter_context(mapped(last.jsonld)) if last is not None else None
        for n, s in enumerate(sorted(out.keys() | more.keys(), key=str)):
            span = last.spans.get(s) if last is not None and s not in last.changed else None
            if span is not None and old_ttl is not None and old_jsonld is not None:
                block, node = old_ttl[span[0] : span[1]], old_jsonld[span[2] : span[3]]
            else:
                merged: dict[URIRef, Sequence[Node]] = dict(out.get(s, empty))
                for p, os in more.get(s, {}).items():
                    merged[p] = [*merged.get(p, ()), *(o for o in os if o not in merged.get(p, ()))]
                ps: dict[Node, Sequence[Node]] = {
                    p: sorted(os, key=_order) if len(os) > 1 else os for p, os in sorted(merged.items(), key=_by_text)
                }
                block = (_turtle_block(s, ps) + "\n").encode("utf-8")
                node = json.dumps(_jsonld_node(s, ps), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            if n:
                at_jsonld += jsonld.write(b",")
            ttl.write(block)
            jsonld.write(node)
            spans[s] = (at_ttl, at_ttl + len(block), at_jsonld, at_jsonld + len(node))
            at_ttl += len(block)
            at_jsonld += len(node)
    jsonld.write(b"]\n")
    return spans
