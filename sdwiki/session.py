"""What a command-line build keeps for the next one, in the cache folder.

``serve``'s builder keeps, from one save to the next, the notes it read, their links and
graphs, the graph index, the network analysis and what each entity page was made from
(:class:`sdwiki.build.Kept`): an edit then makes again only what it can change. ``sdwiki build``
keeps the same in one file, so that the next build, in a new process, starts from there.

The file is used only by the same code, for the same content folder and settings, over the site
exactly as that build left it; anything else (a damaged file, a site changed by hand) and the
build reads everything afresh. Notes are read again where their size or modification time
changed, as ``serve`` does. Dictionaries the builder keys by object identity are keyed again
after loading (identity does not survive a pickle; each value names its object).
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdwiki.stamp import replace_file

if TYPE_CHECKING:
    from sdwiki.build import Kept
    from sdwiki.notes import Note
    from sdwiki.pipeline import Extracted
    from sdwiki.settings import Settings
    from sdwiki.types import RelPath

SESSION = "session.pickle"


@dataclass
class Session:
    """The builder's memory (see :class:`sdwiki.build.SiteBuilder`)."""

    notes: dict[RelPath, tuple[tuple[int, int], Note]]
    extracted: Extracted
    kept: Kept


def key(code: str, content: Path, settings: Settings, site: dict[str, tuple[int, int]]) -> str:
    """What a session is valid for: the code, the content folder, the settings and every file of
    the site (:func:`sdwiki.write.scan`)."""
    parts = repr((code, str(content.resolve()), repr(settings), sorted(site.items())))
    return hashlib.sha256(parts.encode("utf-8", "surrogateescape")).hexdigest()


def write(cache: Path, valid_for: str, session: Session) -> None:
    """Keep ``session`` for a build that finds what ``valid_for`` (see :func:`key`) describes. The
    note graphs' N-Quads lines are left out: they take more room than they save time."""
    kept = replace(session.kept, text={})
    payload = pickle.dumps(replace(session, kept=kept), protocol=pickle.HIGHEST_PROTOCOL)
    head = f"{valid_for} {hashlib.sha256(payload).hexdigest()}\n".encode("ascii")
    replace_file(cache / SESSION, head + payload)


def read(cache: Path, valid_for: str) -> Session | None:
    """The session kept in ``cache`` if it is whole and valid for what ``valid_for`` describes."""
    path = cache / SESSION
    try:
        with path.open("rb") as f:
            head = f.readline().decode("ascii").split(" ")
            if len(head) != 2 or head[0] != valid_for:
                return None
            payload = f.read()
        if hashlib.sha256(payload).hexdigest() != head[1].strip():
            return None
        session = pickle.loads(payload)
    except (OSError, ValueError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None
    if not isinstance(session, Session):
        return None
    _rekey(session.extracted.linking.names)
    _rekey(session.kept.analysis.signatures)
    if session.kept.index is not None:
        _rekey(session.kept.index._grouped)
    return session


def forget(cache: Path) -> None:
    """Drop the session (a build that does not end with one must not leave an older one)."""
    (cache / SESSION).unlink(missing_ok=True)


def _rekey(by_identity: dict[int, Any]) -> None:
    """Key again by ``id`` a dictionary whose values are tuples starting with their object."""
    values = list(by_identity.values())
    by_identity.clear()
    by_identity.update((id(v[0]), v) for v in values)
