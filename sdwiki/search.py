"""The site's full-text search index (Pagefind), made from the part of each page it reads.

Pagefind indexes only what is inside ``data-pagefind-body`` once some page has it (entity pages
do), takes a page's title from its first heading and its language from ``<html lang>``; the
rest of a page (the head with its JSON-LD, the site's navigation, the connections aside) is
parsed and thrown away, more than half of its time. So the index is made from a folder of search
documents, one per indexed page at the page's own path: the page's article alone in a bare
document of the page's language. Its index is the same, byte for byte, as the whole site's.

The documents are kept between builds in the cache folder, with the digest of the page each
was made from: a build makes documents only for the pages that changed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from sdwiki.stamp import read_mapping, write_mapping
from sdwiki.write import WriteError

DOCS = "search-docs"
"""The search documents, in the cache folder."""
_MADE_FROM = ".pages.json"
"""In the documents' folder: each page's digest, and whether it has a document."""
_UNINDEXED = " -"
"""Marks, after a page's digest, a page without a document."""

_BODY = re.compile(rb"<article\b[^>]*\bdata-pagefind-body\b")
_HTML = re.compile(rb"<html\b[^>]*>")
_END = b"</article>"


def search_document(page: bytes) -> bytes | None:
    """What of ``page`` the index reads: None for a page it skips (no ``data-pagefind-body``);
    for an entity page, its article in a bare document of the same language; any other page
    with the attribute, whole."""
    if b"data-pagefind-body" not in page:
        return None
    body, lang = _BODY.search(page), _HTML.search(page)
    end = page.find(_END, body.end()) if body is not None else -1
    if body is None or lang is None or end < 0:
        return page
    return b"".join(
        [
            b"<!doctype html>\n",
            lang.group(0),
            b'\n<head>\n<meta charset="utf-8">\n</head>\n<body>\n',
            page[body.start() : end + len(_END)],
            b"\n</body>\n</html>\n",
        ]
    )


def index_search(
    site: Path, digests: Mapping[str, str], pages: Mapping[str, bytes | None], docs: Path | None = None
) -> None:
    """Make the search index in ``site/pagefind``. ``digests``: every file of the site with its
    digest; ``pages``: the bytes of those made by this build (others are read from ``site``).
    Without ``docs``, the whole site is indexed."""
    if docs is not None and _update_documents(site, digests, pages, docs):
        _pagefind("--site", str(docs), "--output-path", str(site / "pagefind"))
    else:  # no page has a search body: Pagefind indexes every page whole
        _pagefind("--site", str(site))


def _update_documents(site: Path, digests: Mapping[str, str], pages: Mapping[str, bytes | None], docs: Path) -> bool:
    """Bring ``docs`` up to date with the site; whether any page has a document."""
    record = docs / _MADE_FROM
    known = read_mapping(record)
    if known is None and docs.exists():  # not whole (a build stopped while updating it): start again
        shutil.rmtree(docs)
    known = known or {}
    record.unlink(missing_ok=True)  # until the documents are whole again
    made: dict[str, str] = {}
    folders: set[Path] = set()
    for rel, digest in digests.items():
        if not rel.endswith(".html") or rel.startswith("pagefind/"):
            continue
        last = known.get(rel)
        if last is not None and last.split(" ")[0] == digest:
            made[rel] = last
            continue
        data = pages.get(rel)
        document = search_document(data if data is not None else (site / rel).read_bytes())
        target = docs / rel
        if document is None:
            made[rel] = digest + _UNINDEXED
            target.unlink(missing_ok=True)
            continue
        made[rel] = digest
        if target.parent not in folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.add(target.parent)
        target.write_bytes(document)
    for rel, last in known.items():
        if rel not in made and not last.endswith(_UNINDEXED):
            (docs / rel).unlink(missing_ok=True)
    docs.mkdir(parents=True, exist_ok=True)
    write_mapping(record, made, docs / f"{_MADE_FROM}.{os.getpid()}.tmp")
    return any(not v.endswith(_UNINDEXED) for v in made.values())


def _pagefind(*where: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pagefind", *where, "--silent", "--keep-index-url"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise WriteError(f"search index failed: {result.stderr.strip() or result.stdout.strip()}")
