"""Which entity pages an edit can change, so a rebuild in ``serve`` makes only those again.

While an entity page is made, every lookup it does in the graph index (:class:`sdwiki.facts.Facts`)
is recorded: which resource, in which direction, and which property. A rebuild looks where the
changed notes' graphs say something (the :class:`sdwiki.facts.Change` of the live index), finds
the lookups whose answers differ from last time, and marks the pages that did them. Every other
page keeps the keys of what it was made from, without working them out again. Anything a page
depends on besides the index (the set of pages and their addresses, the network analysis, the
site title, the code) is compared whole: when it changed, every page is made again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from rdflib import URIRef
from rdflib.term import Node

from sdwiki.facts import PROPERTIES, Change, Facts, Read, presence


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
    """Compared by identity: the network analysis is reused only while no relation changes."""
    title: str
    version: str

    def same(self, other: Epoch) -> bool:
        return (
            self.analysis is other.analysis
            and self.title == other.title
            and self.version == other.version
            and self.pages == other.pages
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

    def unchanged(
        self,
        facts: Facts,
        change: Change | None,
        epoch: Epoch,
        owner: Callable[[URIRef], str | None],
    ) -> dict[str, Made]:
        """The pages whose last keys still hold (empty when nothing can be carried over).
        ``change``: what changed in the index since :attr:`generation`. ``owner`` gives the page
        a resource is part of (its data files list the parts' triples, including parts that did
        not exist when the page was last made)."""
        self.carried = 0
        if self.facts is None or change is None or self.epoch is None or not self.epoch.same(epoch):
            return {}
        dirty: set[str] = set()
        for read in changed_reads(self.facts, facts, change):
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
        for page, m in made.items():
            for read in m.reads or ():
                self.readers[read].add(page)
        self.made = dict(made)
        self.facts = facts
        self.generation = generation
        self.epoch = epoch


def changed_reads(old: Facts, new: Facts, change: Change) -> set[Read]:
    """Every lookup whose answer differs between the two indexes (only resources a changed note
    graph names can differ: the index is made of the graphs)."""
    out: set[Read] = set()
    _differences(True, change.subjects, old.out, new.out, out)
    _differences(False, change.objects, old.into, new.into, out)
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
