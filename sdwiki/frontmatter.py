"""Frontmatter: YAML between ``---`` lines, loaded safely and bounded.

Only YAML's safe schema is used (no object construction, no code execution). The size of the
block, the depth of nesting and the number of nodes after alias expansion are bounded, so an
alias bomb or a deeply nested value becomes a diagnostic rather than a hang or a crash.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from sdwiki.records import quick_pickle

try:  # the C loader is much faster; the pure-Python one is identical in behaviour
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_BYTES = 64 * 1024
MAX_NODES = 10_000
MAX_DEPTH = 32

Scalar = str | int | float | bool | None
Value = Scalar | list["Value"] | dict[str, "Value"]

_KEY_LINE = re.compile(r"^([^\s#:][^:]*?)\s*:(?:\s|$)")


@quick_pickle
@dataclass(frozen=True, slots=True)
class Problem:
    """A problem found in the frontmatter, at a line of the file (1-based)."""

    line: int
    code: str
    message: str


@quick_pickle
@dataclass(frozen=True, slots=True)
class Frontmatter:
    """The result of splitting and loading a note's frontmatter."""

    data: Mapping[str, Value]
    """The loaded mapping (empty when absent or unusable)."""
    key_lines: Mapping[str, int]
    """The file line (1-based) of each top-level key."""
    body: str
    """The text after the frontmatter."""
    body_line: int
    """The file line (1-based) on which ``body`` starts."""
    problems: tuple[Problem, ...]
    dates: frozenset[str] = frozenset()
    """Top-level keys whose value YAML read as a date (now ISO text)."""


def split(text: str) -> Frontmatter:
    """Split ``text`` into frontmatter and body and load the frontmatter."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return Frontmatter({}, {}, text, 1, ())
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        return Frontmatter(
            {},
            {},
            text,
            1,
            (Problem(1, "unclosed-frontmatter", "frontmatter opened with '---' is never closed"),),
        )
    block = "\n".join(lines[1:end])
    body = "\n".join(lines[end + 1 :])
    key_lines: dict[str, int] = {}
    for i, line in enumerate(lines[1:end], start=2):
        m = _KEY_LINE.match(line)
        if m and not line.startswith((" ", "\t", "-")):
            key_lines.setdefault(m.group(1).strip().strip("'\""), i)
    data, problems = load(block, first_line=2)
    dates = frozenset(k for k in data if _DATE.match(str(data[k])) and not _quoted(k, lines[1:end]))
    return Frontmatter(data, key_lines, body, end + 2, problems, dates)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _quoted(key: str, lines: list[str]) -> bool:
    """Whether the key's value is written in quotes (so YAML read it as text, not a date)."""
    for line in lines:
        if line.startswith(f"{key}:"):
            return line.split(":", 1)[1].strip()[:1] in ("'", '"')
    return True


def load(block: str, first_line: int = 1) -> tuple[dict[str, Value], tuple[Problem, ...]]:
    """Load a YAML mapping safely; return it with the problems found."""
    if len(block.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return {}, (Problem(first_line, "bad-frontmatter", f"frontmatter over {MAX_BYTES} bytes"),)
    if not block.strip():
        return {}, ()
    try:
        raw = yaml.load(block, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = first_line + (mark.line if mark else 0)
        return {}, (Problem(line, "bad-frontmatter", f"invalid YAML: {exc.problem or exc}"),)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        return {}, (Problem(first_line, "bad-frontmatter", f"invalid YAML: {exc}"),)
    if raw is None:
        return {}, ()
    if not isinstance(raw, dict):
        kind = type(raw).__name__
        return {}, (Problem(first_line, "bad-frontmatter", f"frontmatter is a {kind}, not a mapping"),)
    budget = [MAX_NODES]
    try:
        data = {str(k): _plain(v, budget, 0) for k, v in raw.items()}
    except _TooBig as exc:
        return {}, (Problem(first_line, "bad-frontmatter", str(exc)),)
    return data, ()


class _TooBig(Exception):
    pass


def _plain(value: object, budget: list[int], depth: int) -> Value:
    """Convert loaded YAML into plain JSON-like values, counting nodes (aliases included)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig(f"frontmatter expands to over {MAX_NODES} values (alias bomb?)")
    if depth > MAX_DEPTH:
        raise _TooBig(f"frontmatter nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, _dt.date | _dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | set):
        return [_plain(v, budget, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, budget, depth + 1) for k, v in value.items()}
    return str(value)  # bytes (!!binary) and anything else the safe schema may give


def as_text(value: Value) -> str | None:
    """A scalar as text (numbers and dates become their text); None for lists, maps and null."""
    if value is None or isinstance(value, list | dict):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def as_text_list(value: Value) -> tuple[list[str], bool]:
    """A list of texts from a list or a comma-separated string; the flag says whether it fit."""
    if value is None:
        return [], True
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()], True
    if isinstance(value, list):
        out = [t for v in value if (t := as_text(v)) is not None and t.strip()]
        return [t.strip() for t in out], len(out) == len(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [str(value)], True
    return [], False
