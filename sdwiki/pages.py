"""Addresses: which resources have pages, and the relative link from one page to another.

Every internal link is relative and points at an ``index.html`` file, so the site works from
any host, any sub-path, and straight from the disk (``file://``).
"""

from __future__ import annotations

from rdflib import URIRef

from sdwiki.ontology import SD

#: Classes whose resources get a page, and the address segment of each.
PAGE_KINDS: dict[URIRef, str] = {
    SD.Concept: "concept",
    SD.Theory: "concept",
    SD.Thinker: "thinker",
    SD.Example: "example",
    SD.Era: "era",
    SD.MitigationStrategy: "mitigation",
    SD.Tag: "tag",
    SD.Category: "category",
}
KIND_LABELS = {
    "concept": "Concept",
    "thinker": "Thinker",
    "example": "Example",
    "era": "Era",
    "mitigation": "Mitigation strategy",
    "tag": "Tag",
    "category": "Category",
}


def page_path(iri: URIRef, base: str) -> str | None:
    """``concept/security-dilemma/index.html`` for a resource with a page, else None."""
    s = str(iri)
    if not s.startswith(base):
        return None
    rest = s[len(base) :]
    parts = rest.split("/")
    if len(parts) != 2 or parts[0] not in KIND_LABELS:
        return None
    return f"{parts[0]}/{parts[1]}/index.html"


def href(from_page: str, to_path: str) -> str:
    """The relative link from the page at ``from_page`` to the file ``to_path`` (both from the root)."""
    folder, _, name = to_path.rpartition("/")
    if from_page.rpartition("/")[0] == folder:  # site paths: no "." or ".." parts, no doubled "/"
        return name
    return "../" * from_page.count("/") + to_path


def root_of(page: str) -> str:
    """The relative path from ``page`` to the site root (``""`` at the root)."""
    depth = page.count("/")
    return "../" * depth
