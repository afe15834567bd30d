"""Which entity pages an edit can change, so a rebuild in ``serve`` makes only those again.

While an entity page is made, every lookup it does in the graph index (:class:`sdwiki.facts.Facts`)
is recorded: which resource, in which direction, and which property. A rebuild looks where the
changed notes' graphs say something (the :class:`sdwiki.facts.Change` of the live index), finds
the lookups whose answers differ from last time, and marks the pages that did them. Every other
page keeps the keys of what it was made from, without working them out again. Anything a page
depends on besides the index (the set of pages and their addresses, the network analysis, the
site title, the code) is compared whole: when it changed, every page is made again.

A command-line build starts with no index from last time. It finds the lookups that may have
changed from the note graphs alone (:func:`graph_reads`): the last build leaves its memo and the
graphs it was made from in the cache folder (:class:`Record`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from rdflib import URIRef
from rdflib.term import Node

from sdwiki.extract import NoteGraph
from sdwiki.facts import PROPERTIES, Change, Facts, Grouped, Read, before, grouped, presence
from sdwiki.types import RelPath

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Made:
    """What an entity page and its data files were made from: the key of the page's context (all
    it shows but the note's text), the key of its data files, and the lookups it did (``None``
    when its keys were carried over without looking anything up)."""

    context_key: str
    data_key: str
    reads: frozenset[Read] | None
    body_key: str = ""
    """The key of the note's own text and what it links to, for a page made from a note."""
    page_key: str = ""
    """The key of the page itself (made from the two above, the code and the site title)."""


@dataclass(frozen=True, slots=True)
class Epoch:
    """What every entity page depends on besides the index."""

    pages: Mapping[URIRef, str]
    analysis: object
    """Compared by identity (the network analysis is reused only while no relation changes), or,
    as a string, by value: the key of the network it was made from (a command-line build)."""
    title: str
    version: str

    def same(self, other: Epoch) -> bool:
        same_analysis = self.analysis is other.analysis or (
            isinstance(self.analysis, str) and self.analysis == other.analysis
        )
        return (
            same_analysis and self.title == other.title and self.version == other.version and self.pages == other.pages
        )


@dataclass
class PageMemo:
    """Kept between builds by ``serve``'s builder."""

    facts: Facts | None = None
    generation: int = -1
    """The generation of the live index the last build's pages were made from."""
    epoch: Epoch | None = None
    made: dict[str, Made] = field(default_factory=dict)
    """Per entity page (its output path)."""
    readers: dict[Read, set[str]] = field(default_factory=lambda: defaultdict(set))
    """Which pages did each lookup. Entries of pages made again are added to, never taken away:
    a stale entry only makes a page be made again for nothing."""
    carried: int = 0
    """How many pages the last build carried over without working out their context."""
    site_pages: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """The context's key and the last bytes of each page listing the whole wiki (the home page,
    the quality report): not rendered again while the key holds."""
    sitemap: tuple[tuple[str, ...], bytes] | None = None
    """The pages the last sitemap listed, and its bytes."""
    tracked: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """The key of the inputs besides the index, and the last bytes, of each whole-wiki file
    whose lookups are recorded like an entity page's: carried over while none changed."""
    embedding: set[RelPath] | None = None
    """The notes that embed something, as of the last build's pages (None: not known)."""
    derived: dict[str, tuple[object, object]] = field(default_factory=dict)
    """What the site works out from one object of a build (the names, the pages), by name, with
    that object: taken again while a build has the same object. (Not kept past the process.)"""

    def derive(self, name: str, source: object, make: Callable[[], T]) -> T:
        """``make()``, worked out from ``source`` alone: the last answer while ``source`` is the
        same object."""
        last = self.derived.get(name)
        if last is not None and last[0] is source:
            return last[1]  # type: ignore[return-value]
        value = make()
        self.derived[name] = (source, value)
        return value

    def since(self, facts: Facts, change: Change | None) -> set[Read] | None:
        """The lookups whose answers may differ between the index the last pages were made from
        and ``facts`` (None: any may). ``change``: what changed in the index since :attr:`generation`."""
        return changed_reads(self.facts, facts, change) if self.facts is not None and change is not None else None

    def unchanged(
        self,
        changed: set[Read] | None,
        epoch: Epoch,
        owner: Callable[[URIRef], str | None],
    ) -> dict[str, Made]:
        """The pages whose last keys still hold (empty when nothing can be carried over).
        ``changed``: the lookups whose answers may differ since the last pages (see :meth:`since`;
        None: any may). ``owner`` gives the page a resource is part of (its data files list the
        parts' triples, including parts that did not exist when the page was last made)."""
        self.carried = 0
        if changed is None or self.epoch is None or not self.epoch.same(epoch):
            return {}
        dirty: set[str] = set()
        for read in changed:
            dirty.update(self.readers.get(read, ()))
            page = owner(read[1]) if read[0] else None
            if page is not None:
                dirty.add(page)
        known = {page: made for page, made in self.made.items() if page not in dirty}
        self.carried = len(known)
        return known

    def remember(self, facts: Facts, generation: int, epoch: Epoch, made: Mapping[str, Made]) -> None:
        fresh = self.epoch is None or not self.epoch.same(epoch)
        if fresh:
            self.readers = defaultdict(set)
        kept: dict[str, Made] = {}
        for page, m in made.items():
            if m.reads is not None:  # on record in readers: kept once (the Made is carried over)
                for read in m.reads:
                    self.readers[read].add(page)
                m = replace(m, reads=None)
            kept[page] = m
        self.made = kept
        self.facts = facts
        self.generation = generation
        self.epoch = epoch


