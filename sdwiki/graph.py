"""Stage 4, the graph: every note's triples in its own named graph of one RDF dataset.

The dataset is an rdflib :class:`~rdflib.Dataset` over an Oxigraph store (``oxigraph``, the
default) or rdflib's in-memory store (``rdflib``). Queries see the union of the note graphs as the
default graph. Replacing one note replaces only its named graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal as Lit

from rdflib import BNode, Dataset, Graph, Literal, URIRef
from rdflib.term import Node

from sdwiki.extract import NoteGraph
from sdwiki.ontology import PREFIXES

Engine = Lit["oxigraph", "rdflib"]
ENGINES: tuple[Engine, ...] = ("oxigraph", "rdflib")


def new_dataset(engine: Engine = "oxigraph") -> Dataset:
    if engine == "oxigraph":
        from oxrdflib import OxigraphStore

        ds = Dataset(store=OxigraphStore(), default_union=True)
    else:
        ds = Dataset(default_union=True)
    for prefix, ns in PREFIXES.items():
        ds.bind(prefix, ns)
    return ds


def quads(note_graphs: Iterable[NoteGraph]) -> Iterator[tuple[Node, Node, Node, Graph]]:
    """Every triple of every note, with the named graph it belongs to."""
    for ng in note_graphs:
        g = Graph(identifier=ng.graph)
        for s, p, o in ng.triples:
            yield s, p, o, g


def build_dataset(note_graphs: Iterable[NoteGraph], engine: Engine = "oxigraph") -> Dataset:
    """Load every note's triples into a new dataset, one named graph per note."""
    ds = new_dataset(engine)
    if engine == "oxigraph":
        _bulk_load_oxigraph(ds, note_graphs)
    else:
        ds.addN(quads(note_graphs))
    return ds


def _bulk_load_oxigraph(ds: Dataset, note_graphs: Iterable[NoteGraph]) -> None:
    """Serialise to N-Quads once and let Oxigraph parse it natively (much faster than addN)."""
    import pyoxigraph as ox

    text = nquads(note_graphs)
    ds.store._inner.load(  # type: ignore[attr-defined]
        text.encode("utf-8"), format=ox.RdfFormat.N_QUADS
    )


_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})


def nt_term(term: Node) -> str:
    """A term in N-Triples syntax (strings escaped, never triple-quoted)."""
    if isinstance(term, Literal):
        text = f'"{str(term).translate(_ESCAPES)}"'
        if term.language:
            return f"{text}@{term.language}"
        if term.datatype is not None and str(term.datatype) != _XSD_STRING:
            return f"{text}^^<{term.datatype}>"
        return text
    if isinstance(term, BNode):
        return f"_:{term}"
    return f"<{term}>"


_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


def nquads(note_graphs: Iterable[NoteGraph]) -> str:
    """All notes as N-Quads text, in note and triple order (deterministic)."""
    lines: list[str] = []
    for ng in note_graphs:
        g = f"<{ng.graph}>"
        lines.extend(f"{nt_term(s)} {nt_term(p)} {nt_term(o)} {g} .\n" for s, p, o in ng.triples)
    return "".join(lines)


def replace_note(ds: Dataset, note_graph: NoteGraph, old_graph: URIRef | None = None) -> None:
    """Replace one note's named graph (and drop its old one if its name changed)."""
    for name in {note_graph.graph, old_graph} - {None}:
        assert name is not None
        ds.remove_graph(Graph(identifier=name))
    g = Graph(identifier=note_graph.graph)
    ds.addN((s, p, o, g) for s, p, o in note_graph.triples)


def remove_note(ds: Dataset, graph: URIRef) -> None:
    ds.remove_graph(Graph(identifier=graph))
