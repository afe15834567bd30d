"""Slugs: the only way text becomes part of an address or an IRI."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from slugify import slugify as _slugify

from sdwiki.types import Slug

_VALID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@lru_cache(maxsize=1 << 16)  # names recur across notes, and every build makes every address again
def slugify(text: str) -> Slug:
    """A readable, transliterated, lowercase slug; never empty, never containing ``/`` or ``.``.

    Text with no letters or digits at all gets a short stable hash, so it still has an address.
    """
    slug = _slugify(text, max_length=80, word_boundary=True)
    if not slug:
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        slug = f"x-{digest}"
    assert _VALID.match(slug), slug
    return Slug(slug)


def is_slug(text: str) -> bool:
    """Whether ``text`` is a valid slug."""
    return bool(_VALID.match(text))


def heading_anchor(text: str) -> str:
    """The key a heading is matched by in ``[[Note#Heading]]``: case and spacing insensitive."""
    return " ".join(text.casefold().split())
