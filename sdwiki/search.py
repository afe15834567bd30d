"""The site's full-text search index (Pagefind), made from the part of each page it reads.

Pagefind indexes only what is inside ``data-pagefind-body`` once some page has it (entity pages
do), takes a page's title from its first heading and its language from ``<html lang>``; the
rest of a page (the head with its JSON-LD, the site's navigation, the connections aside) is
parsed and thrown away: half of its parsing time. So the index is made from a folder of search
documents, one per indexed page at the page's own path: the page's article alone in a bare
document of the page's language. Its index is the same, byte for byte, as the whole site's.

The documents are kept between builds in the cache folder, with the digest of the page each
was made from: a build makes documents only for the pages that changed.

Pagefind makes an index of a whole folder at once, and takes longer the more pages it reads.
A large site's index is made in parts (:data:`PAGES_PER_PART` pages each, a page's part chosen
from its path): an edit makes again only the part its pages are in. The search page merges the
parts (``pagefind/`` holds the first, ``pagefind/part-<k>/`` the others).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from sdwiki.stamp import read_mapping, write_mapping
from sdwiki.write import WriteError, digest_of, scan

DOCS = "search-docs"
"""The search documents, in the cache folder."""
OUT = "search-index"
"""Where the index is made, in the cache folder, before it moves into the new site."""
_MADE_FROM = ".pages.json"
"""In the documents' folder: each page's digest, and whether it has a document."""
_UNINDEXED = " -"
"""Marks, after a page's digest, a page without a document (else: the part it is in)."""
PAGES_PER_PART = 1000
"""Indexed pages in each part of the index, at most on average."""
_AT_ONCE = 2
"""Parts of the index made at the same time."""


