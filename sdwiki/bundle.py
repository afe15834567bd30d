"""What a build leaves in its cache folder for the next one, each in one file read in one step:
the notes as parsed, the note graphs as extracted, the network's analysis.

A command-line build starts with nothing in memory: reading ten thousand small cache entries,
or extracting every note again, takes longer than loading one file that holds them all. A file
names the code that made it and carries the digest of what follows; one made by other code, cut
short or changed is ignored (a cache that cannot be used only costs time).

IRIs come back as the objects a build in progress would make (:func:`sdwiki.terms.known_iri`):
``rdf:type`` is told by identity, and each resource is one object however many notes name it.
"""

from __future__ import annotations

import gc
import hashlib
import io
import os
import pickle
from pathlib import Path
from typing import Any

from sdwiki.stamp import replace_file

NOTES = "notes.pickle"
GRAPHS = "graphs.pickle"
ANALYSIS = "analysis.pickle"
PAGES = "pages.pickle"


def read(path: Path, made_by: str) -> object | None:
    """What :func:`write` left at ``path``, if ``made_by`` made it and the file is whole."""
    try:
        with path.open("rb") as f:
            head = f.readline()
            payload = f.read()
        made, digest = head.decode("ascii").split(" ")
        if made != made_by or hashlib.sha256(payload).hexdigest() != digest.strip():
            return None
        collecting = gc.isenabled()
        gc.disable()  # millions of objects, none of them garbage: collections would only slow it
        try:
            found: object = pickle.loads(payload)
            return found
        finally:
            if collecting:
                gc.enable()
    except (OSError, ValueError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None


def write(path: Path, made_by: str, data: object) -> bool:
    """Keep ``data`` at ``path`` for a later build by the same code (``made_by``), in one step;
    whether it could be written."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(data)
    payload = buffer.getvalue()
    head = f"{made_by} {hashlib.sha256(payload).hexdigest()}\n".encode("ascii")
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        replace_file(path, (head, payload), tmp)  # apart: no copy of a payload of 90 MB
    except OSError:  # a cache that cannot be written only costs time
        tmp.unlink(missing_ok=True)
        return False
    return True


def worth_writing(found: bool, missed: int, total: int) -> bool:
    """Whether to write a bundle again, when the one there was usable (``found``) but lacked
    ``missed`` of this build's ``total`` entries: each build makes those again, which for a few
    costs less than writing them all."""
    return not found or missed > max(50, total // 100)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        from rdflib import URIRef

        if type(obj) is URIRef:
            from sdwiki.terms import known_iri

            return known_iri, (str(obj),)
        return NotImplemented
