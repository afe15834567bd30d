"""``sdwiki new``: a new note with frontmatter and the standard sections of its type."""

from __future__ import annotations

import os
from pathlib import Path

from sdwiki.slugs import slugify

FOLDERS = {
    "concept": "concepts",
    "theory": "concepts",
    "thinker": "thinkers",
    "example": "examples",
}

_SECTIONS = {
    "concept": [
        ("Definition", "One paragraph: what the concept is."),
        ("Key Thinkers", "- [[Full Name]] (role, year)"),
        ("Core Mechanism", "```\nFirst step\n    ↓\nSecond step\n```"),
        ("Why It Happens", "1. **Cause**: explanation"),
        ("Historical Examples", "### Era\n- Example"),
        ("Mitigation Strategies", "### Strategy\n- Measure"),
        ("Limitations of Concept", "- Limitation"),
        ("Related Concepts", "- [[Related Concept]]"),
        ("Further Reading", '- Author, "Title" (Year)'),
    ],
    "thinker": [
        ("Overview", "Who they are, in a few sentences."),
        ("Key Ideas", "- [[Concept]] (role, year)"),
        ("Major Works", "- Surname, *Title* (Year)"),
    ],
    "example": [
        ("Overview", "What happened, in a few sentences."),
        ("Illustrates", "- [[Concept]]"),
    ],
}
_SECTIONS["theory"] = _SECTIONS["concept"]


def render(kind: str, title: str) -> str:
    """The text of a new note of ``kind`` titled ``title``."""
    category = {"thinker": "scholar", "example": "historical"}.get(kind, "concept")
    lines = [
        "---",
        f"type: {kind}",
        f"category: {category}",
        f"tags: [{kind}]",
        "aliases: []",
        *(['era: ""'] if kind == "example" else []),
        "---",
        "",
        f"# {title}",
        "",
    ]
    for heading, hint in _SECTIONS[kind]:
        lines += [f"## {heading}", hint, ""]
    return "\n".join(lines)


def create(content: Path, kind: str, title: str) -> Path:
    """Write the new note; refuses to overwrite (FileExistsError)."""
    name = title.strip()
    if not name or any(c in name for c in "/\\\0") or name.startswith("."):
        raise ValueError(f"{title!r} cannot be a note title (no slashes, not empty, not hidden)")
    folder = content / FOLDERS[kind]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    # one IRI per title: refuse a title whose address another note already has
    for existing in content.rglob("*.md"):
        if slugify(existing.stem) == slugify(name):
            raise FileExistsError(str(existing))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(render(kind, name))
    return path
