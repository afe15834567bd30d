"""Stage 4, the graph: every note's triples in its own named graph of one RDF dataset.

The dataset is an rdflib :class:`~rdflib.Dataset` over an Oxigraph store (``oxigraph``, the
default) or rdflib's in-memory store (``rdflib``). Queries see the union of the note graphs as the
default graph: it is kept as a real default graph holding each distinct triple once (an RDF
merge), so a fact stated by two notes is one answer, not two, while ``GRAPH ?g`` still tells
which notes state it. Replacing one note replaces only its named graph (and the default-graph
triples no other note states).
"""

from __future__ import annotations

import contextlib
import mmap
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal as Lit
from typing import Protocol

from rdflib import BNode, Dataset, Graph, Literal, URIRef
from rdflib.term import Node

from sdwiki.extract import NoteGraph
from sdwiki.ontology import PREFIXES
from sdwiki.records import by_object
from sdwiki.types import RelPath

Engine = Lit["oxigraph", "rdflib"]
ENGINES: tuple[Engine, ...] = ("oxigraph", "rdflib")


def new_dataset(engine: Engine = "oxigraph") -> Dataset:
    if engine == "oxigraph":
        from oxrdflib import OxigraphStore

        ds = Dataset(store=OxigraphStore(), default_union=False)
    else:
        ds = Dataset(default_union=False)
    for prefix, ns in PREFIXES.items():
        ds.bind(prefix, ns)
    return ds


def quads(note_graphs: Iterable[NoteGraph]) -> Iterator[tuple[Node, Node, Node, Graph]]:
    """Every triple of every note, with the named graph it belongs to."""
    for ng in note_graphs:
        g = Graph(identifier=ng.graph)
        for s, p, o in ng.triples:
            yield s, p, o, g


CHUNK = 32 * 1024 * 1024
"""Characters (or bytes, from a file) of N-Quads loaded in one step (see :func:`load_nquads`)."""


def load_nquads(text: str) -> Dataset:
    """An Oxigraph-backed dataset from N-Quads text (as written by :func:`nquads`), loaded in
    steps of whole lines: a large text is never encoded whole a second time. The store is the
    same as if it were loaded at once."""
    ds = _load([(_text_steps(text), "nq")], lambda: False)
    assert ds is not None  # nothing stops it
    return ds


def load_files_until(files: list[tuple[Path, str]], stop: Callable[[], bool]) -> Dataset | None:
    """:func:`load_nquads` from files (``nq``: N-Quads; ``nt``: N-Triples, into the default
    graph), one after the other, read a step at a time: however large the graph, its text is
    never in memory whole. ``stop`` is asked between steps: if it says yes, loading ends and
    the answer is None."""
    return _load([(_file_steps(path), fmt) for path, fmt in files], stop)


def _load(sources: list[tuple[Iterator[bytes], str]], stop: Callable[[], bool]) -> Dataset | None:
    import pyoxigraph as ox

    formats = {"nq": ox.RdfFormat.N_QUADS, "nt": ox.RdfFormat.N_TRIPLES}
    ds = new_dataset("oxigraph")
    store = ds.store._inner  # type: ignore[attr-defined]
    for steps, fmt in sources:
        for step in steps:
            if stop():
                return None
            # text sdwiki wrote from terms it made: checking every IRI again takes 40% of the load
            store.load(step, format=formats[fmt], lenient=True)
    return ds


def _text_steps(text: str) -> Iterator[bytes]:
    start = 0
    while start < len(text):
        end = text.find("\n", start + CHUNK)
        end = len(text) if end < 0 else end + 1
        yield text[start:end].encode("utf-8")
        start = end


def _file_steps(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while step := f.read(CHUNK) + f.readline():
            yield step


def build_dataset(note_graphs: Iterable[NoteGraph], engine: Engine = "oxigraph") -> Dataset:
    """Load every note's triples into a new dataset, one named graph per note."""
    graphs = list(note_graphs)
    if engine == "oxigraph":
        # one native parse of N-Quads text is far faster than adding terms one by one
        return load_nquads(nquads(graphs, with_default=True))
    ds = new_dataset(engine)
    ds.addN(quads(graphs))
    default = ds.default_graph
    for ng in graphs:
        for t in ng.triples:
            default.add(t)
    return ds


_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})


def nt_term(term: Node) -> str:
    """A term in N-Triples syntax (strings escaped, never triple-quoted)."""
    kind = type(term)  # exact type checks: isinstance on rdflib terms goes through ABC machinery
    if kind is URIRef:
        return f"<{term}>"
    if kind is Literal:
        lit: Literal = term  # type: ignore[assignment]
        text = f'"{str(lit).translate(_ESCAPES)}"'
        if lit.language:
            return f"{text}@{lit.language}"
        if lit.datatype is not None and lit.datatype != _XSD_STRING:
            return f"{text}^^<{lit.datatype}>"
        return text
    if kind is BNode:
        return f"_:{term}"
    return nt_term(URIRef(term)) if isinstance(term, URIRef) else f"<{term}>"


_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


def nquads(note_graphs: Iterable[NoteGraph], with_default: bool = False) -> str:
    """All notes as N-Quads text, in note and triple order (deterministic).

    With ``with_default``, each distinct triple also appears once in the default graph.
    """
    named, default = nquads_parts(note_graphs, with_default)
    return named + default