def essential(reads: Collection[Read]) -> frozenset[Read]:
    """The lookups that tell when a page must be made again: a lookup of one property of a
    resource is left out where the page read all of the resource in that direction (whenever
    anything about a resource changes, the lookup of all of it is among the changed ones: see
    :func:`changed_reads` and :func:`graph_reads`)."""
    whole = {(forward, node) for forward, node, p in reads if p is None}
    return frozenset(r for r in reads if r[2] is None or (r[0], r[1]) not in whole)


def changed_reads(old: Facts, new: Facts, change: Change) -> set[Read]:
    """Every lookup whose answer differs between the two indexes (only resources a changed note
    graph names can differ: the index is made of the graphs)."""
    out: set[Read] = set()
    was_out: Mapping[URIRef, Mapping[URIRef, Sequence[Node]]] = old.out
    was_into: Mapping[URIRef, Mapping[URIRef, Sequence[Node]]] = old.into
    if old.out is new.out:  # one index, updated in place: the change holds the entries it replaced
        was_out, was_into = before(new, change, True, change.subjects), before(new, change, False, change.objects)
    _differences(True, change.subjects, was_out, new.out, out)
    _differences(False, change.objects, was_into, new.into, out)
    return out


def _differences(
    forward: bool,
    nodes: Iterable[URIRef],
    old: Mapping[URIRef, Mapping[URIRef, Sequence[Node]]],
    new: Mapping[URIRef, Mapping[URIRef, Sequence[Node]]],
    out: set[Read],
) -> None:
    empty: dict[URIRef, Sequence[Node]] = {}
    for node in nodes:
        a, b = old.get(node, empty), new.get(node, empty)
        if list(a.items()) == list(b.items()):  # in order: pages list what they find in order
            continue
        out.add((forward, node, None))
        if list(a) != list(b):
            out.add((forward, node, PROPERTIES))
        for p in a.keys() | b.keys():
            if a.get(p) != b.get(p):
                out.add((forward, node, p))
                if bool(a.get(p)) != bool(b.get(p)):
                    out.add((forward, node, presence(p)))


def graph_reads(before: NoteGraph | None, after: NoteGraph | None) -> set[Read]:
    """The lookups whose answers a note graph changing from ``before`` to ``after`` may change,
    found from the two graphs alone (without the index they were part of): those about a resource
    whose triples in the graph differ, property by property. An answer merges, in path order, what
    each graph says: where every changed graph says the same about a resource's property as
    before, the answer is as before."""
    out: set[Read] = set()
    empty = Grouped({}, {})
    was, now = grouped(before) if before else empty, grouped(after) if after else empty
    for forward in (True, False):
        old, new = (was.by_subject, now.by_subject) if forward else (was.by_object, now.by_object)
        for node in old.keys() | new.keys():
            a: Sequence[tuple[URIRef, Node]] = old.get(node, [])
            b: Sequence[tuple[URIRef, Node]] = new.get(node, [])
            if a == b:
                continue
            out.add((forward, node, None))
            out.add((forward, node, PROPERTIES))
            for p in {p for p, _ in a} | {p for p, _ in b}:
                if [o for q, o in a if q == p] != [o for q, o in b if q == p]:
                    out.add((forward, node, p))
                    out.add((forward, node, presence(p)))
    return out


Identity = tuple[int, int, int]
Merged = tuple[tuple[Identity, Identity], dict[Node, tuple[int, int, int, int]], str]


@dataclass
class Record:
    """What a command-line build leaves for the next one (:data:`sdwiki.bundle.PAGES`): its page
    memo (without the index, which the next build makes anew), the note graphs it was made from,
    as far as they differ from the graphs bundle's (:data:`sdwiki.bundle.GRAPHS`), and where it
    wrote each graph (see :class:`sdwiki.graph.LastText`)."""

    base: str
    """The graphs bundle the record is relative to (its token)."""
    graphs: dict[RelPath, NoteGraph | None]
    """The last build's graph of each note whose graph is not the bundle's (None: the note was gone)."""
    memo: PageMemo
    nquads: tuple[Identity, dict[RelPath, tuple[int, int]]] | None = None
    """The last build's named graphs as it wrote them in the cache folder: the file's identity
    (inode, size, modification time) and where each note's graph is in it."""
    merged: Merged | None = None
    """The last build's whole-graph Turtle and JSON-LD files in the cache folder: their identities,
    where each subject is in them, and the key of the network whose measures they hold."""
    signatures: dict[RelPath, str] = field(default_factory=dict)
    """Each note graph's part in the network (see :func:`sdwiki.analytics.network_key`)."""

    def last_graph(self, path: RelPath, bundled: Mapping[RelPath, NoteGraph]) -> NoteGraph | None:
        return self.graphs[path] if path in self.graphs else bundled.get(path)
