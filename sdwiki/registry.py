"""Names across the whole corpus: which IRI each note, thinker and named thing gets.

Built once per build from the corpus (cheap: no markdown is re-parsed). It is what makes "Jervis"
in a reading list, "Robert Jervis" in Key Thinkers and the note titled Robert Jervis one thinker.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import PurePosixPath

from rdflib import URIRef

from sdwiki.diagnostics import Diagnostic, make, printable_path
from sdwiki.notes import Note, aliases
from sdwiki.ontology import SD, Ontology, heading_key
from sdwiki.records import by_object
from sdwiki.resolve import Corpus
from sdwiki.slugs import slugify
from sdwiki.terms import iri
from sdwiki.types import DEFAULT_BASE, IRI, RelPath

__all__ = ["DEFAULT_BASE", "Registry", "RegistryMemo", "build_registry", "key", "plain", "surname"]


_WIKILINK = re.compile(r"!?\[\[([^\[\]|#]*)(?:#[^\[\]|]*)?(?:\\?\|([^\[\]]*))?\]\]")
_EMPH = re.compile(r"(\*\*|__|\*|_|`|~~)")
_PAREN = re.compile(r"^(.*?)\s*\(([^()]*)\)\s*$")


@lru_cache(maxsize=1 << 16)  # names recur across notes, and every build reads every note's names
def plain(text: str) -> str:
    """Inline markdown as plain text: wikilinks become their shown text, emphasis is dropped."""
    text = _WIKILINK.sub(lambda m: (m.group(2) or m.group(1)).strip(), text)
    text = _EMPH.sub("", text)
    return " ".join(text.split())


@lru_cache(maxsize=1 << 16)
def key(name: str) -> str:
    return " ".join(plain(name).casefold().split())


def surname(name: str) -> str:
    parts = plain(name).replace(".", " ").split()
    return parts[-1] if parts else ""


@dataclass(frozen=True, slots=True)
class Registry:
    """Corpus-wide naming: note IRIs and classes, and the thinker name index."""

    base: str
    note_iri: dict[RelPath, URIRef]
    note_class: dict[RelPath, URIRef]
    iri_note: dict[URIRef, RelPath]
    thinkers: dict[str, URIRef]
    """Case-folded full names, aliases and unambiguous surnames -> thinker IRI."""
    thinker_labels: dict[URIRef, str]
    diagnostics: tuple[Diagnostic, ...]

    def iri(self, path: str, name: str) -> URIRef:
        """A global IRI ``{base}{path}/{slug}``; text only ever enters through :func:`slugify`."""
        return iri(IRI(f"{self.base}{path}/{slugify(name)}"))

    def graph_iri(self, rel: RelPath) -> URIRef:
        parts = PurePosixPath(rel[:-3] if rel.lower().endswith(".md") else rel).parts
        return iri(self.base + "graph/" + "/".join(slugify(p) for p in parts))

    def thinker(self, name: str) -> tuple[URIRef, str]:
        """The thinker a name refers to, and the label to give it."""
        hit = self.thinkers.get(key(name))
        if hit is not None:
            return hit, self.thinker_labels[hit]
        label = plain(name)
        return self.iri("thinker", label), label


@dataclass
class RegistryMemo:
    """What :func:`build_registry` keeps between builds (``serve``): each note's part in the
    naming (by the note object), and the last registry with what it was made from."""

    inputs: dict[int, tuple[Note, tuple[object, ...]]] = field(default_factory=dict)
    last: tuple[tuple[object, ...], Registry] | None = None
    notes: Mapping[RelPath, Note] | None = None
    """The notes the last registry was asked for, by path."""


def build_registry(
    corpus: Corpus, onto: Ontology, base: str = DEFAULT_BASE, memo: RegistryMemo | None = None
) -> Registry:
    """The names of ``corpus`` (a pure function of it). With ``memo``, a corpus whose notes name
    things as last time (an edit to prose) gets the last registry back."""
    if memo is None:
        return _build_registry(corpus, onto, base)
    lists = _thinker_lists(onto)
    last, memo.notes = memo.notes, corpus.notes
    changed = corpus.replaced_since(last) if last is not None else None
    if (
        last is not None
        and changed is not None
        and memo.last is not None
        and memo.last[1].base == base
        and all(_naming_inputs(corpus.notes[p], lists) == _naming_inputs(last[p], lists) for p in changed)
    ):
        return memo.last[1]  # a save that names nothing otherwise (without a look at every note)
    memo.inputs = by_object(memo.inputs, corpus.notes.values(), lambda note: _naming_inputs(note, lists))
    made_from = (base, *(inputs for _, inputs in memo.inputs.values()))
    if memo.last is not None and memo.last[0] == made_from:
        return memo.last[1]
    registry = _build_registry(corpus, onto, base)
    memo.last = (made_from, registry)
    return registry


def _thinker_lists(onto: Ontology) -> frozenset[str]:
    """The sections listing thinkers (Key Thinkers)."""
    return frozenset(k for k, mapping in onto.sections.items() if mapping.range == SD.Thinker)


def _naming_inputs(note: Note, lists: frozenset[str]) -> tuple[object, ...]:
    """All of a note that :func:`_build_registry` reads: path, type, title (and its line), aliases,
    and the items of its thinker lists."""
    listed = tuple(
        (block.kind, block.depth, block.text)
        for section in note.sections
        if heading_key(section.heading) in lists
        for block in section.blocks
    )
    return (note.path, note.kind, note.title, note.title_line, tuple(aliases(note)), listed)


def _build_registry(corpus: Corpus, onto: Ontology, base: str) -> Registry:
    diags: list[Diagnostic] = []
    note_iri: dict[RelPath, URIRef] = {}
    note_class: dict[RelPath, URIRef] = {}
    iri_note: dict[URIRef, RelPath] = {}
    for path, note in sorted(corpus.notes.items()):
        cls = note_class_of(note, onto)
        note_class[path] = cls
        segment = onto.iri_paths.get(cls, "concept")
        slug = slugify(note.title)
        address = iri(f"{base}{segment}/{slug}")
        n = 2
        while address in iri_note:
            address = iri(f"{base}{segment}/{slug}-{n}")
            n += 1
        if n > 2:
            other = printable_path(iri_note[iri(f"{base}{segment}/{slug}")])
            diags.append(
                make(
                    printable_path(path),
                    note.title_line,
                    1,
                    "slug-collision",
                    f"{note.title!r} has the same address as {other}; using {address.rsplit('/', 1)[1]}",
                )
            )
        note_iri[path] = address
        iri_note[address] = path

    thinkers: dict[str, URIRef] = {}
    labels: dict[URIRef, str] = {}
    by_surname: dict[str, set[URIRef]] = defaultdict(set)
    for path, note in sorted(corpus.notes.items()):
        if note_class[path] != SD.Thinker:
            continue
        own = note_iri[path]
        labels[own] = note.title
        for name in [note.title, *aliases(note)]:
            thinkers.setdefault(key(name), own)
        by_surname[surname(note.title).casefold()].add(own)
    # Thinkers named in Key Thinkers lists without a note of their own.
    lists_thinkers = _thinker_lists(onto)
    for note in corpus.notes.values():
        for section in note.sections:
            if heading_key(section.heading) not in lists_thinkers:
                continue
            for block in section.blocks:
                if block.kind != "item" or block.depth != 1:
                    continue
                m = _PAREN.match(block.text)
                name = plain(m.group(1) if m else block.text)
                if not name or key(name) in thinkers:
                    continue
                thinker = iri(f"{base}thinker/{slugify(name)}")
                thinkers[key(name)] = thinker
                labels.setdefault(thinker, name)
                by_surname[surname(name).casefold()].add(thinker)
    for sname, iris in by_surname.items():
        if len(iris) == 1 and sname and sname not in thinkers:
            thinkers[sname] = next(iter(iris))
    return Registry(base, note_iri, note_class, iri_note, thinkers, labels, tuple(diags))


def note_class_of(note: Note, onto: Ontology) -> URIRef:
    kind = note.kind
    if kind is None:
        return SD.Concept
    return onto.note_types.get(kind, SD.Concept)
