"""The site's full-text search index (Pagefind), made from the part of each page it reads.

Pagefind indexes only what is inside ``data-pagefind-body`` once some page has it (entity pages
do), takes a page's title from its first heading and its language from ``<html lang>``; the
rest of a page (the head with its JSON-LD, the site's navigation, the connections aside) is
parsed and thrown away: half of its parsing time. So the index is made from a folder of search
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
from collections.abc import Callable, Mapping
from pathlib import Path

from sdwiki.stamp import read_mapping, write_mapping
from sdwiki.write import WriteError, digest_of

DOCS = "search-docs"
"""The search documents, in the cache folder."""
OUT = "search-index"
"""Where the index is made, in the cache folder, before it moves into the new site."""
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


class SearchIndex:
    """The search index, made while the rest of the build goes on: :meth:`start` once the pages
    are made (Pagefind reads their documents, kept in ``docs``, and writes into ``out``, both in
    the cache folder); :meth:`place` waits for it and moves it into the new site. Without
    documents (no page has a search body), :meth:`place` indexes the new site whole."""

    def __init__(self, docs: Path, out: Path) -> None:
        self.docs = docs
        self.out = out
        self._process: subprocess.Popen[str] | None = None

    def start(self, pages: Mapping[str, bytes | None], previous: Path, digests: Mapping[str, str]) -> None:
        """``pages``: every file of the site, with its bytes if this build made it, else None
        (the previous build's, in the site folder ``previous``, whose digests are ``digests``)."""
        made = {
            rel: digest_of(data) if data is not None else digests.get(rel, "")
            for rel, data in pages.items()
            if rel.endswith(".html")  # only pages can be indexed: the data files are not hashed for nothing
        }

        def read(rel: str) -> bytes:  # a page not made yet (a saved query's) is not indexed
            try:
                return (previous / rel).read_bytes()
            except OSError:
                return b""

        if not _update_documents(read, made, pages, self.docs):
            return
        if self.out.exists():
            shutil.rmtree(self.out)
        self._process = _pagefind("--site", str(self.docs), "--output-path", str(self.out))

    def place(self, site: Path) -> None:
        """Put the index in ``site/pagefind``."""
        process, self._process = self._process, None
        if process is None:
            _wait(_pagefind("--site", str(site)))
            return
        _wait(process)
        os.rename(self.out, site / "pagefind")

    def cancel(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.communicate()


def _update_documents(
    read: Callable[[str], bytes], digests: Mapping[str, str], pages: Mapping[str, bytes | None], docs: Path
) -> bool:
    """Bring ``docs`` up to date with the site's pages (``digests``: each with its digest;
    ``read`` gives a page this build did not make); whether any page has a document."""
    record = docs / _MADE_FROM
    known = read_mapping(record)
    if known is None and docs.exists():  # not whole (a build stopped while updating it): start again
        shutil.rmtree(docs)
    known = known or {}
    record.unlink(missing_ok=True)  # until the documents are whole again
    made: dict[str, str] = {}
    folders: set[Path] = set()
    for rel, page_digest in digests.items():
        last = known.get(rel, "")
        if page_digest and last.split(" ")[0] == page_digest and (last.endswith(_UNINDEXED) or (docs / rel).is_file()):
            made[rel] = last  # (a document deleted by hand is made again)
            continue
        data = pages.get(rel)
        document = search_document(data if data is not None else read(rel))
        target = docs / rel
        if document is None:
            made[rel] = page_digest + _UNINDEXED
            target.unlink(missing_ok=True)
            continue
        made[rel] = page_digest
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


def _pagefind(*where: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pagefind", *where, "--silent", "--keep-index-url"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(process: subprocess.Popen[str]) -> None:
    out, err = process.communicate()
    if process.returncode != 0:
        raise WriteError(f"search index failed: {err.strip() or out.strip()}")
