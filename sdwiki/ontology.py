"""The ontology, read once from ``ontology/*.ttl``: the names of the graph and the section mapping.

Nothing about sections, headings or note types is hard-coded in the extractor: it asks this
module which property a heading gives, in which form, and which class a note type is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rdflib import Graph, Literal, URIRef

from sdwiki.resources import ontology_dir
from sdwiki.terms import DCTERMS, FOAF, OWL, PROV, RDF, RDFS, SD, SKOS, XSD

__all__ = ["PREFIXES", "SD", "Ontology", "SectionMapping", "heading_key", "heading_qualifier", "load"]

PREFIXES: dict[str, str] = {
    "sd": str(SD),
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "owl": str(OWL),
    "xsd": str(XSD),
    "skos": str(SKOS),
    "dcterms": str(DCTERMS),
    "foaf": str(FOAF),
    "prov": str(PROV),
}


@dataclass(frozen=True, slots=True)
class SectionMapping:
    """How one section heading becomes triples."""

    prop: URIRef
    form: URIRef
    """One of the sd:*Form individuals."""
    range: URIRef | None
    applies_to: frozenset[URIRef]
    """Note classes allowed to use it (empty: all)."""
    member_prop: URIRef | None = None
    group_prop: URIRef | None = None
    item_class: URIRef | None = None
    group_class: URIRef | None = None
    explanation_prop: URIRef = SKOS.definition
    qualifier_prop: URIRef | None = None


@dataclass(frozen=True, slots=True)
class Ontology:
    """The parts of the ontology the pipeline uses."""

    graph: Graph
    note_types: dict[str, URIRef]
    """Frontmatter ``type`` value -> class."""
    iri_paths: dict[URIRef, str]
    """Class -> first IRI path segment (global resources)."""
    local_paths: dict[URIRef, str]
    """Class -> segment under the owner's IRI (per-note resources)."""
    sections: dict[str, SectionMapping]
    """Heading key -> mapping."""
    frontmatter_keys: dict[str, URIRef]
    inverses: dict[URIRef, URIRef]
    datatype_props: frozenset[URIRef]
    ranges: dict[URIRef, URIRef]
    labels: dict[URIRef, str]
    digest: str
    """A hash of the ontology files, part of every cache key."""

    def section(self, heading: str) -> SectionMapping | None:
        return self.sections.get(heading_key(heading))

    def label(self, term: URIRef) -> str:
        return self.labels.get(term) or term.split("#")[-1].split("/")[-1]


_PAREN = re.compile(r"\s*\(([^()]*)\)\s*$")


@lru_cache(maxsize=4096)  # a few dozen headings recur in every note
def heading_key(heading: str) -> str:
    """The key a heading is looked up by: parenthetical removed, case and spacing folded."""
    return " ".join(_PAREN.sub("", heading).casefold().split())


def heading_qualifier(heading: str) -> str | None:
    """The text in a heading's trailing parentheses: ``Severity Factors (Jervis)`` -> Jervis."""
    m = _PAREN.search(heading)
    return m.group(1).strip() or None if m else None


@lru_cache(maxsize=4)
def load(folder: Path | None = None) -> Ontology:
    """Load and index the ontology (cached: it is read once per process)."""
    import hashlib

    folder = folder or ontology_dir()
    g = Graph()
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.ttl")):
        data = path.read_bytes()
        h.update(path.name.encode() + b"\0" + data)
        g.parse(data=data, format="turtle")

    def one(s: URIRef, p: URIRef) -> URIRef | None:
        v = g.value(s, p)
        return v if isinstance(v, URIRef) else None

    note_types = {str(o): s for s, o in g.subject_objects(SD.noteType) if isinstance(s, URIRef)}
    iri_paths = {s: str(o) for s, o in g.subject_objects(SD.iriPath) if isinstance(s, URIRef)}
    local_paths = {s: str(o) for s, o in g.subject_objects(SD.localPath) if isinstance(s, URIRef)}
    sections: dict[str, SectionMapping] = {}
    for prop in sorted({s for s in g.subjects(SD.sectionHeading) if isinstance(s, URIRef)}):
        form = one(prop, SD.sectionForm)
        if form is None:
            continue
        mapping = SectionMapping(
            prop=prop,
            form=form,
            range=one(prop, RDFS.range),
            # where a mapping may be used: sd:appliesTo, else the property's domain, else anywhere
            applies_to=frozenset(o for o in g.objects(prop, SD.appliesTo) if isinstance(o, URIRef))
            or frozenset(o for o in g.objects(prop, RDFS.domain) if isinstance(o, URIRef)),
            member_prop=one(prop, SD.memberProperty),
            group_prop=one(prop, SD.groupProperty),
            item_class=one(prop, SD.itemClass),
            group_class=one(prop, SD.groupClass),
            explanation_prop=one(prop, SD.explanationProperty) or SKOS.definition,
            qualifier_prop=one(prop, SD.qualifierProperty),
        )
        for heading in g.objects(prop, SD.sectionHeading):
            sections[heading_key(str(heading))] = mapping
    fm_keys = {str(o).casefold(): s for s, o in g.subject_objects(SD.frontmatterKey) if isinstance(s, URIRef)}
    inverses: dict[URIRef, URIRef] = {}
    for s, o in g.subject_objects(OWL.inverseOf):
        if isinstance(s, URIRef) and isinstance(o, URIRef):
            inverses[s] = o
            inverses.setdefault(o, s)
    datatype_props = frozenset(s for s in g.subjects(RDF.type, OWL.DatatypeProperty) if isinstance(s, URIRef)) | {
        SKOS.definition,
        DCTERMS.description,
        SKOS.altLabel,
    }
    ranges = {s: o for s, o in g.subject_objects(RDFS.range) if isinstance(s, URIRef) and isinstance(o, URIRef)}
    labels = {s: str(o) for s, o in g.subject_objects(RDFS.label) if isinstance(s, URIRef) and isinstance(o, Literal)}
    return Ontology(
        graph=g,
        note_types=note_types,
        iri_paths=iri_paths,
        local_paths=local_paths,
        sections=sections,
        frontmatter_keys=fm_keys,
        inverses=inverses,
        datatype_props=datatype_props,
        ranges=ranges,
        labels=labels,
        digest=h.hexdigest(),
    )
