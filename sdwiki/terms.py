"""Vocabulary terms as plain attributes.

rdflib's namespace objects build a new URIRef on every attribute access, which dominates hot
loops over millions of triples. These behave the same (``SD.Concept``, ``SD["x"]``,
``str(SD)``) but create each term once and then return it as an ordinary attribute.
"""

from __future__ import annotations

from functools import lru_cache

from rdflib import Literal, URIRef
from rdflib.namespace import DCTERMS as _DCTERMS
from rdflib.namespace import FOAF as _FOAF
from rdflib.namespace import OWL as _OWL
from rdflib.namespace import PROV as _PROV
from rdflib.namespace import RDF as _RDF
from rdflib.namespace import RDFS as _RDFS
from rdflib.namespace import SKOS as _SKOS
from rdflib.namespace import XSD as _XSD


class Vocab:
    """A namespace whose terms are created once and cached as attributes."""

    def __init__(self, base: str) -> None:
        self._base = base

    def __getattr__(self, name: str) -> URIRef:
        if name.startswith("__"):
            raise AttributeError(name)
        term = _VOCABULARY.setdefault(self._base + name, URIRef(self._base + name))
        setattr(self, name, term)
        return term

    def __getitem__(self, name: str) -> URIRef:
        return URIRef(self._base + name)

    def __str__(self) -> str:
        return self._base

    def __repr__(self) -> str:
        return f"Vocab({self._base!r})"


_VOCABULARY: dict[str, URIRef] = {}
"""Every vocabulary term made so far, by its text (see :func:`known_iri`)."""

SD = Vocab("https://w3id.org/sdwiki/ontology#")
RDF = Vocab(str(_RDF))
RDFS = Vocab(str(_RDFS))
OWL = Vocab(str(_OWL))
XSD = Vocab(str(_XSD))
SKOS = Vocab(str(_SKOS))
DCTERMS = Vocab(str(_DCTERMS))
FOAF = Vocab(str(_FOAF))
PROV = Vocab(str(_PROV))


@lru_cache(maxsize=1 << 20)
def iri(text: str) -> URIRef:
    """The one :class:`URIRef` object for the IRI ``text`` (plain text, not a term).

    rdflib compares terms in Python; a dictionary keyed by terms compares a key with what is
    looked up only when they are different objects. Resources named by many notes (an era, a
    thinker) are looked up millions of times in a build, and the same IRIs come back in answer
    after answer: made here, each is one object, found by identity."""
    return URIRef(text)


def known_iri(text: str) -> URIRef:
    """The vocabulary's own term for ``text`` (``RDF.type`` is compared by identity in hot loops),
    or else the one object of :func:`iri`: how terms kept in a file are made again."""
    return _VOCABULARY.get(text) or iri(text)


@lru_cache(maxsize=1 << 16, typed=True)
def literal(value: str | int, datatype: URIRef | None = None) -> Literal:
    """The one :class:`Literal` for a value made again and again: a label, a path, a line or a
    year many notes repeat, a string coming back in answer after answer. Making a literal runs
    rdflib's type conversion in Python; labels of shared resources are made tens of thousands of
    times in a large build. (A note's long text, made once, does not come through here.)"""
    return Literal(value, datatype=datatype)
