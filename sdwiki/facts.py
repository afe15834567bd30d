"""An in-memory index of the graph for rendering: what each resource says and what points at it.

Pages are rendered from these lookups (a dict access each), not from SPARQL, so a build over
thousands of notes stays fast. Built once per build from the note graphs (deduplicated: the
same view as the dataset's default graph).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from rdflib import Literal, URIRef
from rdflib.term import Node

from sdwiki.extract import NoteGraph
from sdwiki.terms import RDF, RDFS, SD

Read = tuple[bool, URIRef, URIRef | None]
"""One lookup: (``True`` for what a resource says, ``False`` for what points at it; the resource;
the property, or ``None`` for all of them)."""


@dataclass(frozen=True, slots=True)
class Facts:
    out: dict[URIRef, dict[URIRef, list[Node]]] = field(default_factory=dict)
    """subject -> predicate -> objects (in first-seen order, no repeats)."""
    into: dict[URIRef, dict[URIRef, list[URIRef]]] = field(default_factory=dict)
    """object -> predicate -> subjects."""
    reads: set[Read] | None = None
    """When a set, every lookup below is recorded in it: what a page was made from (see
    :mod:`sdwiki.reuse`)."""

    def objects(self, s: URIRef, p: URIRef) -> list[Node]:
        if self.reads is not None:
            self.reads.add((True, s, p))
        return self.out.get(s, {}).get(p, [])

    def outgoing(self, s: URIRef) -> dict[URIRef, list[Node]]:
        """Everything ``s`` says, by property."""
        if self.reads is not None:
            self.reads.add((True, s, None))
        return self.out.get(s, {})

    def incoming(self, o: URIRef) -> dict[URIRef, list[URIRef]]:
        """Everything that points at ``o``, by property."""
        if self.reads is not None:
            self.reads.add((False, o, None))
        return self.into.get(o, {})

    def refs(self, s: URIRef, p: URIRef) -> list[URIRef]:
        return [o for o in self.objects(s, p) if isinstance(o, URIRef)]

    def value(self, s: URIRef, p: URIRef) -> Node | None:
        objs = self.objects(s, p)
        return objs[0] if objs else None

    def text(self, s: URIRef, p: URIRef) -> str | None:
        v = self.value(s, p)
        return str(v) if isinstance(v, Literal) else None

    def label(self, s: URIRef) -> str:
        return self.text(s, RDFS.label) or s.rsplit("/", 1)[-1]

    def types(self, s: URIRef) -> list[URIRef]:
        return self.refs(s, RDF.type)

    def subjects(self, p: URIRef, o: URIRef) -> list[URIRef]:
        if self.reads is not None:
            self.reads.add((False, o, p))
        return self.into.get(o, {}).get(p, [])

    def position(self, s: URIRef) -> int:
        v = self.value(s, SD.position)
        return int(v) if isinstance(v, Literal) and str(v).isdigit() else 0


def index(note_graphs: Iterable[NoteGraph], record: bool = False) -> Facts:
    out: dict[URIRef, dict[URIRef, dict[Node, None]]] = defaultdict(lambda: defaultdict(dict))
    into: dict[URIRef, dict[URIRef, dict[URIRef, None]]] = defaultdict(lambda: defaultdict(dict))
    for ng in note_graphs:
        for s, p, o in ng.triples:
            out[s][p][o] = None
            if type(o) is URIRef:
                into[o][p][s] = None
    return Facts(
        {s: {p: list(os) for p, os in ps.items()} for s, ps in out.items()},
        {o: {p: list(ss) for p, ss in ps.items()} for o, ps in into.items()},
        set() if record else None,
    )
