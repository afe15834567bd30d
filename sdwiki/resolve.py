"""Stage 2, resolving: one index over all notes, every wikilink resolved the way Obsidian does.

Targets are matched case-insensitively by path (``folder/Note``), file name, title, then alias;
non-note files (images, PDFs) are matched by path or file name. Anchors are checked against the
target's headings and block ids. The index is built once; each link costs a few dict lookups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import PurePosixPath
from typing import Literal

import networkx as nx

from sdwiki.diagnostics import Diagnostic, make, printable_path
from sdwiki.notes import Note, WikiLink, aliases
from sdwiki.records import replaced, replaced_since
from sdwiki.slugs import heading_anchor
from sdwiki.types import RelPath

LinkKind = Literal["note", "attachment", "broken"]


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where one wikilink goes."""

    link: WikiLink
    kind: LinkKind
    target: RelPath | None
    """The note or attachment linked to (None when broken)."""
    anchor_ok: bool


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _strip_md(path: str) -> str:
    return path[:-3] if path.lower().endswith(".md") else path


@dataclass(frozen=True, slots=True)
class Index:
    """Lookup tables from every name a note or attachment can be linked by."""

    by_path: Mapping[str, RelPath]
    """Path without ``.md`` (and every trailing sub-path), case-folded."""
    by_name: Mapping[str, RelPath]
    """File name (stem), title and alias, case-folded, in that priority."""
    attachments_by_path: Mapping[str, RelPath]
    found: dict[str, tuple[LinkKind, RelPath | None]] = field(default_factory=dict, compare=False, repr=False)
    """Targets looked up so far (the same names are linked from many notes)."""

    @staticmethod
    def build(
        notes: Sequence[Note], attachments: Sequence[RelPath], names: Callable[[Note], _Names] | None = None
    ) -> tuple[Index, list[Diagnostic]]:
        """The index of ``notes`` (sorted by path: the first wins). ``names`` gives a note's keys
        (:func:`_names`, or a memo of it)."""
        names = names or _names
        diags: list[Diagnostic] = []
        by_path: dict[str, RelPath] = {}
        stems: dict[str, RelPath] = {}
        titles: dict[str, RelPath] = {}
        alias_map: dict[str, RelPath] = {}
        for note in notes:
            path_keys, stem_key, title_key, alias_keys = names(note)
            for k in path_keys:
                by_path.setdefault(k, note.path)
            stems.setdefault(stem_key, note.path)
            owner = titles.setdefault(title_key, note.path)
            if owner != note.path:
                diags.append(
                    make(
                        printable_path(note.path),
                        note.title_line,
                        1,
                        "duplicate-title",
                        f"title {note.title!r} is also the title of {printable_path(owner)}",
                    )
                )
            for k in alias_keys:
                alias_map.setdefault(k, note.path)
        by_name: dict[str, RelPath] = {**alias_map, **titles, **stems}
        att: dict[str, RelPath] = {}
        for path in attachments:
            segments = PurePosixPath(path).parts
            for i in range(len(segments)):
                att.setdefault(_key("/".join(segments[i:])), path)
        return Index(by_path, by_name, att), diags

    def lookup(self, target: str) -> tuple[LinkKind, RelPath | None]:
        hit = self.found.get(target)
        if hit is None:
            hit = self.found[target] = self._lookup(target)
        return hit

    def _lookup(self, target: str) -> tuple[LinkKind, RelPath | None]:
        key = _key(target)
        # a path-qualified target is matched by path first; a title may contain "/" too
        lookups = (self.by_path, self.by_name) if "/" in key else (self.by_name, self.by_path)
        for table in lookups:
            for candidate in (key, _strip_md(key), _strip_md(key.lstrip("/"))):
                if (hit := table.get(candidate)) is not None:
                    return "note", hit
        if (att := self.attachments_by_path.get(key)) is not None:
            return "attachment", att
        return "broken", None


_Names = tuple[tuple[str, ...], str, str, tuple[str, ...]]
"""A note's keys in the index: its path and every trailing sub-path, its file name, its title,
its aliases (all case-folded)."""


