"""Branded string types, so that slugs, content paths and IRIs cannot be mixed up."""

from typing import NewType

Slug = NewType("Slug", str)
"""A validated URL/IRI path segment: lowercase ASCII letters, digits and hyphens."""

RelPath = NewType("RelPath", str)
"""A POSIX path relative to the content folder, e.g. ``concepts/Security Dilemma.md``."""

IRI = NewType("IRI", str)
"""An absolute IRI built only from a base and validated slugs."""

DEFAULT_BASE = "https://w3id.org/sdwiki/id/"
"""The IRI base of every resource unless the settings give another (``base_iri``)."""
