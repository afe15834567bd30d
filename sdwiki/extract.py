"""Stage 3, extracting: a note's sections become resources and triples, as the ontology says.

Each section heading is looked up in the ontology (:mod:`sdwiki.ontology`); its *form* says how
to read it. What cannot be understood is reported (``unknown-section``, ``unknown-item``) and
stays on the page, never silently dropped. The result for one note depends only on the note, the
corpus-wide :class:`~sdwiki.registry.Registry` and the ontology.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rdflib import Literal, URIRef
from rdflib.term import Node

from sdwiki import frontmatter
from sdwiki.diagnostics import Diagnostic, make, printable_path
from sdwiki.notes import Block, Note, Section, aliases
from sdwiki.ontology import SD, Ontology, SectionMapping, heading_qualifier
from sdwiki.records import quick_pickle
from sdwiki.registry import Registry, plain
from sdwiki.resolve import Corpus
from sdwiki.slugs import slugify
from sdwiki.terms import DCTERMS, RDF, RDFS, SKOS, XSD, literal
from sdwiki.terms import iri as make_iri
from sdwiki.types import RelPath

Triple = tuple[URIRef, URIRef, Node]

_PAREN = re.compile(r"^(.*?)\s*\(([^()]*)\)\s*\.?$")
_YEAR = re.compile(r"^(?:c\.\s*)?(\d{3,4})s?$")
_LABELLED = re.compile(r"^\*\*(.+?)\*\*(.*?)(?::\s+(.*))?$", re.S)
_ARROW = re.compile(r"^[\s↓⬇⇓|v→⟶\-–>]*$")
_READING = re.compile(
    r"^(?P<authors>.+?),\s*"
    r"(?:\"(?P<q>[^\"]+)\"|“(?P<cq>[^”]+)”|\*(?P<i>[^*]+)\*|_(?P<u>[^_]+)_)"
    r"\s*(?:[,.]?\s*\((?P<year>\d{4})\))?\s*\.?$"
)
_AUTHOR_SPLIT = re.compile(r"\s*(?:,|;|\band\b|&)\s*")
_STRUCTURAL = {"type", "category", "tags", "tag", "title", "aliases", "alias"}


@quick_pickle
@dataclass(frozen=True, slots=True)
class NoteGraph:
    """The triples read from one note, for its own named graph."""

    path: RelPath
    graph: URIRef
    subject: URIRef
    triples: tuple[Triple, ...]
    diagnostics: tuple[Diagnostic, ...]


def extract(note: Note, corpus: Corpus, registry: Registry, onto: Ontology) -> NoteGraph:
    """Read one note into triples (a pure function of its arguments)."""
    x = _Extractor(note, corpus, registry, onto)
    x.run()
    return NoteGraph(
        note.path,
        registry.graph_iri(note.path),
        x.subject,
        tuple(x.finish()),
        tuple(x.diags),
    )


class _Extractor:
    def __init__(self, note: Note, corpus: Corpus, registry: Registry, onto: Ontology) -> None:
        self.note = note
        self.corpus = corpus
        self.reg = registry
        self.onto = onto
        self.subject = registry.note_iri[note.path]
        self.cls = registry.note_class[note.path]
        self.triples: list[Triple] = []
        self.diags: list[Diagnostic] = []
        self.shown = printable_path(note.path)
        self.described: set[URIRef] = set()

    # -- helpers ---------------------------------------------------------------------------
    def add(self, s: URIRef, p: URIRef, o: Node) -> None:
        self.triples.append((s, p, o))

    def warn(self, line: int, code: str, message: str, column: int = 1) -> None:
        self.diags.append(make(self.shown, line, column, code, message))

    def resource(self, iri: URIRef, cls: URIRef, label: str, line: int) -> URIRef:
        """Type, label and provenance of a resource described by this note."""
        self.add(iri, RDF.type, cls)
        self.add(iri, RDFS.label, literal(label))
        if iri not in self.described:
            self.described.add(iri)
            self.add(iri, SD.sourcePath, literal(self.note.path))
            self.add(iri, SD.sourceLine, literal(max(line, 1)))
        return iri

    def local(self, owner: URIRef, cls: URIRef, name: str) -> URIRef:
        return make_iri(f"{owner}/{self.onto.local_paths[cls]}/{slugify(name)}")

    def named(self, cls: URIRef, label: str, owner: URIRef, block: Block | None) -> URIRef:
        """The resource an item names: a linked or same-named note, else one of class ``cls``."""
        note_iri = self.linked_note(block) if block else None
        if note_iri is None and cls in self.onto.iri_paths:
            note_iri = self.note_named(label)
        if note_iri is not None and self.reg.note_class[self.reg.iri_note[note_iri]] in (
            cls,
            *self._subclasses(cls),
        ):
            return note_iri
        if cls == SD.Thinker:
            return self.reg.thinker(label)[0]
        if cls in self.onto.iri_paths:
            return self.reg.iri(self.onto.iri_paths[cls], label)
        return self.local(owner, cls, label)

    def _subclasses(self, cls: URIRef) -> tuple[URIRef, ...]:
        return tuple(s for s in self.onto.graph.subjects(RDFS.subClassOf, cls) if isinstance(s, URIRef))

    def linked_note(self, block: Block) -> URIRef | None:
        for link in block.links:
            if link.target:
                found = self.corpus.resolve_name(link.target)
                if found is not None:
                    return self.reg.note_iri[found.path]
        return None

    def note_named(self, label: str) -> URIRef | None:
        found = self.corpus.resolve_name(label) if label and "/" not in label else None
        return self.reg.note_iri[found.path] if found is not None else None

    def label_of(self, iri: URIRef, fallback: str) -> str:
        path = self.reg.iri_note.get(iri)
        if path is not None:
            return self.corpus.notes[path].title
        return self.reg.thinker_labels.get(iri, fallback)

    def refers(self, iri: URIRef, label: str, block: Block | None = None) -> None:
        target = (self.linked_note(block) if block else None) or self.note_named(label)
        if target is not None and target != iri:
            self.add(iri, SD.refersTo, target)

    # -- the note --------------------------------------------------------------------------
    def run(self) -> None:
        note, s = self.note, self.subject
        self.resource(s, self.cls, note.title, note.title_line)
        for sup in self._superclasses(self.cls):
            self.add(s, RDF.type, sup)
        self.add(s, SKOS.prefLabel, Literal(note.title))
        for alias in aliases(note):
            self.add(s, SKOS.altLabel, Literal(alias))
        self._frontmatter()
        for tag in note.tags:
            t = self.reg.iri("tag", tag.name)
            self.add(s, SD.tag, t)
            self.add(t, RDF.type, SD.Tag)
            self.add(t, RDFS.label, literal(tag.name))
        for resolved in self.corpus.resolved.get(note.path, ()):
            if resolved.kind == "note" and resolved.target and resolved.target != note.path:
                self.add(s, SD.linksTo, self.reg.note_iri[resolved.target])
        for section in note.sections:
            self.section(section)

    def _superclasses(self, cls: URIRef) -> list[URIRef]:
        out: list[URIRef] = []
        todo = [cls]
        while todo:
            for sup in self.onto.graph.objects(todo.pop(), RDFS.subClassOf):
                if isinstance(sup, URIRef) and sup not in out:
                    out.append(sup)
                    todo.append(sup)
        return out

    def _frontmatter(self) -> None:
        note, s = self.note, self.subject
        kind = note.kind
        if kind is not None and kind not in self.onto.note_types:
            known = ", ".join(sorted(self.onto.note_types))
            self.warn(
                note.meta_lines.get("type", 1),
                "unknown-type",
                f"type {kind!r} is not one of: {known}",
            )
        category = note.meta.get("category")
        if isinstance(category, str) and category.strip():
            c = self.reg.iri("category", category.strip())
            self.add(s, SD.category, c)
            self.add(c, RDF.type, SD.Category)
            self.add(c, RDFS.label, literal(category.strip()))
        for name, value in sorted(note.meta.items()):
            k = name.casefold()
            if k in _STRUCTURAL:
                continue
            line = note.meta_lines.get(name, 1)
            prop = self.onto.frontmatter_keys.get(k)
            if prop is None:
                self.warn(line, "unknown-key", f"frontmatter key {name!r} is not in the ontology")
                continue
            values, ok = frontmatter.as_text_list(value)
            if not ok:
                self.warn(line, "bad-frontmatter", f"{name} must be text or a list of texts")
            for text in values:
                self.value(s, prop, text, line)

    def value(self, s: URIRef, prop: URIRef, text: str, line: int) -> None:
        """One frontmatter value for ``prop``: a literal or a named resource."""
        rng = self.onto.ranges.get(prop)
        if prop in self.onto.datatype_props:
            if rng == XSD.gYear:
                m = _YEAR.match(text.strip())
                if m is None:
                    self.warn(line, "bad-frontmatter", f"{text!r} is not a year")
                    return
                self.add(s, prop, literal(m.group(1).zfill(4), XSD.gYear))
            else:
                self.add(s, prop, Literal(plain(text)))
            return
        label = plain(text)
        if not label:
            return
        cls = rng or SD.Concept
        target = self.named(cls, label, s, None)
        self.add(s, prop, target)
        if self.reg.iri_note.get(target) is None:
            self.resource(target, cls, self.label_of(target, label), line)
        if prop == SD.coinedBy:
            self.add(s, SD.keyThinker, target)

    # -- sections --------------------------------------------------------------------------
    def section(self, section: Section) -> None:
        mapping = self.onto.section(section.heading)
        if mapping is None or (
            mapping.applies_to
            and self.cls not in mapping.applies_to
            and not any(c in mapping.applies_to for c in self._superclasses(self.cls))
        ):
            why = "is not a section the ontology knows"
            if mapping is not None:
                why = f"does not apply to a {self.onto.label(self.cls)} note"
            self.warn(section.line, "unknown-section", f"section {section.heading!r} {why}")
            return
        form = mapping.form
        if form == SD.TextForm:
            self.text_form(section, mapping)
        elif form == SD.EntityListForm:
            self.entity_list(section, mapping)
        elif form == SD.LinkListForm:
            self.link_list(section, mapping)
        elif form == SD.LabelledListForm:
            self.labelled_list(section, mapping)
        elif form == SD.StepsForm:
            self.steps(section, mapping)
        elif form == SD.GroupedForm:
            self.grouped(section, mapping)
        elif form == SD.ReadingListForm:
            self.readings(section, mapping)
        if form not in (SD.TextForm, SD.GroupedForm):
            for child in section.children:
                self.warn(
                    child.line,
                    "unknown-section",
                    f"subsection {child.heading!r} is not understood here",
                )

    def items(self, blocks: Sequence[Block], section: Section, allow_fence: bool = False) -> list[Block]:
        """Top-level items; anything else in the section is reported."""
        out: list[Block] = []
        for b in blocks:
            if b.kind == "item" and b.depth == 1:
                out.append(b)
            elif b.kind == "item":
                self.warn(b.line, "unknown-item", f"nested item in {section.heading!r} is not understood")
            elif not (allow_fence and b.kind == "fence"):
                self.warn(
                    b.line,
                    "unknown-item",
                    f"{b.kind} in {section.heading!r} is not understood; kept as text",
                )
        return out

    def text_form(self, section: Section, mapping: SectionMapping) -> None:
        texts = [plain(b.text) for s in section.walk() for b in s.blocks if b.kind in ("paragraph", "item")]
        text = "\n\n".join(t for t in texts if t)
        if text:
            self.add(self.subject, mapping.prop, Literal(text))

    def entity_list(self, section: Section, mapping: SectionMapping) -> None:
        rng = mapping.range or SD.Concept
        for pos, block in enumerate(self.items(section.blocks, section), start=1):
            m = _PAREN.match(block.text)
            name = plain(m.group(1) if m else block.text)
            if not name:
                self.warn(block.line, "unknown-item", f"empty item in {section.heading!r}")
                continue
            role, year = _role_year(m.group(2)) if m else (None, None)
            if m and role is None and year is None:
                name = plain(block.text)
            target = self.named(rng, name, self.subject, block)
            label = self.label_of(target, name if rng != SD.Thinker else self.reg.thinker(name)[1])
            self.add(self.subject, mapping.prop, target)
            if self.reg.iri_note.get(target) is None or target == self.subject:
                self.resource(target, rng, label, block.line)
            concept, thinker = (self.subject, target) if rng == SD.Thinker else (target, self.subject)
            if rng == SD.Thinker or self.cls == SD.Thinker:
                self.contribution(concept, thinker, role, year, pos, block.line)

    def contribution(
        self,
        concept: URIRef,
        thinker: URIRef,
        role: str | None,
        year: str | None,
        pos: int,
        line: int,
    ) -> None:
        if role is None and year is None:
            return
        c = make_iri(f"{concept}/contribution/{thinker.rsplit('/', 1)[-1]}")
        who = self.label_of(thinker, thinker.rsplit("/", 1)[-1])
        detail = ", ".join(x for x in (role, year) if x)
        self.resource(c, SD.Contribution, f"{who} ({detail})", line)
        self.add(concept, SD.contribution, c)
        self.add(c, SD.thinker, thinker)
        if role:
            self.add(c, SD.role, literal(role))
        if year:
            self.add(c, SD.year, literal(year, XSD.gYear))
        if role and "coin" in role.casefold():
            self.add(concept, SD.coinedBy, thinker)
            if year:
                self.add(concept, SD.coinedIn, literal(year, XSD.gYear))

    def link_list(self, section: Section, mapping: SectionMapping) -> None:
        for block in self.items(section.blocks, section):
            targets = [
                self.reg.note_iri[r.target]
                for r in self.corpus.resolved.get(self.note.path, ())
                if r.link in block.links and r.kind == "note" and r.target
            ]
            if not block.links:
                self.warn(block.line, "unknown-item", f"item in {section.heading!r} has no [[link]]")
            for t in targets:
                if t != self.subject:
                    self.add(self.subject, mapping.prop, t)

    def labelled_list(self, section: Section, mapping: SectionMapping) -> None:
        rng = mapping.range or SD.Limitation
        seen: set[URIRef] = set()
        for pos, block in enumerate(self.items(section.blocks, section), start=1):
            label, explanation = _labelled(block.text)
            if not label:
                continue
            iri = self.local(self.subject, rng, label)
            n = 2
            while iri in seen:
                iri = make_iri(f"{self.local(self.subject, rng, label)}-{n}")
                n += 1
            seen.add(iri)
            self.resource(iri, rng, label, block.line)
            self.add(self.subject, mapping.prop, iri)
            self.add(iri, SD.position, literal(block.number or pos))
            if explanation:
                self.add(iri, mapping.explanation_prop, Literal(explanation))
            self.refers(iri, label, block)

    def steps(self, section: Section, mapping: SectionMapping) -> None:
        sequences: list[list[tuple[str, int]]] = []
        for b in section.blocks:
            if b.kind in ("fence", "code"):
                lines = [
                    (line.strip(), b.line + 1 + i)
                    for i, line in enumerate(b.text.split("\n"))
                    if line.strip() and not _ARROW.match(line)
                ]
                if lines:
                    sequences.append(lines)
        ordered = [b for b in section.blocks if b.kind == "item" and b.number is not None and b.depth == 1]
        if ordered:
            sequences.append([(plain(b.text), b.line) for b in ordered])
        for b in section.blocks:
            if b.kind not in ("fence", "code") and b not in ordered:
                self.warn(
                    b.line,
                    "unknown-item",
                    f"{b.kind} in {section.heading!r} is not a step; kept as text",
                )
        for n, steps in enumerate(sequences, start=1):
            mech = make_iri(f"{self.subject}/mechanism" + ("" if n == 1 else f"-{n}"))
            self.resource(mech, SD.Mechanism, f"{self.note.title} mechanism", section.line)
            self.add(self.subject, mapping.prop, mech)
            previous: URIRef | None = None
            for pos, (label, line) in enumerate(steps, start=1):
                step = make_iri(f"{mech}/step-{pos}")
                self.resource(step, SD.MechanismStep, label, line)
                self.add(mech, SD.step, step)
                self.add(step, SD.position, literal(pos))
                if previous is not None:
                    self.add(previous, SD.leadsTo, step)
                previous = step
                self.refers(step, label)

    def grouped(self, section: Section, mapping: SectionMapping) -> None:
        section_qualifier = heading_qualifier(section.heading)
        groups: list[tuple[str | None, str | None, int, Sequence[Block]]] = []
        if section.blocks:
            groups.append((None, None, section.line, section.blocks))
        for child in section.children:
            group_name = plain(re.sub(r"\s*\([^()]*\)\s*$", "", child.heading))
            qualifier = heading_qualifier(child.heading) or section_qualifier
            groups.append((group_name, qualifier, child.line, child.blocks))
            for grandchild in child.children:
                self.warn(
                    grandchild.line,
                    "unknown-section",
                    f"subsection {grandchild.heading!r} is not understood here",
                )
        item_cls = mapping.item_class or SD.Concept
        group_cls = mapping.group_class or SD.Concept
        for name, qualifier, line, blocks in groups:
            items = self.items(blocks, section)
            group: URIRef | None = None
            if name:
                group = self.named(group_cls, name, self.subject, None)
                self.resource(group, group_cls, self.label_of(group, name), line)
                self.refers(group, name)
                if mapping.group_prop is None:
                    self.add(self.subject, mapping.prop, group)
                if qualifier and mapping.qualifier_prop is not None:
                    who, who_label = self.reg.thinker(qualifier)
                    self.add(group, mapping.qualifier_prop, who)
                    if self.reg.iri_note.get(who) is None:
                        self.resource(who, SD.Thinker, who_label, line)
            for block in items:
                label, explanation = _labelled(block.text)
                if not label:
                    continue
                if group is None and mapping.group_prop is None:
                    # an ungrouped item of a group-valued relation is a group without members
                    g = self.named(group_cls, label, self.subject, block)
                    self.resource(g, group_cls, self.label_of(g, label), block.line)
                    self.add(self.subject, mapping.prop, g)
                    self.refers(g, label, block)
                    continue
                owner = group or self.subject
                item = self.named(item_cls, label, owner, block)
                if self.reg.iri_note.get(item) is None:
                    self.resource(item, item_cls, self.label_of(item, label), block.line)
                    self.refers(item, label, block)
                if explanation:
                    self.add(item, mapping.explanation_prop, Literal(explanation))
                if mapping.group_prop is not None:
                    self.add(self.subject, mapping.prop, item)
                    if group is not None:
                        self.add(item, mapping.group_prop, group)
                elif mapping.member_prop is not None and group is not None:
                    self.add(group, mapping.member_prop, item)

    def readings(self, section: Section, mapping: SectionMapping) -> None:
        for block in self.items(section.blocks, section):
            m = _READING.match(block.text.strip())
            if m is None:
                self.warn(
                    block.line,
                    "unknown-item",
                    'reading not in the form Author, "Title" (Year) or Author, *Title* (Year)',
                )
                continue
            title = plain(m.group("q") or m.group("cq") or m.group("i") or m.group("u") or "")
            work = self.reg.iri("work", title)
            self.resource(work, SD.Work, title, block.line)
            self.add(work, DCTERMS.title, literal(title))
            if m.group("year"):
                self.add(work, DCTERMS.date, literal(m.group("year"), XSD.gYear))
            for author in _AUTHOR_SPLIT.split(plain(m.group("authors"))):
                if not author.strip() or author.strip().casefold() in (
                    "et al.",
                    "et al",
                    "eds.",
                    "ed.",
                ):
                    continue
                who, who_label = self.reg.thinker(author)
                self.add(work, DCTERMS.creator, who)
                if self.reg.iri_note.get(who) is None:
                    self.resource(who, SD.Thinker, who_label, block.line)
            self.add(self.subject, mapping.prop, work)

    # -- closing ---------------------------------------------------------------------------
    def finish(self) -> list[Triple]:
        """Add the inverse of every relation, deduplicate, keep first-seen order."""
        out: dict[Triple, None] = {}
        for s, p, o in self.triples:
            out[(s, p, o)] = None
            inverse = self.onto.inverses.get(p)
            if inverse is not None and isinstance(o, URIRef):
                out[(o, inverse, s)] = None
        return list(out)


def _role_year(paren: str) -> tuple[str | None, str | None]:
    role_parts: list[str] = []
    year: str | None = None
    for part in (p.strip() for p in paren.split(",")):
        m = _YEAR.match(part)
        if m and year is None:
            year = m.group(1).zfill(4)
        elif part:
            role_parts.append(part)
    return (", ".join(role_parts) or None), year


def _labelled(text: str) -> tuple[str, str | None]:
    """``**Label** words: explanation`` -> (``Label words``, ``explanation``)."""
    m = _LABELLED.match(text.strip())
    if m:
        label = plain(m.group(1) + m.group(2)).rstrip(":").strip()
        return label, plain(m.group(3)) if m.group(3) else None
    return plain(text), None