GraphText = Mapping[int, tuple[NoteGraph, list[str]]]
"""Note graphs written out as N-Quads lines (without the graph name), by ``id`` of the graph."""


def nquads_parts(
    note_graphs: Iterable[NoteGraph], with_default: bool = True, known: GraphText | None = None
) -> tuple[str, str]:
    """The named graphs, and the default graph (each distinct triple once), as N-Quads text.

    ``known``: note graphs already written out as lines (see :func:`keep_text`), so an unchanged
    note (the same :class:`NoteGraph` object) is not written out again.
    """
    lines: list[str] = []
    default: dict[str, None] = {}
    term = _term_writer()
    for ng in note_graphs:
        triples = _known_lines(ng, known, term)
        g = f" <{ng.graph}> .\n"
        lines.extend(t + g for t in triples)
        if with_default:
            default.update(dict.fromkeys(t + " .\n" for t in triples))
    return "".join(lines), "".join(default)


class Sink(Protocol):
    """Where a large file is written, a part at a time."""

    def write(self, data: bytes, /) -> int: ...


Spans = dict[RelPath, tuple[int, int]]
"""Where each note's graph is in an N-Quads file (from, to: byte offsets)."""


@dataclass(frozen=True, slots=True)
class LastText:
    """The named graphs as the last build wrote them (see :func:`write_nquads`)."""

    path: Path
    spans: Spans
    same: Callable[[NoteGraph], bool]
    """Whether a graph is the one the last build wrote (not merely equal: the same object)."""


def write_nquads(
    note_graphs: Iterable[NoteGraph],
    named: Sink,
    triples: Sink | None,
    known: GraphText | None = None,
    last: LastText | None = None,
) -> Spans:
    """:func:`nquads_parts`, written a note graph at a time: the named graphs as N-Quads to
    ``named``, and their triples as N-Triples to ``triples``, repeats included (a store loading
    them keeps each once, in the order :func:`nquads_parts` gives the default graph; None: not
    wanted). Where each note's graph went in ``named``.

    ``last``: a graph the last build wrote is copied from its file rather than written out
    again (each of its lines ends in the graph's name, which N-Triples leave out)."""
    term = _term_writer()
    spans: Spans = {}
    at = 0
    with contextlib.ExitStack() as stack:
        before = stack.enter_context(mapped(last.path)) if last is not None else None
        for ng in note_graphs:
            g = f" <{ng.graph}> .\n"
            span = last.spans.get(ng.path) if last is not None and ng.path else None
            if span is not None and before is not None and last is not None and last.same(ng):
                block = before[span[0] : span[1]]
                named.write(block)
                if triples is not None:
                    triples.write(block.replace(g.encode("utf-8"), b" .\n"))
            else:
                lines = _known_lines(ng, known, term)
                block = "".join([t + g for t in lines]).encode("utf-8")
                named.write(block)
                if triples is not None:
                    triples.write("".join([t + " .\n" for t in lines]).encode("utf-8"))
            if ng.path:
                spans[ng.path] = (at, at + len(block))
            at += len(block)
    return spans


@contextlib.contextmanager
def mapped(path: Path) -> Iterator[mmap.mmap | None]:
    """The file at ``path``, mapped into memory (None: it cannot be read, or is empty)."""
    try:
        f = path.open("rb")
    except OSError:
        yield None
        return
    with f:
        try:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # an empty file cannot be mapped
            yield None
            return
        with mapped:
            yield mapped


def keep_text(note_graphs: Iterable[NoteGraph], kept: dict[int, tuple[NoteGraph, list[str]]]) -> None:
    """Leave ``kept`` holding exactly these graphs' triples as N-Quads lines (without the graph
    name), writing out only the graphs it did not hold yet."""
    term = _term_writer()
    now = by_object(kept, note_graphs, lambda ng: _lines(ng, term))
    kept.clear()
    kept.update(now)


def _term_writer() -> Callable[[Node], str]:
    """:func:`nt_term`, remembering each term's text."""
    cache: dict[Node, str] = {}

    def term(t: Node) -> str:
        text = cache.get(t)
        if text is None:
            text = cache[t] = nt_term(t)
        return text

    return term


def _known_lines(ng: NoteGraph, known: GraphText | None, term: Callable[[Node], str]) -> list[str]:
    """The graph's lines as ``known`` holds them (the same graph object), or written out now."""
    found = known.get(id(ng)) if known is not None else None
    return found[1] if found is not None and found[0] is ng else _lines(ng, term)


def _lines(ng: NoteGraph, term: Callable[[Node], str]) -> list[str]:
    return [f"{term(s)} {term(p)} {term(o)}" for s, p, o in ng.triples]


def replace_note(ds: Dataset, old: NoteGraph | None, new: NoteGraph | None) -> None:
    """Replace one note's named graph; the default graph keeps every other note's triples."""
    default = ds.default_graph
    if old is not None:
        ds.remove_graph(Graph(identifier=old.graph))
        keep = set(new.triples) if new is not None else set()
        for t in old.triples:
            if t in keep:
                continue
            still_stated = any(
                ctx is not None and ctx != default.identifier for *_, ctx in ds.quads((t[0], t[1], t[2], None))
            )
            if not still_stated:
                default.remove(t)
    if new is not None:
        g = Graph(identifier=new.graph)
        ds.addN((s, p, o, g) for s, p, o in new.triples)
        for t in new.triples:
            default.add(t)
