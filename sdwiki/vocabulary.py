"""The vocabulary reference (docs/VOCABULARY.md), generated from the ontology itself."""

from __future__ import annotations

from rdflib import Literal, URIRef

from sdwiki.ontology import SD, Ontology, load
from sdwiki.terms import OWL, RDF, RDFS


def _short(term: URIRef) -> str:
    from sdwiki.ontology import PREFIXES

    for prefix, ns in PREFIXES.items():
        if str(term).startswith(ns):
            return f"{prefix}:{str(term)[len(ns) :]}"
    return f"<{term}>"


def reference(onto: Ontology | None = None) -> str:
    onto = onto or load()
    g = onto.graph

    def text(s: URIRef, p: URIRef) -> str:
        v = g.value(s, p)
        return " ".join(str(v).split()) if isinstance(v, Literal) else ""

    lines = [
        "# The sdwiki vocabulary",
        "",
        "Generated from `ontology/sdwiki.ttl` (`python -m sdwiki.vocabulary > docs/VOCABULARY.md`);",
        "a test fails when this file and the ontology disagree.",
        "",
        "Prefix `sd: <https://w3id.org/sdwiki/ontology#>`.",
        "",
        "## Classes",
        "",
        "| class | label | note type | address | description |",
        "|---|---|---|---|---|",
    ]
    classes = sorted(s for s in g.subjects(RDF.type, OWL.Class) if isinstance(s, URIRef) and s != SD.SectionForm)
    for c in classes:
        note_type = ", ".join(sorted(str(o) for o in g.objects(c, SD.noteType)))
        address = onto.iri_paths.get(c) or (f"…/{onto.local_paths[c]}/…" if c in onto.local_paths else "")
        lines.append(f"| `{_short(c)}` | {text(c, RDFS.label)} | {note_type} | {address} | {text(c, RDFS.comment)} |")
    lines += [
        "",
        "## Properties",
        "",
        "| property | label | inverse | section headings | frontmatter key | description |",
        "|---|---|---|---|---|---|",
    ]
    props = sorted(
        {
            s
            for t in (OWL.ObjectProperty, OWL.DatatypeProperty)
            for s in g.subjects(RDF.type, t)
            if isinstance(s, URIRef)
        }
        | {s for s in g.subjects(SD.sectionHeading) if isinstance(s, URIRef)}
    )
    for p in props:
        inverse = onto.inverses.get(p)
        headings = ", ".join(sorted(str(h) for h in g.objects(p, SD.sectionHeading)))
        keys = ", ".join(sorted(f"`{k}`" for k in map(str, g.objects(p, SD.frontmatterKey))))
        lines.append(
            f"| `{_short(p)}` | {text(p, RDFS.label)} | {f'`{_short(inverse)}`' if inverse else ''} | "
            f"{headings} | {keys} | {text(p, RDFS.comment)} |"
        )
    lines += [
        "",
        "## Section forms",
        "",
        "| form | how the section is written |",
        "|---|---|",
    ]
    for f in sorted(s for s in g.subjects(RDF.type, SD.SectionForm) if isinstance(s, URIRef)):
        lines.append(f"| `{_short(f)}` | {text(f, RDFS.comment)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