def _names(note: Note) -> _Names:
    parts = _strip_md(note.path).split("/")  # a note's path is relative, "/"-separated
    paths = tuple(_key("/".join(parts[i:])) for i in range(len(parts)))
    return paths, _key(note.stem), _key(note.title), tuple(_key(a) for a in aliases(note))


@dataclass
class Linking:
    """What :func:`build_corpus` keeps between builds (``serve``): each note's keys, the last
    index (kept, with the lookups it answered, while no name changes), and each note's resolved
    links with their problems."""

    names: dict[int, tuple[Note, _Names]] = field(default_factory=dict)
    index: Index | None = None
    links: dict[RelPath, tuple[Note, tuple[Resolved, ...], list[Diagnostic]]] = field(default_factory=dict)
    gathered: _Gathered | None = None
    """What the last corpus gathered from every note's links (brought up to date where notes changed)."""
    notes: dict[RelPath, Note] | None = None
    """The notes of the last index, by path, with its attachments and the problems it found."""
    attachments: tuple[RelPath, ...] = ()
    problems: tuple[Diagnostic, ...] = ()

    def same_index(
        self, by_path: Mapping[RelPath, Note], attachments: Sequence[RelPath], changed: list[RelPath] | None
    ) -> set[RelPath] | None:
        """The notes that changed since the last index, when it holds for ``by_path`` as it is:
        the same paths and attachments, and each changed note named as before (None: it may not).
        ``changed``: ``replaced(self.notes, by_path)``."""
        last = self.notes
        if self.index is None or last is None or tuple(attachments) != self.attachments or changed is None:
            return None
        for path in changed:
            note, old = by_path[path], last[path]
            if note.title_line != old.title_line or _names(note) != _names(old):
                return None
        return set(changed)

    def names_of(self, note: Note) -> _Names:
        known = self.names.get(id(note))
        if known is None or known[0] is not note:
            known = self.names[id(note)] = (note, _names(note))
        return known[1]


@dataclass
class _Gathered:
    """What a corpus gathers from all notes' links, kept so that an edit updates it in place."""

    corpus: Corpus
    back: defaultdict[RelPath, set[RelPath]]
    """The notes linking to each note."""
    embeds: dict[RelPath, dict[RelPath, WikiLink]]
    """The notes each note embeds, with the (last) link embedding each."""
    anchored: defaultdict[RelPath, set[RelPath]]
    """The notes linking to a heading or block of each note."""
    troubled: dict[RelPath, list[Diagnostic]] = field(default_factory=dict)
    """The problems of each note whose links have any (a save looks at these, not at every note)."""


@dataclass(frozen=True, slots=True)
class Corpus:
    """All notes, with every link resolved and the problems found across notes."""

    notes: Mapping[RelPath, Note]
    index: Index
    resolved: Mapping[RelPath, tuple[Resolved, ...]]
    backlinks: Mapping[RelPath, tuple[RelPath, ...]]
    diagnostics: tuple[Diagnostic, ...]
    since: tuple[Mapping[RelPath, Note], list[RelPath]] | None = field(default=None, compare=False, repr=False)
    """The notes of the corpus this one was made after, and the paths whose note is another
    object now (see :meth:`replaced_since`)."""
    resolved_since: tuple[Mapping[RelPath, tuple[Resolved, ...]], list[RelPath]] | None = field(
        default=None, compare=False, repr=False
    )
    """The resolved links of the corpus this one was made after, and the only paths where they
    may be other objects now (see :meth:`links_replaced_since`)."""

    def replaced_since(self, last: Mapping[RelPath, Note]) -> list[RelPath] | None:
        """``replaced(last, self.notes)`` (see :func:`sdwiki.records.replaced`): without a look at
        every note when ``last`` holds the notes of the corpus this one was made after."""
        return replaced_since(self.since, last, self.notes)

    def links_replaced_since(self, last: Mapping[RelPath, tuple[Resolved, ...]]) -> list[RelPath] | None:
        """``replaced(last, self.resolved)``: without a look at every note's links when ``last``
        holds the resolved links of the corpus this one was made after."""
        return replaced_since(self.resolved_since, last, self.resolved)

    def resolve_name(self, name: str) -> Note | None:
        """The note a name (title, alias, file name, path) refers to."""
        kind, target = self.index.lookup(name)
        return self.notes[target] if kind == "note" and target is not None else None

    def all_diagnostics(self) -> list[Diagnostic]:
        own = [d for note in self.notes.values() for d in note.diagnostics]
        return sorted(own + list(self.diagnostics))


