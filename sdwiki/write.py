"""Stage 7, writing: the only module that writes the site folder.

A build is written into a fresh sibling folder and swapped in at the end, so an interrupted
build leaves the previous site whole. Files whose bytes did not change are hard-linked from the
previous site instead of written again. A manifest lists every file sdwiki wrote; a folder
holding anything else is never replaced, so no file sdwiki did not write is ever deleted.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import shutil
import stat
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sdwiki.stamp import mapping_json, read_mapping, write_mapping

MANIFEST = ".sdwiki-manifest.json"


class WriteError(Exception):
    """The output folder cannot be used."""


@dataclass(frozen=True, slots=True)
class WriteReport:
    files: int
    written: int
    """Files whose bytes changed (the rest were linked from the previous build)."""
    changed: tuple[str, ...] | None = None
    """The files written or removed, when the site was updated in place (None: replaced whole)."""
    scanned: dict[str, tuple[int, int]] | None = None
    """The new site's :func:`scan`, when it was replaced whole (its files, as they were swapped in)."""
    done: Callable[[], None] = lambda: None
    """Waits until the previous site, swapped out, is removed (see :func:`write_site`)."""
    manifest: dict[str, str] | None = None
    """Every file of the site and its digest (as its manifest file lists them, or would)."""


@dataclass(frozen=True, slots=True)
class Written:
    """A site's manifest as this process last wrote it (or left it unwritten, see
    :func:`update_site`), and when: what :class:`Previous` reads otherwise."""

    manifest: dict[str, str]
    at: int
    """A file time (nanoseconds) taken after the site's files were written."""


def check_output(output: Path, content: Path, files: bool = True) -> dict[str, tuple[int, int]]:
    """Refuse folders a build must never replace; the files of one it may replace (see :func:`scan`).

    Without ``files``, only where the folder is is checked, not what it holds (``serve`` updating
    the private site it built, where a scan of every file would cost more than the update)."""
    out = output.resolve()
    src = content.resolve()
    home = Path.home().resolve()
    if out == Path(out.anchor) or out == home:
        raise WriteError(f"{output}: refusing to build into {'/' if out == Path(out.anchor) else 'the home folder'}")
    if out == src or out.is_relative_to(src) or src.is_relative_to(out):
        raise WriteError(f"{output}: refusing to build into the content folder, inside it, or above it")
    if out.exists() and not out.is_dir():
        raise WriteError(f"{output}: exists and is not a folder")
    found = scan(out) if files and out.is_dir() else {}
    if found:
        manifest = _read_manifest(out)
        if manifest is None:
            raise WriteError(f"{output}: not empty and not a site sdwiki built; refusing to replace it")
        for path in sorted(found):
            if path != MANIFEST and path not in manifest:
                raise WriteError(f"{output}/{path} was not written by sdwiki; refusing to replace the folder")
    return found


def _read_manifest(folder: Path) -> dict[str, str] | None:
    return read_mapping(folder / MANIFEST)