def parts_for(pages: Collection[str]) -> int:
    """How many parts the index of these indexed pages has (none is left empty: Pagefind cannot
    index nothing)."""
    parts = max(1, -(-len(pages) // PAGES_PER_PART))
    return parts if parts == 1 or len({part_of(rel, parts) for rel in pages}) == parts else 1


def part_of(rel: str, parts: int) -> int:
    """The part of the index a page is in: the same for a page from build to build."""
    return zlib.crc32(rel.encode("utf-8")) % parts if parts > 1 else 0


def part_folder(part: int) -> str:
    """Where a part of the index is in the site."""
    return "pagefind" if part == 0 else f"pagefind/part-{part}"


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
    the cache folder, a part of the index at a time, and only the parts whose documents changed);
    :meth:`place` waits for it and copies it into the new site. Without documents (no page has a
    search body), :meth:`place` indexes the new site whole."""

    def __init__(self, docs: Path, out: Path) -> None:
        self.docs = docs
        self.out = out
        self.parts = 0
        """How many parts the index has (0: no page has a document)."""
        self.made = 0
        """How many parts of the index this build makes again."""
        self._queue: list[tuple[int, str]] = []
        self._running: set[subprocess.Popen[str]] = set()
        self._threads: list[threading.Thread] = []
        self._errors: list[str] = []
        self._lock = threading.Lock()
        self._cancelled = False

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

        record, self.parts = _update_documents(read, made, pages, self.docs)
        self.out.mkdir(parents=True, exist_ok=True)
        wanted = {name for part in range(self.parts) for name in (str(part), f"{part}.made")}
        for leftover in self.out.iterdir():  # parts of an index that had more
            if leftover.name not in wanted:
                if leftover.is_dir():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()
        for part in range(self.parts):
            key = _part_key(record, part)
            if _read_text(self.out / f"{part}.made") != _made(key, self.out / str(part)):
                (self.out / f"{part}.made").unlink(missing_ok=True)
                shutil.rmtree(self.out / str(part), ignore_errors=True)
                self._queue.append((part, key))
        self.made = len(self._queue)
        first = [self._begin(*self._queue.pop(0)) for _ in range(min(_AT_ONCE, len(self._queue)))]
        for begun in first:
            thread = threading.Thread(target=self._work, args=(begun,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _begin(self, part: int, key: str) -> tuple[int, str, subprocess.Popen[str]]:
        process = _pagefind("--site", str(self.docs / str(part)), "--output-path", str(self.out / str(part)))
        with self._lock:
            self._running.add(process)
        return part, key, process

    def _work(self, begun: tuple[int, str, subprocess.Popen[str]] | None) -> None:
        """Wait for a part's index, then make the next waiting part's, until none is left."""
        while begun is not None:
            part, key, process = begun
            out, err = process.communicate()
            with self._lock:
                self._running.discard(process)
                if self._cancelled:
                    return
                if process.returncode != 0:
                    self._errors.append(err.strip() or out.strip())
                    return
                (self.out / f"{part}.made").write_text(_made(key, self.out / str(part)), "utf-8")
                waiting = self._queue.pop(0) if self._queue else None
            begun = self._begin(*waiting) if waiting is not None else None

    def place(self, site: Path) -> None:
        """Put the index in ``site/pagefind`` (its parts besides the first in ``pagefind/part-<k>``)."""
        if self.parts == 0:
            _wait(_pagefind("--site", str(site)))
            return
        for thread in self._threads:
            thread.join()
        if self._errors:
            raise WriteError(f"search index failed: {self._errors[0]}")
        for part in range(self.parts):  # linked: Pagefind makes a part's files anew, never changes them
            shutil.copytree(self.out / str(part), site / part_folder(part), dirs_exist_ok=True, copy_function=_link)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            self._queue.clear()
            running = list(self._running)
        for process in running:
            if process.poll() is None:
                process.kill()
        for thread in self._threads:
            thread.join()


def _made(key: str, folder: Path) -> str:
    """What a part's record says: what the part was made from (:func:`_part_key`), and its files'
    sizes and times (a file changed since, through the site's link to it, makes it again)."""
    try:
        files = sorted(scan(folder).items())
    except OSError:
        return ""
    return key + " " + hashlib.sha256(repr(files).encode("utf-8")).hexdigest()


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _part_key(record: Mapping[str, str], part: int) -> str:
    """What a part of the index is made from: its pages and their digests."""
    suffix = f" {part}"
    lines = sorted(f"{rel} {v}\n" for rel, v in record.items() if v.endswith(suffix))
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _update_documents(
    read: Callable[[str], bytes], digests: Mapping[str, str], pages: Mapping[str, bytes | None], docs: Path
) -> tuple[dict[str, str], int]:
    """Bring ``docs`` up to date with the site's pages (``digests``: each with its digest;
    ``read`` gives a page this build did not make): a document for each indexed page, in the
    folder of its part of the index. What each page has now (see :data:`_MADE_FROM`), and how
    many parts the index has (0: no page has a document)."""
    record = docs / _MADE_FROM
    known = read_mapping(record)
    if known is not None and not all(v.endswith(_UNINDEXED) or v.split(" ")[-1].isdigit() for v in known.values()):
        known = None  # documents kept otherwise (by an earlier version)
    if known is None and docs.exists():  # not whole (a build stopped while updating it): start again
        shutil.rmtree(docs)
    known = known or {}
    record.unlink(missing_ok=True)  # until the documents are whole again
    documents: dict[str, bytes | None] = {}
    for rel, page_digest in digests.items():
        last = known.get(rel, "")
        if page_digest and last.split(" ")[0] == page_digest:
            documents[rel] = None if last.endswith(_UNINDEXED) else b""  # as it was (b"": a document)
            continue
        data = pages.get(rel)
        documents[rel] = search_document(data if data is not None else read(rel))
    indexed = [rel for rel, document in documents.items() if document is not None]
    parts = parts_for(indexed) if indexed else 0
    made: dict[str, str] = {}
    folders: set[Path] = set()
    for rel, document in documents.items():
        page_digest, last = digests[rel], known.get(rel, "")
        if document is None:
            made[rel] = page_digest + _UNINDEXED
            continue
        part = part_of(rel, parts)
        made[rel] = f"{page_digest} {part}"
        target = docs / str(part) / rel
        if document == b"" and last == made[rel] and target.is_file():
            continue  # (a document deleted by hand is made again)
        if document == b"":
            document = search_document(pages.get(rel) or read(rel))
        if target.parent not in folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.add(target.parent)
        target.write_bytes(document or b"")
    for rel, last in known.items():
        was, now = last.split(" "), made.get(rel, _UNINDEXED).split(" ")
        if len(was) == 2 and was[1].isdigit() and now[-1] != was[1]:  # no longer in that part
            (docs / was[1] / rel).unlink(missing_ok=True)
    docs.mkdir(parents=True, exist_ok=True)
    for folder in docs.iterdir():  # the parts of an index that had more
        if folder.is_dir() and not (folder.name.isdigit() and int(folder.name) < parts):
            shutil.rmtree(folder)
    write_mapping(record, made, docs / f"{_MADE_FROM}.{os.getpid()}.tmp")
    return made, parts


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