def build_corpus(notes: Iterable[Note], attachments: Sequence[RelPath] = (), memo: Linking | None = None) -> Corpus:
    """Index the notes and resolve every link (a pure function of its input). ``memo`` (kept by
    the caller between builds) makes only what an edit can change again: the links of the notes
    that changed, and of notes linking to a heading or block of one, while no name changes."""
    ordered = sorted(notes, key=attrgetter("path"))
    by_path = {n.path: n for n in ordered}
    before = memo.notes if memo is not None else None
    moved = replaced(before, by_path) if before is not None else None
    since = (before, moved) if before is not None and moved is not None else None
    same = memo.same_index(by_path, attachments, moved) if memo is not None else None
    last: dict[RelPath, tuple[Note, tuple[Resolved, ...], list[Diagnostic]]] = {}
    if memo is not None and memo.index is not None and same is not None:  # a save that renames nothing
        index, diags, last, changed = memo.index, list(memo.problems), memo.links, same
    else:
        index, diags = Index.build(ordered, attachments, memo.names_of if memo is not None else None)
        if memo is not None:
            memo.attachments, memo.problems = tuple(attachments), tuple(diags)
            live = {id(n) for n in ordered}
            memo.names = {k: v for k, v in memo.names.items() if k in live}
            if memo.index is not None and memo.index == index:  # no name changed: the same lookups
                index, last = memo.index, memo.links
            memo.index = index
        changed = {p for p in by_path.keys() | last.keys() if p not in last or last[p][0] is not by_path.get(p)}
    if memo is not None:
        memo.notes = by_path
    gathered = memo.gathered if memo is not None and last else None
    if memo is not None and gathered is not None and by_path.keys() == last.keys():  # the same notes
        memo.gathered = _regather(gathered, by_path, index, last, changed, diags, since)
        return memo.gathered.corpus
    anchors: dict[RelPath, tuple[set[str], frozenset[str]]] = {}  # of the notes linked to with an anchor
    resolved: dict[RelPath, tuple[Resolved, ...]] = {}
    links: dict[RelPath, tuple[Note, tuple[Resolved, ...], list[Diagnostic]]] = {}
    found = _Gathered(Corpus(by_path, index, {}, {}, ()), defaultdict(set), {}, defaultdict(set))
    for note in ordered:
        known = last.get(note.path)
        if known is not None and known[0] is note and not any(r.link.anchor and r.target in changed for r in known[1]):
            out, problems = known[1], known[2]
        else:
            out, problems = _resolve(note, index, by_path, anchors)
        links[note.path] = (note, out, problems)
        resolved[note.path] = out
        diags.extend(problems)
        if problems:
            found.troubled[note.path] = problems
        _gather(found, note.path, out, True)
    diags.extend(_embed_cycles(found.embeds))
    backlinks = {p: tuple(sorted(s)) for p, s in found.back.items()}
    found.corpus = Corpus(by_path, index, resolved, backlinks, tuple(sorted(set(diags))), since)
    if memo is not None:
        memo.links = links
        memo.gathered = found
    return found.corpus


def _gather(found: _Gathered, source: RelPath, out: tuple[Resolved, ...], add: bool) -> set[RelPath]:
    """Add (or take away) what a note's resolved links give the corpus; the notes whose
    backlinks that changes."""
    update = set.add if add else set.discard
    touched: set[RelPath] = set()
    if not add:
        found.embeds.pop(source, None)
    for r in out:
        if r.kind != "note" or r.target is None:
            continue
        if r.target != source:
            touched.add(r.target)
            update(found.back[r.target], source)
        if r.link.anchor:
            update(found.anchored[r.target], source)
        if r.link.embed and add:
            found.embeds.setdefault(source, {})[r.target] = r.link
    return touched


