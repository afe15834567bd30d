"""Diagnostics: every problem carries a file, a line, a column, a severity and a code."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

from sdwiki.records import quick_pickle

Severity = Literal["error", "warning", "info"]

#: Every diagnostic code sdwiki emits, with its default severity and what it means.
CODES: dict[str, tuple[Severity, str]] = {
    "unreadable-file": ("error", "the file is not UTF-8 text, is too large, or cannot be read"),
    "bad-frontmatter": (
        "error",
        "the YAML frontmatter is malformed or holds values of a wrong kind",
    ),
    "unclosed-frontmatter": ("error", "a frontmatter block opened with --- is never closed"),
    "empty-note": ("warning", "the note has no text"),
    "duplicate-title": ("warning", "two notes share a title or alias; links may go to either"),
    "broken-link": ("warning", "a wikilink names no note, alias or attachment"),
    "broken-anchor": ("warning", "a wikilink's #heading or #^block does not exist in the target"),
    "embed-cycle": ("error", "transclusions (![[...]]) form a cycle"),
    "unknown-section": ("warning", "a section heading the ontology does not map to a relation"),
    "unknown-item": ("warning", "an item of a known section that does not have the expected form"),
    "unknown-type": ("warning", "a frontmatter type the ontology does not define"),
    "unknown-key": ("info", "a frontmatter key the ontology does not define"),
    "symlink-outside": ("warning", "a symbolic link pointing outside the content folder (ignored)"),
    "slug-collision": ("warning", "two titles produce the same address; one gets a suffix"),
    "shape-violation": ("warning", "the graph of a note violates a SHACL shape"),
    "bad-query": ("error", "a saved query (.rq) cannot be parsed"),
}


@quick_pickle
@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """One problem found in the content."""

    file: str
    """Path relative to the content folder (POSIX), or the path as given."""
    line: int
    """1-based line number (0 when the problem concerns the whole file)."""
    column: int
    """1-based column number (0 when unknown)."""
    severity: Severity
    code: str
    """One of :data:`CODES`."""
    message: str

    def format(self) -> str:
        """The text form ``file:line:col: severity code: message``."""
        return f"{self.file}:{self.line}:{self.column}: {self.severity} {self.code}: {self.message}"


def make(file: str, line: int, column: int, code: str, message: str) -> Diagnostic:
    """A diagnostic with the default severity of ``code``."""
    severity, _ = CODES[code]
    return Diagnostic(file, line, column, severity, code, message)


def to_json(diagnostics: Iterable[Diagnostic]) -> str:
    """The JSON form: a list of objects with file, line, column, severity, code, message."""
    return json.dumps([asdict(d) for d in diagnostics], indent=2, ensure_ascii=False)


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def printable_path(path: str) -> str:
    """A path safe to print on one line: control characters are escaped."""
    if _CONTROL.search(path):
        return path.encode("unicode_escape").decode("ascii")
    return path
