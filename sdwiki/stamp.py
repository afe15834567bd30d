"""The build stamp: what the last build read and wrote, so that a build with nothing to do does nothing.

A build records a digest of its inputs — every file under the content folder (path, size,
modification time), the settings, sdwiki's own code, templates and ontology — and the size and
modification time of every file it wrote. The next build compares: if no input changed and the
site is exactly as that build left it, there is nothing to do (``make``'s rule, kept strict: any
change anywhere under the content folder, or any change to the site, means a real build).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sdwiki.settings import Settings

STAMP = "build-stamp.json"


@dataclass(frozen=True, slots=True)
class Stamp:
    inputs: str
    outputs: dict[str, tuple[int, int]]
    report: dict[str, int]
    """What the report of that build said: files, notes, errors, warnings."""


def _walk_stats(folder: Path, out: list[str], skip: str = "") -> None:
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d != skip)
        rel = os.path.relpath(dirpath, folder)
        for name in sorted(filenames):
            try:
                st = os.stat(os.path.join(dirpath, name))
            except OSError:
                out.append(f"{rel}/{name}\0missing")
                continue
            out.append(f"{rel}/{name}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}")
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):  # a linked folder is read through: stamp its target's files too
                out.append(f"{rel}/{name}\0link\0{os.path.realpath(path)}")


def input_digest(content: Path, settings: Settings, search: bool, code: str) -> str:
    """A digest of everything a build reads (``code``: :func:`code_digest`)."""
    lines = [code, repr(settings), f"search={search}", str(content.resolve())]
    _walk_stats(content, lines)
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def code_digest() -> str:
    """A digest of sdwiki itself: its version, code, templates and ontology files."""
    import sdwiki
    from sdwiki.resources import ontology_dir, templates_dir

    lines = [sdwiki.__version__]
    for folder in (Path(sdwiki.__file__).parent, templates_dir(), ontology_dir()):
        lines.append(f"\0{folder}")
        _walk_stats(folder, lines, skip="__pycache__")
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def read(cache: Path) -> Stamp | None:
    try:
        data = json.loads((cache / STAMP).read_text("utf-8"))
        return Stamp(
            str(data["inputs"]),
            {str(k): (int(v[0]), int(v[1])) for k, v in data["outputs"].items()},
            {str(k): int(v) for k, v in data["report"].items()},
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def write(cache: Path, stamp: Stamp) -> None:
    data = {"inputs": stamp.inputs, "outputs": stamp.outputs, "report": stamp.report}
    replace_file(cache / STAMP, json.dumps(data, separators=(",", ":")).encode("utf-8"))


def replace_file(path: Path, data: bytes | Iterable[bytes], tmp: Path | None = None) -> None:
    """Write a file (its bytes, or its parts one after the other) in one step, through ``tmp``
    (by default beside it): a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp or path.with_name(f"{path.name}.tmp")
    with tmp.open("wb") as f:
        f.writelines([data] if isinstance(data, bytes) else data)
    os.replace(tmp, path)


def forget(cache: Path) -> None:
    """Drop the stamp (before a build starts writing: an interrupted build must not look finished)."""
    for name in (STAMP, KEYS):  # the keys describe the site now being replaced
        with contextlib.suppress(FileNotFoundError):
            (cache / name).unlink()


def up_to_date(stamp: Stamp | None, inputs: str, site_files: dict[str, tuple[int, int]]) -> bool:
    """Whether the last build read these inputs and left the site's files as they are now
    (``site_files``: :func:`sdwiki.write.scan` of the site)."""
    return stamp is not None and stamp.inputs == inputs and bool(site_files) and site_files == stamp.outputs


KEYS = "page-keys.json"


def read_keys(cache: Path) -> dict[str, str]:
    """The key of each page and data file of the last build (see :class:`sdwiki.site.Rendered`)."""
    return read_mapping(cache / KEYS) or {}


def write_keys(cache: Path, keys: dict[str, str]) -> None:
    write_mapping(cache / KEYS, keys)


_WRITTEN: dict[str, tuple[tuple[int, int, int], dict[str, str]]] = {}
"""The mappings this process last wrote, by file, with the file's identity then (see :func:`read_mapping`)."""


def read_mapping(path: Path) -> dict[str, str] | None:
    """The JSON object of strings in ``path`` (None: missing or not one). What this process last
    wrote there (:func:`write_mapping`) comes back without being parsed again while the file
    is the one it wrote: ``serve`` reads its site's manifest and keys on every save, tens of
    thousands of entries each. The answer is shared: not to be changed."""
    try:
        st = os.stat(path)
        known = _WRITTEN.get(str(path))
        if known is not None and known[0] == (st.st_mtime_ns, st.st_size, st.st_ino):
            return known[1]
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def mapping_json(data: dict[str, str]) -> bytes:
    """A mapping of strings as compact JSON, its keys sorted (the same mapping, the same bytes)."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8")


def write_mapping(path: Path, data: dict[str, str], tmp: Path | None = None) -> None:
    """Write ``data`` to ``path`` in one step (see :func:`replace_file`), remembered so that
    :func:`read_mapping` gives it back without parsing: not to be changed after."""
    replace_file(path, mapping_json(data), tmp)
    st = os.stat(path)
    _WRITTEN[str(path)] = ((st.st_mtime_ns, st.st_size, st.st_ino), data)