def _regather(
    found: _Gathered,
    by_path: Mapping[RelPath, Note],
    index: Index,
    links: dict[RelPath, tuple[Note, tuple[Resolved, ...], list[Diagnostic]]],
    changed: set[RelPath],
    diags: list[Diagnostic],
    since: tuple[Mapping[RelPath, Note], list[RelPath]] | None,
) -> _Gathered:
    """:func:`build_corpus` for the same notes as last time, but ``changed``, under the same
    names: the changed notes, and those linking to a heading or block of one, are resolved again
    and what the corpus gathers is updated where they were; ``links`` is updated in place."""
    redo = set(changed)
    for target in changed:
        redo.update(found.anchored.get(target, ()))
    anchors: dict[RelPath, tuple[set[str], frozenset[str]]] = {}
    resolved = dict(found.corpus.resolved)
    touched: set[RelPath] = set()
    redone = sorted(redo)
    for path in redone:
        note = by_path[path]
        touched |= _gather(found, path, links[path][1], False)
        out, problems = _resolve(note, index, by_path, anchors)
        links[path] = (note, out, problems)
        resolved[path] = out
        if problems:
            found.troubled[path] = problems
        else:
            found.troubled.pop(path, None)
        touched |= _gather(found, path, out, True)
    backlinks = dict(found.corpus.backlinks)
    for target in touched:
        sources = found.back.get(target)
        if sources:
            backlinks[target] = tuple(sorted(sources))
        else:
            found.back.pop(target, None)
            backlinks.pop(target, None)
    diags.extend(d for problems in found.troubled.values() for d in problems)
    diags.extend(_embed_cycles(found.embeds))
    diagnostics = tuple(sorted(set(diags)))
    found.corpus = Corpus(by_path, index, resolved, backlinks, diagnostics, since, (found.corpus.resolved, redone))
    return found


def _resolve(
    note: Note,
    index: Index,
    by_path: Mapping[RelPath, Note],
    anchors: dict[RelPath, tuple[set[str], frozenset[str]]],
) -> tuple[tuple[Resolved, ...], list[Diagnostic]]:
    """Where each of the note's links goes, and the problems found."""
    out: list[Resolved] = []
    diags: list[Diagnostic] = []
    shown = printable_path(note.path)
    for link in note.links:
        if link.target:
            kind, target = index.lookup(link.target)
        else:
            kind, target = "note", note.path  # [[#Heading]] within the note
        anchor_ok = True
        if kind == "broken":
            diags.append(make(shown, link.line, link.column, "broken-link", f"no note named {link.target!r}"))
        elif kind == "note" and target is not None and link.anchor:
            found = anchors.get(target)
            if found is None:
                linked = by_path[target]
                found = anchors[target] = ({h.key for h in linked.headings}, linked.block_ids)
            anchor_ok = _anchor_exists(link.anchor, *found)
            if not anchor_ok:
                what = "block" if link.anchor.startswith("^") else "heading"
                diags.append(
                    make(
                        shown,
                        link.line,
                        link.column,
                        "broken-anchor",
                        f"{printable_path(target)} has no {what} {link.anchor!r}",
                    )
                )
        out.append(Resolved(link, kind, target, anchor_ok))
    return tuple(out), diags


def _anchor_exists(anchor: str, headings: set[str], blocks: frozenset[str]) -> bool:
    if anchor.startswith("^"):
        return anchor[1:] in blocks
    # Obsidian allows nested heading paths: [[Note#Part#Sub]] names the last heading.
    last = anchor.split("#")[-1]
    return heading_anchor(last) in headings


def _embed_cycles(embedded: Mapping[RelPath, Mapping[RelPath, WikiLink]]) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    embeds = nx.DiGraph()
    for source in sorted(embedded):
        for target, embedding in embedded[source].items():
            embeds.add_edge(source, target, link=embedding)
    for component in nx.strongly_connected_components(embeds):
        members = sorted(component)
        if len(members) == 1 and not embeds.has_edge(members[0], members[0]):
            continue
        chain = " -> ".join(printable_path(m) for m in members)
        for source in members:
            for target in sorted(embeds.successors(source)):
                if target in component:
                    link: WikiLink = embeds.edges[source, target]["link"]
                    diags.append(
                        make(
                            printable_path(source),
                            link.line,
                            link.column,
                            "embed-cycle",
                            f"transclusion cycle through {chain}",
                        )
                    )
    return diags
