"""SHACL validation of the graph; each violation becomes a diagnostic at its note and line."""

from __future__ import annotations

from rdflib import Graph, Literal, Namespace, URIRef

from sdwiki.diagnostics import Diagnostic, make, printable_path
from sdwiki.export import union_graph
from sdwiki.ontology import SD
from sdwiki.pipeline import Project
from sdwiki.terms import RDF

SH = Namespace("http://www.w3.org/ns/shacl#")


def validate(project: Project, data: Graph | None = None) -> list[Diagnostic]:
    """Validate the union of the note graphs against the ontology's shapes."""
    from pyshacl import validate as shacl

    data = data if data is not None else union_graph(project.ordered_graphs())
    shapes = project.ontology.graph
    if not any(shapes.triples((None, RDF.type, SH.NodeShape))):
        return []
    conforms, report, _ = shacl(data, shacl_graph=shapes, ont_graph=None, inference="none")
    if conforms:
        return []
    assert isinstance(report, Graph)
    out: list[Diagnostic] = []
    for result in report.subjects(RDF.type, SH.ValidationResult):
        focus = report.value(result, SH.focusNode)
        message = report.value(result, SH.resultMessage)
        path = report.value(result, SH.resultPath)
        if not isinstance(focus, URIRef):
            continue
        where = _source(data, focus)
        label = data.value(focus, URIRef("http://www.w3.org/2000/01/rdf-schema#label"))
        what = f"{label}" if label is not None else focus.rsplit("/", 1)[-1]
        text = f"{what}: {message}" if message else f"{what}: violates a shape on {path}"
        out.append(make(where[0], where[1], 1, "shape-violation", text))
    return sorted(set(out))


def _source(data: Graph, focus: URIRef) -> tuple[str, int]:
    paths = sorted(str(p) for p in data.objects(focus, SD.sourcePath) if isinstance(p, Literal))
    lines = sorted(int(p) for p in data.objects(focus, SD.sourceLine) if isinstance(p, Literal))
    if paths:
        return printable_path(paths[0]), lines[0] if lines else 0
    return "<graph>", 0
