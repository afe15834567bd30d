"""An in-memory index of the graph for rendering: what each resource says and what points at it.

Pages are rendered from these lookups (a dict access each), not from SPARQL, so a build over
thousands of notes stays fast. Built once per build from the note graphs (deduplicated: the
same view as the dataset's default graph).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from rdflib import Literal, URIRef
from rdflib.term import Node

from sdwiki.extract import NoteGraph
from sdwiki.terms import RDF, RDFS, SD
from sdwiki.types import RelPath

Read = tuple[bool, URIRef, URIRef | None]
"""One lookup: (``True`` for what a resource says, ``False`` for what points at it; the resource;
the property, :data:`PROPERTIES` for which properties there are, or ``None`` for all of it)."""

PROPERTIES = URIRef("urn:sdwiki:properties")


@lru_cache(maxsize=1024)
def presence(p: URIRef) -> URIRef:
    """The read of whether a resource has ``p`` at all (see :meth:`Facts.has`): one object per property."""
    return URIRef(f"urn:sdwiki:has:{p}")


@dataclass(frozen=True, slots=True)
class Facts:
    out: dict[URIRef, dict[URIRef, list[Node]]] = field(default_factory=dict)
    """subject -> predicate -> objects (in first-seen order, no repeats)."""
    into: dict[URIRef, dict[URIRef, list[URIRef]]] = field(default_factory=dict)
    """object -> predicate -> subjects (``rdf:type`` left out: no page lists a class's members)."""
    reads: set[Read] | None = None
    """When a set, every lookup below is recorded in it: what a page was made from (see
    :mod:`sdwiki.reuse`)."""

    def objects(self, s: URIRef, p: URIRef) -> list[Node]:
        if self.reads is not None:
            self.reads.add((True, s, p))
        return self.out.get(s, {}).get(p, [])

    def has(self, s: URIRef, p: URIRef) -> bool:
        """Whether ``s`` has some value for ``p`` (which values is not read)."""
        if self.reads is not None:
            self.reads.add((True, s, presence(p)))
        return bool(self.out.get(s, {}).get(p))

    def outgoing(self, s: URIRef) -> dict[URIRef, list[Node]]:
        """Everything ``s`` says, by property."""
        if self.reads is not None:
            self.reads.add((True, s, None))
        return self.out.get(s, {})

    def properties(self, s: URIRef) -> list[URIRef]:
        """The properties ``s`` has (read their values with :meth:`objects`)."""
        if self.reads is not None:
            self.reads.add((True, s, PROPERTIES))
        return list(self.out.get(s, {}))

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


T = TypeVar("T")

_TYPE = RDF.type  # note graphs use this very term: one identity test instead of URIRef.__eq__


def index(note_graphs: Iterable[NoteGraph], record: bool = False) -> Facts:
    out: dict[URIRef, dict[URIRef, dict[Node, None]]] = defaultdict(lambda: defaultdict(dict))
    into: dict[URIRef, dict[URIRef, dict[URIRef, None]]] = defaultdict(lambda: defaultdict(dict))
    for ng in note_graphs:
        for s, p, o in ng.triples:
            out[s][p][o] = None
            if type(o) is URIRef and p is not _TYPE:
                into[o][p][s] = None
    return Facts(
        {s: {p: list(os) for p, os in ps.items()} for s, ps in out.items()},
        {o: {p: list(ss) for p, ss in ps.items()} for o, ps in into.items()},
        set() if record else None,
    )


@dataclass(frozen=True, slots=True)
class Change:
    """What one update of a :class:`LiveIndex` changed."""

    paths: frozenset[RelPath]
    """The notes whose graph was added, replaced or removed."""
    subjects: set[URIRef]
    """The resources those graphs (before and after) state something about."""
    objects: set[URIRef]
    """The resources they point at (``rdf:type`` left out, as in :attr:`Facts.into`)."""
    replaced: tuple[dict[URIRef, Any], dict[URIRef, Any]] = field(default_factory=lambda: ({}, {}))
    """The entries of the index's ``out`` and ``into`` that the update replaced, as they were
    (None: there was none): the index is updated in place (see :func:`before`)."""


class LiveIndex:
    """The index of :func:`index`, kept up to date from one build to the next (``serve``): only
    the resources a changed note graph names are indexed again, from the graphs that name them,
    in the same order :func:`index` would take them."""

    def __init__(self) -> None:
        self.facts: Facts | None = None
        self.graphs: dict[RelPath, NoteGraph] = {}
        self._given: Mapping[RelPath, NoteGraph] | None = None
        """The mapping the last update was given (:attr:`graphs` is a copy of it)."""
        self._stated_in: dict[URIRef, set[RelPath]] = defaultdict(set)
        """Which note graphs state something about a resource (it is their subject)."""
        self._pointed_in: dict[URIRef, set[RelPath]] = defaultdict(set)
        """Which note graphs point at a resource (it is their object)."""
        self._grouped: dict[int, tuple[NoteGraph, Grouped]] = {}
        self.change: Change | None = None
        """What the last update changed (None: it indexed everything afresh)."""
        self.generation = 0
        """How many times the index was made or updated."""
        self.pages: tuple[int, dict[URIRef, str]] | None = None
        """What the site made of the index of some generation: every resource with a page, and
        its page (see :meth:`carry`)."""
        self.parts: tuple[int, dict[URIRef, set[URIRef]]] | None = None
        """What the site made of the index of some generation: each resource's parts."""

    def since(self, generation: int) -> Change | None:
        """What changed since the index of ``generation`` (None: anything may have)."""
        return self.change if generation == self.generation - 1 else None

    def carry(self, made: tuple[int, T] | None) -> tuple[Change, T] | None:
        """What was made of the index of some generation, with what changed since, if it can be
        brought up to date from that (None: make it afresh)."""
        change = self.since(made[0]) if made is not None else None
        return (change, made[1]) if change is not None and made is not None else None

    def update(
        self,
        graphs: Mapping[RelPath, NoteGraph],
        record: bool = False,
        since: tuple[Mapping[RelPath, NoteGraph], Iterable[RelPath]] | None = None,
    ) -> Facts:
        """The index of ``graphs`` (taken in path order, as :func:`index` takes them). ``since``: a
        mapping of graphs and the only paths where ``graphs`` may differ from it (see
        :attr:`sdwiki.pipeline.Project.graphs_since`); when that is the mapping the last update was
        given, only those paths are compared."""
        self.generation += 1
        if self.facts is None:
            self._given = graphs
            return self._start(graphs, record)
        if since is not None and since[0] is self._given:
            candidates: Iterable[RelPath] = since[1]
        else:
            candidates = self.graphs.keys() | graphs.keys()
        paths = frozenset(p for p in candidates if self.graphs.get(p) is not graphs.get(p))
        self._given = graphs
        change = Change(paths, set(), set())
        gone: list[int] = []  # the graphs replaced: their grouping is dropped once the update is done
        for path in paths:
            before, after = self.graphs.get(path), graphs.get(path)
            if before is not None:
                self._file(path, before, False, change)
                gone.append(id(before))
            if after is not None:
                self._file(path, after, True, change)
        # a resource whose triples in every changed graph are as they were is indexed as it was
        # (a hub, such as an era, is named by thousands of graphs: merging them again is the cost)
        edits = [
            (self._group(b) if b is not None else None, self._group(a) if a is not None else None)
            for b, a in ((self.graphs.get(path), graphs.get(path)) for path in paths)
        ]
        self.graphs = dict(graphs)
        # in place: copying the tables would touch every entry, where a save changes a few
        out, into = self.facts.out, self.facts.into
        replaced_out, replaced_into = change.replaced
        self._reindex(_touched(change.subjects, edits, True), self._stated_in, out, graphs, True, replaced_out)
        self._reindex(_touched(change.objects, edits, False), self._pointed_in, into, graphs, False, replaced_into)  # type: ignore[arg-type]
        for key in gone:
            self._grouped.pop(key, None)
        self.facts = Facts(out, into, set() if record else None)
        self.change = change
        return self.facts

    def _file(self, path: RelPath, graph: NoteGraph, present: bool, change: Change) -> None:
        """Note (or, not ``present``, forget) that ``graph`` names its resources; collect them."""
        mark = set.add if present else set.discard
        for s, p, o in graph.triples:
            change.subjects.add(s)
            mark(self._stated_in[s], path)
            if type(o) is URIRef and p is not _TYPE:
                change.objects.add(o)
                mark(self._pointed_in[o], path)

    def _reindex(
        self,
        nodes: Iterable[URIRef],
        named_in: dict[URIRef, set[RelPath]],
        table: dict[URIRef, dict[URIRef, list[Node]]],
        graphs: Mapping[RelPath, NoteGraph],
        forward: bool,
        replaced: dict[URIRef, Any],
    ) -> None:
        """Index ``nodes`` again in ``table`` (``out`` when ``forward``, else ``into``) from the
        graphs that name them, in path order; each entry replaced goes into ``replaced``."""
        for node in nodes:
            replaced.setdefault(node, table.get(node))
            merged: dict[URIRef, dict[Node, None]] = {}
            for path in sorted(named_in.get(node, ())):
                grouped = self._group(graphs[path])
                for p, other in (grouped.by_subject if forward else grouped.by_object)[node]:
                    merged.setdefault(p, {})[other] = None
            if merged:
                table[node] = {p: list(others) for p, others in merged.items()}
            else:
                table.pop(node, None)
                named_in.pop(node, None)

    def _start(self, graphs: Mapping[RelPath, NoteGraph], record: bool) -> Facts:
        # every graph grouped now: a first edit naming a hub (an era…) would otherwise group them all
        for path, g in graphs.items():
            grouped = self._group(g)
            for s in grouped.by_subject:
                self._stated_in[s].add(path)
            for o in grouped.by_object:
                self._pointed_in[o].add(path)
        self.graphs = dict(graphs)
        self.facts = index((graphs[p] for p in sorted(graphs)), record)
        self.change = None
        return self.facts

    def _group(self, g: NoteGraph) -> Grouped:
        known = self._grouped.get(id(g))
        if known is None or known[0] is not g:
            known = self._grouped[id(g)] = (g, grouped(g))
        return known[1]


def before(facts: Facts, change: Change, forward: bool, nodes: Iterable[URIRef]) -> dict[URIRef, Any]:
    """The entries of ``nodes`` in ``facts`` (``out`` when ``forward``, else ``into``) as they were
    before ``change``, the last update of the index ``facts`` is from (updated in place)."""
    table = facts.out if forward else facts.into
    replaced = change.replaced[0 if forward else 1]
    was: dict[URIRef, Any] = {}
    for node in nodes:
        entry = replaced[node] if node in replaced else table.get(node)
        if entry is not None:
            was[node] = entry
    return was


def grouped(g: NoteGraph) -> Grouped:
    """A note graph's triples by subject and by object (as :func:`index` takes them)."""
    out = Grouped(defaultdict(list), defaultdict(list))
    for s, p, o in g.triples:
        out.by_subject[s].append((p, o))
        if type(o) is URIRef and p is not _TYPE:
            out.by_object[o].append((p, s))
    return out


def _touched(nodes: set[URIRef], edits: list[tuple[Grouped | None, Grouped | None]], forward: bool) -> list[URIRef]:
    """The ``nodes`` whose triples (as subject when ``forward``, else as object) differ in some
    changed graph, before and after."""

    def side(g: Grouped | None, node: URIRef) -> object:
        return None if g is None else (g.by_subject if forward else g.by_object).get(node)

    return [n for n in nodes if any(side(before, n) != side(after, n) for before, after in edits)]


@dataclass(frozen=True, slots=True)
class Grouped:
    """A note graph's triples by subject and by object, each in the graph's order."""

    by_subject: dict[URIRef, list[tuple[URIRef, Node]]]
    by_object: dict[URIRef, list[tuple[URIRef, URIRef]]]