def scan(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (relative POSIX path), with its size and modification time."""
    out: dict[str, tuple[int, int]] = {}
    stack = [("", os.fspath(folder))]
    while stack:
        prefix, path = stack.pop()
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((f"{prefix}{entry.name}/", entry.path))
                else:
                    st = entry.stat(follow_symlinks=False)
                    out[prefix + entry.name] = (st.st_size, st.st_mtime_ns)
    return out


def digest_of(data: bytes) -> str:
    """A file's digest, as the site's manifest lists it."""
    return hashlib.sha256(data).hexdigest()


class Digesting:
    """A file being written, with the digest of what was written to it (as the manifest lists it):
    a large file the build writes need not be read again to be listed."""

    def __init__(self, f: BinaryIO) -> None:
        self._file = f
        self._hash = hashlib.sha256()

    def write(self, data: bytes, /) -> int:
        self._hash.update(data)
        return self._file.write(data)

    def digest(self) -> str:
        return self._hash.hexdigest()


def _measure(item: bytes | Path, known: str | None = None) -> tuple[str, int]:
    """The digest and size of a file to write: bytes, or a file to copy (read in steps), unless
    its digest is ``known``."""
    if isinstance(item, bytes):
        return known or digest_of(item), len(item)
    if known is not None:
        return known, item.stat().st_size
    with item.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest(), os.fstat(f.fileno()).st_size


def _put(item: bytes | Path, target: Path, link: bool = False) -> None:
    """Write ``item`` at ``target``: bytes, or a file copied as it is, never whole in memory
    (the whole-graph files are large). With ``link``, the file is hard-linked where it can be."""
    if isinstance(item, bytes):
        target.write_bytes(item)
        return
    if link:
        try:
            os.link(item, target)
            return
        except OSError:
            pass
    shutil.copyfile(item, target)


class Previous:
    """The site the last build left, as far as this build may keep its files."""

    def __init__(
        self,
        output: Path,
        keys: Mapping[str, str] | None = None,
        trusted: bool = False,
        known: Written | None = None,
    ) -> None:
        """``known``: the manifest as kept in memory by the process that wrote the site; ``keys``
        given with it were kept with it (every file they name is in it)."""
        self.trusted = trusted
        """The site is private to this process, which wrote it: a file the manifest lists is
        taken as written, without a look at it (``serve``'s site, thousands of files a save)."""
        self.listed = trusted and known is not None and keys is not None
        """Every file :attr:`keys` names is in the manifest (they were kept together)."""
        self.output = output.absolute()
        self.root = str(self.output)
        if known is not None:  # kept in memory by the process that wrote the site
            self.manifest = known.manifest
            self.written_at = known.at
        else:
            self.manifest = _read_manifest(self.output) or {} if self.output.is_dir() else {}
            # a file changed after the manifest was written is not the file the manifest describes
            self.written_at = (self.output / MANIFEST).stat().st_mtime_ns if self.manifest else 0
        self.keys = keys if keys is not None and self.manifest else {}

    def untouched(self, path: str, size: int | None = None) -> bool:
        """Whether the previous file at ``path`` is still as the last build wrote it (and ``size`` long)."""
        if path not in self.manifest:
            return False
        if self.trusted:
            return True
        try:
            st = os.stat(f"{self.root}/{path}")  # a string, not a Path: thousands of these per build
        except OSError:
            return False
        fits = size is None or st.st_size == size
        return fits and st.st_mtime_ns <= self.written_at and stat.S_ISREG(st.st_mode)

    def copied(self, path: str, source: Path) -> bool:
        """Whether the previous file at ``path`` is a copy of ``source`` as it is now, by the quick
        check of copying tools: ``source`` has not been modified since the last build and the
        copy, untouched since, has its size."""
        try:
            st = source.stat()
        except OSError:
            return False
        return st.st_mtime_ns < self.written_at and self.untouched(path, st.st_size)

    def reusable(self, path: str, key: str) -> bool:
        """Whether the previous file at ``path`` was made from ``key`` and is still as written."""
        return self.keys.get(path) == key and self.untouched(path)

    def reuser(self) -> Callable[[str, str], bool]:
        """:meth:`reusable`, as quick as it can be (asked three times per page of a site)."""
        if not self.trusted:
            return self.reusable
        keys, manifest = self.keys, self.manifest
        return lambda path, key: keys.get(path) == key and path in manifest

    def page_reuser(self) -> Callable[[str, str, tuple[str, str], str], bool]:
        """Whether a page, made from the first key, and its two data files, made from the second,
        can all be kept (:meth:`reusable`, for the three at once)."""
        if self.listed:
            get = self.keys.get
            return lambda page, key, data, data_key: get(page) == key and get(data[0]) == get(data[1]) == data_key
        return _each_file(self.reuser())


def _each_file(reuse: Callable[[str, str], bool]) -> Callable[[str, str, tuple[str, str], str], bool]:
    """``reuse`` asked of a page, made from the first key, and of its two data files, made from the second."""
    return lambda page, key, data, data_key: reuse(page, key) and reuse(data[0], data_key) and reuse(data[1], data_key)


def write_site(
    output: Path,
    files: Mapping[str, bytes | None],
    copies: Mapping[str, Path | None] | None = None,
    post: Callable[[Path], None] | None = None,
    keep: tuple[str, ...] = (),
    previous: Previous | None = None,
    own: Collection[str] = (),
    known_digests: Mapping[str, str] | None = None,
    meanwhile: bool = False,
) -> WriteReport:
    """Write ``files`` (and copy ``copies``) as the new site in ``output``, atomically.

    The copies named in ``own`` are files the build made for the site (in its cache folder) and
    never writes to again (a new one replaces each): they are hard-linked, not copied.
    ``known_digests``: of files, where known (see :class:`Digesting`). With ``meanwhile``, the
    previous site, swapped out, is removed while the caller goes on, until it calls the report's
    :attr:`WriteReport.done`.

    Files of the previous site under the ``keep`` prefixes are carried over unchanged; a file
    whose bytes did not change is linked from it (``previous``: that site, if already read).
    ``post`` is given the new site's folder before it is swapped in (the search index goes in).
    """
    output = output.absolute()
    prev = previous or Previous(output)
    staging = output.parent / f".{output.name}.sdwiki-new"
    retired = output.parent / f".{output.name}.sdwiki-old"
    for leftover in (staging, retired):
        if leftover.exists():  # an interrupted build's folder: only sdwiki writes these names
            shutil.rmtree(leftover)
    old = prev.manifest
    staging.mkdir(parents=True)
    written = 0
    items: dict[str, bytes | Path | None] = {**files, **(copies or {})}
    digests: dict[str, str] = {}
    folders: set[str] = set()
    for rel in sorted(items):
        item = items[rel]
        target = staging / rel
        folder = rel.rpartition("/")[0]
        if folder not in folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.add(folder)
        if item is None:  # the previous build's file, made from the same inputs
            if rel not in old:
                raise WriteError(f"{output / rel}: the previous file to keep is gone")
            digests[rel] = old[rel]
            os.link(output / rel, target)
            continue
        digest, size = _measure(item, (known_digests or {}).get(rel))
        digests[rel] = digest
        if old.get(rel) == digest and prev.untouched(rel, size):
            try:
                os.link(output / rel, target)
                continue
            except OSError:
                pass
        _put(item, target, rel in own)
        written += 1
    for rel in sorted(old):
        if rel.startswith(keep) and keep and rel not in items and (output / rel).is_file():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(output / rel, staging / rel)
            except OSError:
                shutil.copyfile(output / rel, staging / rel)
    if post is not None:
        post(staging)
    # digests of what was written are known; only files added after (the search index) are read
    found = scan(staging)
    manifest = {rel: digests.get(rel) or digest_of((staging / rel).read_bytes()) for rel in sorted(found)}
    (staging / MANIFEST).write_bytes(mapping_json(manifest))
    st = (staging / MANIFEST).stat()
    found[MANIFEST] = (st.st_size, st.st_mtime_ns)  # a rename changes no file's size or time
    if output.exists():
        if not _exchange(staging, output):
            os.rename(output, retired)
            os.rename(staging, output)
            staging = retired
        if meanwhile:
            remover = threading.Thread(target=shutil.rmtree, args=(staging,))
            remover.start()
            return WriteReport(len(manifest), written, scanned=found, done=remover.join, manifest=manifest)
        shutil.rmtree(staging)
    else:
        os.rename(staging, output)
    return WriteReport(len(manifest), written, scanned=found, manifest=manifest)


def update_site(
    output: Path,
    files: Mapping[str, bytes | None],
    copies: Mapping[str, Path | None] | None = None,
    keep: tuple[str, ...] = (),
    previous: Previous | None = None,
    own: Collection[str] = (),
    known_digests: Mapping[str, str] | None = None,
    record: bool = True,
) -> WriteReport:
    """Bring a site sdwiki built up to date in place: each changed file replaced atomically, files
    no longer part of the site (and listed in the manifest) removed. For ``serve``'s private site,
    where a saved note must reach the browser at once; ``sdwiki build`` uses :func:`write_site`.
    ``own`` and ``known_digests`` are as for :func:`write_site`.

    Without ``record``, the manifest is not written but returned (:attr:`WriteReport.manifest`),
    for the caller to keep (see :class:`Written`); the one on disk is removed first, so that no
    later reading of the folder trusts it."""
    output = output.absolute()
    prev = previous or Previous(output)
    old = prev.manifest
    if not old:
        return write_site(output, files, copies, keep=keep, previous=prev, own=own, known_digests=known_digests)
    if not record:
        (output / MANIFEST).unlink(missing_ok=True)
    items: dict[str, bytes | Path | None] = {**files, **(copies or {})}
    # most files, on a rebuild: the previous file is kept, and nothing is made of its path (a save
    # changes a few of tens of thousands: what is done for each file is done in sets, not one by one)
    missing = next((rel for rel in items.keys() - old.keys() if items[rel] is None), None)
    if missing is not None:
        raise WriteError(f"{output / missing}: the previous file to keep is gone")
    manifest = dict(old)
    gone = old.keys() - items.keys()
    changed: list[str] = []
    for rel, item in [(rel, item) for rel, item in items.items() if item is not None]:
        if isinstance(item, Path) and rel in old and prev.copied(rel, item):
            manifest[rel] = old[rel]
            continue
        digest, size = _measure(item, (known_digests or {}).get(rel))
        manifest[rel] = digest
        if old.get(rel) == digest and prev.untouched(rel, size):
            continue
        _replace(output / rel, item, rel in own)
        changed.append(rel)
    written = len(changed)
    for rel in sorted(rel for rel in gone if not (keep and rel.startswith(keep))):
        del manifest[rel]
        (output / rel).unlink(missing_ok=True)
        changed.append(rel)
    if record:
        write_mapping(output / MANIFEST, manifest, _temporary(output / MANIFEST))
    return WriteReport(len(manifest), written, tuple(changed), manifest=manifest)


def put_ahead(output: Path, files: Mapping[str, bytes], written: Written) -> tuple[str, ...]:
    """Replace these files of a site in place, each atomically, ahead of the update they belong
    to (``serve``: a saved note's page, shown while the rest of the site is made); the files whose
    bytes changed. ``written`` is the site's manifest as kept in memory, and is brought up to date,
    so that the update that follows finds these files as it would write them and leaves them be."""
    output = output.absolute()
    changed: list[str] = []
    for rel, data in files.items():
        digest = digest_of(data)
        if written.manifest.get(rel) == digest:
            continue
        _replace(output / rel, data)
        written.manifest[rel] = digest
        changed.append(rel)
    return tuple(changed)


def discard_unfinished(output: Path, files: Iterable[str]) -> None:
    """Remove what :func:`update_site` leaves when it is killed while writing ``files`` into
    ``output``: their temporary files, and the manifest's. (A file it had already replaced is
    newer than the manifest, so the next build does not trust it: see :class:`Previous`.)"""
    for rel in (*files, MANIFEST):
        _temporary(output / rel).unlink(missing_ok=True)


def _replace(target: Path, item: bytes | Path, link: bool = False) -> None:
    """Replace the site file ``target`` with ``item`` in one step (see :func:`_put`): it is
    written beside it first, under a name :func:`discard_unfinished` knows."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(target)
    _put(item, tmp, link)
    os.replace(tmp, target)


def _temporary(target: Path) -> Path:
    """Where :func:`update_site` writes ``target`` before moving it into place."""
    return target.with_name(f".{target.name}.sdwiki-tmp")


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux renameat2); False where that is not available."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return bool(result == 0)
