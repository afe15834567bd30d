"""Stage 6, the site: every page rendered in memory from the project, the graph index and the
analytics. Nothing here touches the disk but the templates it reads; :mod:`sdwiki.write` writes.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache, partial
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import jinja2
import markupsafe
from rdflib import URIRef

from sdwiki.diagnostics import Diagnostic, make
from sdwiki.facts import Change, Facts, LiveIndex, Read, index
from sdwiki.graph import nt_term
from sdwiki.notes import Note, tokens_of
from sdwiki.ontology import SD, SectionMapping
from sdwiki.pages import KIND_LABELS, PAGE_KINDS, href, page_path, root_of
from sdwiki.parallel import fork_map
from sdwiki.pipeline import Project
from sdwiki.registry import Registry
from sdwiki.render import fill, prerender
from sdwiki.resources import templates_dir
from sdwiki.reuse import Epoch, Made, PageMemo, essential
from sdwiki.search import parts_for
from sdwiki.slugs import slugify
from sdwiki.terms import DCTERMS, FOAF, RDF, SKOS
from sdwiki.timings import Timings
from sdwiki.types import RelPath

Context = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Link:
    """A link as templates show it."""

    label: str
    href: str | None
    note: str = ""
    """A short qualifier shown after the link (a role, a year, an effect)."""


@dataclass(frozen=True, slots=True)
class SavedQuery:
    slug: str
    title: str
    description: str
    text: str
    path: RelPath


@dataclass(frozen=True, slots=True)
class SiteInput:
    """Everything the site is rendered from."""

    project: Project
    title: str
    queries: tuple[SavedQuery, ...] = ()
    query_results: dict[str, tuple[tuple[str, ...], list[list[Link]]]] = field(default_factory=dict)
    centrality: dict[str, float] = field(default_factory=dict)
    communities: dict[str, int] = field(default_factory=dict)
    layout: dict[str, tuple[float, float]] = field(default_factory=dict)
    related: Callable[[str], list[tuple[str, float]]] | None = None


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment (one per process: templates are compiled once)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["tojson_script"] = lambda v: markupsafe.Markup(
        json.dumps(v, ensure_ascii=False, sort_keys=True).replace("<", "\\u003c").replace(">", "\\u003e")
    )
    return env


class _PageLinker:
    """Resolves wikilinks for one page (see :class:`sdwiki.render.Linker`)."""

    def __init__(self, site: Site, page: str) -> None:
        self.site = site
        self.page = page

    def note(self, target: str, source: RelPath) -> tuple[RelPath, str] | None:
        found = self.site.project.corpus.resolve_name(target)
        if found is None:
            return None
        path = self.site.note_page.get(found.path)
        return (found.path, href(self.page, path)) if path else None

    def attachment(self, target: str) -> str | None:
        kind, path = self.site.project.corpus.index.lookup(target)
        if kind != "attachment" or path is None:
            return None
        return href(self.page, self.site.attachment_path(path))

    def tag(self, name: str) -> str:
        return href(self.page, f"tag/{slugify(name)}/index.html")

    def note_by_path(self, path: RelPath) -> Note:
        return self.site.project.corpus.notes[path]


class Site:
    def __init__(self, data: SiteInput, memo: PageMemo | None = None, live: LiveIndex | None = None) -> None:
        self.data = data
        self.project = data.project
        self.base = self.project.registry.base
        self.memo = memo
        """What each entity page was last made from (kept by ``serve``): pages whose lookups all
        give the same answers are not worked out again (see :mod:`sdwiki.reuse`)."""
        self.live = live
        """The graph index kept up to date between builds, just updated (``serve``): what the site
        makes of the whole index is updated from the resources that changed."""
        self.facts: Facts = (
            live.facts
            if live is not None and live.facts is not None
            else index(self.project.ordered_graphs(), record=memo is not None)
        )
        self.analysis: object = None
        """The network analysis the pages show, compared by identity between builds."""
        self._known: dict[str, Made] = {}
        self._embedding_now: set[RelPath] | None = None
        """The notes that embed something, when this build worked them out (see :meth:`_embedding`)."""
        self._change: Change | None = None
        """What changed in the index since the pages of :attr:`memo` were made (None: unknown)."""
        self.changes: tuple[Change, set[Read]] | None = None
        """Without a live index (a command-line build), what changed since the pages of :attr:`memo`
        were made, with the lookups whose answers may differ (see :func:`sdwiki.reuse.graph_reads`)."""
        self.env = environment()
        self.reuse: Callable[[str, str], bool] = lambda path, key: False
        """Whether the previous build's file at ``path`` was made from inputs with this key."""
        self.reuse_page: Callable[[str, str, tuple[str, str], str], bool] = lambda page, key, data, data_key: False
        """:attr:`reuse` for an entity page and its two data files at once (see
        :meth:`sdwiki.write.Previous.page_reuser`)."""
        self.version = ""
        """sdwiki's code, templates and ontology, as part of every key."""
        self.keys: dict[str, str] = {}
        """The key of every entity page and data file of this build."""
        self.first: tuple[Collection[RelPath], Callable[[dict[str, bytes]], None]] | None = None
        """Notes whose pages are made before any other, and what is given those of their files
        that were made anew, at once (see :meth:`_first`)."""
        self._nt: dict[Any, str] = {}
        registry = self.project.registry
        self.note_page: dict[RelPath, str] = self._derived("note_page", registry, partial(_note_pages, registry))

    def _derived(self, name: str, source: object, make: Callable[[], T]) -> T:
        """``make()``, kept in :attr:`memo` while ``source`` is the same object (see
        :meth:`sdwiki.reuse.PageMemo.derive`)."""
        return self.memo.derive(name, source, make) if self.memo is not None else make()

    # -- addresses ------------------------------------------------------------------------
    @cached_property
    def entity_pages(self) -> dict[URIRef, str]:
        """Every resource with a page, and its page's path."""
        live = self.live
        carried = live.carry(live.pages) if live is not None else None
        if carried is not None:
            change, last = carried
            out = dict(last)
            for s in change.subjects:
                page = self._page_of(s)
                if page:
                    out[s] = page
                else:
                    out.pop(s, None)
            out = last if out == last else _by_page(out)
        else:
            out = _by_page({s: page for s in self.facts.out if (page := self._page_of(s))})
        if live is not None:
            live.pages = (live.generation, out)
        return out

    def _page_of(self, s: URIRef) -> str | None:
        types = self.facts.out.get(s, {}).get(RDF.type, ())  # not a page's lookup: not recorded
        return page_path(s, self.base) if any(t in PAGE_KINDS for t in types) else None

    def attachment_path(self, path: RelPath) -> str:
        parts = PurePosixPath(path).parts
        stem, dot, ext = parts[-1].rpartition(".")
        name = f"{slugify(stem or ext)}.{slugify(ext)}" if dot else slugify(parts[-1])
        return "/".join(["files", *(slugify(p) for p in parts[:-1]), name])

    def link(self, iri: URIRef, page: str, note: str = "") -> Link:
        target = self.entity_pages.get(iri)
        return Link(self.facts.label(iri), href(page, target) if target else None, note)

    def links(self, iris: Iterable[URIRef], page: str) -> list[Link]:
        return sorted((self.link(i, page) for i in iris), key=lambda x: x.label.casefold())

    def kind_of(self, iri: URIRef) -> str:
        p = self.entity_pages.get(iri, "")
        return p.split("/", 1)[0]

    # -- rendering ------------------------------------------------------------------------
    def render(self, template: str, page: str, **ctx: Any) -> bytes:
        common: Context = {
            "root": root_of(page),
            "site_title": self.data.title,
            "page": page,
        }
        html = self.env.get_template(template).render(**common, **ctx)
        return html.encode("utf-8")

    def build(self, timings: Timings | None = None, jobs: int = 1) -> dict[str, bytes | None]:
        """Every page and data file of the site, by output path (None: the previous build's file,
        which :attr:`reuse` allowed, or a saved query's page: see :meth:`query_pages`)."""
        t = timings or Timings()
        out: dict[str, bytes | None] = {}
        with t.stage("pages: entities"):
            self.parts  # noqa: B018 -- computed once, before workers are forked
            self.env.get_template("entity.html")
            items = list(self.entity_pages.items())
            epoch = Epoch(self.entity_pages, self.analysis, self.data.title, self.version)
            if self.memo is not None:
                changed: set[Read] | None = None
                if self.live is not None:
                    self._change = self.live.since(self.memo.generation)
                    changed = self.memo.since(self.facts, self._change)
                elif self.changes is not None:
                    self._change, changed = self.changes
                self._known = self.memo.unchanged(changed, epoch, self.owner_page)
            made: dict[str, Made] = {}
            self._first(out, made)
            # pages carried over cost little each: workers would take longer to start than to help
            left = [item for item in self._carry(items, out, made) if item[1] not in made]
            jobs = 1 if len(self._known) > len(items) // 2 else jobs
            items = left
            for (_, page), (files, m) in zip(items, fork_map(self.entity_files, items, jobs), strict=True):
                self._take(page, files, m, out, made)
        with t.stage("pages: index, graph, queries"):
            self._other_pages(out, made)
        if self.memo is not None:
            self.memo.remember(self.facts, self.live.generation if self.live is not None else -1, epoch, made)
            self.memo.embedding = self._embedding_now  # as of these pages, or not known
        return out

    def _other_pages(self, out: dict[str, bytes | None], made: dict[str, Made]) -> None:
        notes = len(self.project.corpus.notes)
        out["index.html"] = self._tracked("index.html", notes, self.index_page, made)
        out["graph/index.html"] = self.render("graph.html", "graph/index.html", title="Graph")
        graph = self._tracked("data/graph.json", None, self.graph_json, made)
        out["data/graph.json"] = graph
        out["data/graph-data.js"] = self._derived("graph-data", graph, partial(_graph_script, graph))
        entities = self.entity_pages  # every entity page is indexed
        parts = self._derived("parts", entities, partial(parts_for, entities.values()))
        out["search/index.html"] = self.render("search.html", "search/index.html", title="Search", parts=parts)
        out["sparql/index.html"] = self.sparql_page()
        diagnostics = self.project.diagnostics
        out["quality/index.html"] = self._tracked("quality/index.html", diagnostics, self.quality_page, made)
        out["queries/index.html"] = self.queries_index()
        for q in self.data.queries:
            out[query_page(q)] = None  # made by query_pages, once the saved queries have run
        out["404.html"] = self.render("404.html", "404.html", title="Not found")
        pages = tuple(sorted(p for p in out if p.endswith(".html") and p != "404.html"))
        last = self.memo.sitemap if self.memo is not None else None
        if last is None or last[0] != pages:
            last = (pages, self.sitemap(pages))
            if self.memo is not None:
                self.memo.sitemap = last
        out["sitemap.xml"] = last[1]

    def _tracked(self, path: str, inputs: object, make: Callable[[], bytes], made: dict[str, Made]) -> bytes:
        """A site page made from the graph index (and ``inputs``, plain data), carried over from
        the last build while none of its lookups changed (see :mod:`sdwiki.reuse`)."""
        memo = self.memo
        if memo is None or self.facts.reads is None:
            return make()
        key = _key(inputs)
        known = self._known.get(path)
        last = memo.tracked.get(path)
        if known is not None and known.context_key == key and last is not None and last[0] == key:
            made[path] = known  # its lookups are on record already (see PageMemo.remember)
            return last[1]
        self.facts.reads.clear()
        data = make()
        memo.tracked[path] = (key, data)
        made[path] = Made(key, "", essential(self.facts.reads))
        return data

    def _render_once(self, template: str, page: str, ctx: Context) -> bytes:
        """:meth:`render`, except that with a :attr:`memo` a page whose context is as in the last
        build keeps its last bytes (pages listing the whole wiki take long to render)."""
        memo = self.memo
        if memo is None:
            return self.render(template, page, **ctx)
        key = _key(self.version, self.data.title, template, ctx)
        last = memo.site_pages.get(page)
        if last is not None and last[0] == key:
            return last[1]
        data = self.render(template, page, **ctx)
        memo.site_pages[page] = (key, data)
        return data

    # -- entity pages ---------------------------------------------------------------------
    def note_of(self, iri: URIRef) -> Note | None:
        path = self.project.registry.iri_note.get(iri)
        return self.project.corpus.notes[path] if path else None

    def entity_files(self, item: tuple[URIRef, str]) -> tuple[dict[str, Rendered], Made]:
        """An entity's page and its data files, each with its key (see :class:`Rendered`), and
        what they were made from. A page whose lookups give the same answers as last time
        (:attr:`memo`) keeps its context's key without working the context out again."""
        iri, page = item
        known = self._known.get(page)
        reads = self.facts.reads
        if reads is not None:
            reads.clear()
        note = self.note_of(iri)
        ctx: Context | None = None
        if known is None:
            ctx, _ = self.entity_context(iri, page)
            context_key = _key(ctx)
        else:
            context_key = known.context_key
        out: dict[str, Rendered] = {}
        body_key = ""
        if note is not None and known is not None and known.body_key and self._same_text(note):
            body_key = known.body_key
        elif note is not None:
            body_key = _key(self.body_inputs(note, page))
        key = _key(self.version, self.data.title, page, context_key, body_key)
        if self.reuse(page, key):
            out[page] = Rendered(key, None)
        else:
            if ctx is None:
                ctx, _ = self.entity_context(iri, page)
            if note is not None:
                ctx.update(self.note_body(note, page))
            out[page] = Rendered(key, self.render("entity.html", page, **ctx))
        names = _data_files(page)
        if known is not None and all(self.reuse(name, known.data_key) for name in names):
            data_key = known.data_key
            out.update({name: Rendered(data_key, None) for name in names})
        else:
            triples = self.entity_triples(iri)
            data_key = _key(self.version, "data", [self.nt(t) for triple in triples for t in triple])
            if all(self.reuse(name, data_key) for name in names):
                out.update({name: Rendered(data_key, None) for name in names})
            else:
                ttl, jsonld = self.entity_data(triples)
                out[names[0]] = Rendered(data_key, ttl)
                out[names[1]] = Rendered(data_key, jsonld)
        looked_up = essential(reads) if reads is not None and (ctx is not None or known is None) else None
        return out, Made(context_key, data_key, looked_up, body_key, key)

    def _first(self, out: dict[str, bytes | None], made: dict[str, Made]) -> None:
        """Make the pages of the notes in :attr:`first` before any other (they are in ``made``
        then), and hand the files that changed to its callback (``serve``: the saved note's page is
        shown while the rest is made)."""
        if self.first is None:
            return
        notes, show = self.first
        note_iri, pages = self.project.registry.note_iri, self.entity_pages
        shown: dict[str, bytes] = {}
        for path in sorted(notes):
            iri = note_iri.get(path)
            page = pages.get(iri) if iri is not None else None
            if iri is None or page is None:
                continue
            files, m = self.entity_files((iri, page))
            self._take(page, files, m, out, made)
            shown.update((name, rendered.data) for name, rendered in files.items() if rendered.data is not None)
        if shown:
            show(shown)

    def _take(
        self, page: str, files: dict[str, Rendered], m: Made, out: dict[str, bytes | None], made: dict[str, Made]
    ) -> None:
        """An entity's page and data files, as :meth:`entity_files` made them, into this build."""
        made[page] = m
        for path, rendered in files.items():
            self.keys[path] = rendered.key
            out[path] = rendered.data

    def _carry(
        self, items: list[tuple[URIRef, str]], out: dict[str, bytes | None], made: dict[str, Made]
    ) -> list[tuple[URIRef, str]]:
        """Keep each entity page and its data files as the last build made them, when nothing they
        show or list can have changed (what :meth:`entity_files` finds then, without its cost: a
        save carries over nearly every page); the items left to make."""
        known_pages = self._known
        change = self._change
        if not known_pages and self.live is None:
            return items
        # worked out (and kept) even when nothing is carried: serve's first save then need not
        embedding = self._embedding()
        pages = self.entity_pages
        data_files = self._derived("data files", pages, partial(_all_data_files, pages))
        if not known_pages:
            return items
        changed = change.paths if change is not None else None
        iri_note = self.project.registry.iri_note
        keep, keys = self.reuse_page, self.keys
        left: list[tuple[URIRef, str]] = []
        for item in items:  # ten thousand pages a save: the checks of _same_text, inlined
            iri, page = item
            known = known_pages.get(page)
            if known is None or not known.page_key:
                left.append(item)
                continue
            path = iri_note.get(iri)
            if path is None:
                same = not known.body_key
            else:
                same = bool(known.body_key) and changed is not None and path not in changed and path not in embedding
            names = data_files[page]
            data_key = known.data_key
            if not (same and keep(page, known.page_key, names, data_key)):
                left.append(item)
                continue
            keys[page] = known.page_key
            keys[names[0]] = keys[names[1]] = data_key
            out[page] = out[names[0]] = out[names[1]] = None
            made[page] = known  # its lookups are on record already (see PageMemo.remember)
        return left

    def _embedding(self) -> set[RelPath]:
        """The notes that embed something: brought up to date from the last build's where only
        notes whose graph changed can differ (a note's bytes changing, its graph is made anew)."""
        memo, change, notes = self.memo, self._change, self.project.corpus.notes
        if memo is None or memo.embedding is None or change is None:
            found = {path for path, note in notes.items() if _embeds(note)}
        else:
            found = set(memo.embedding)
            for path in change.paths:
                note = notes.get(path)
                if note is not None and _embeds(note):
                    found.add(path)
                else:
                    found.discard(path)
        self._embedding_now = found
        return found

    def _same_text(self, note: Note) -> bool:
        """Whether the note's text and links are as in the last build: its graph was not replaced,
        which the builder does whenever the note's bytes or a name it can link to change. A note
        that embeds others is never taken as unchanged (they may be not)."""
        change = self._change
        if change is None or note.path in change.paths:
            return False
        return not _embeds(note)

    def entity_context(self, iri: URIRef, page: str) -> tuple[Context, Note | None]:
        """What the entity page shows, but the note's own text (see :meth:`note_body`)."""
        f = self.facts
        kind = self.kind_of(iri)
        note = self.note_of(iri)
        ctx: Context = {
            "title": f.label(iri),
            "kind": kind,
            "kind_label": KIND_LABELS[kind],
            "iri": str(iri),
            "aliases": sorted({str(a) for a in f.objects(iri, SKOS.altLabel)}),
            "category": [self.link(c, page) for c in f.refs(iri, SD.category)],
            "tags": self.links(f.refs(iri, SD.tag), page),
            "source": note.path if note else None,
            "panels": self.panels(iri, kind, page),
            "definition_html": "",
            "prose": [],
            "backlinks": self.backlinks(iri, page),
            "related": self.related(iri, page),
            "local_graph": self.local_graph(iri, page),
            "jsonld": self.schema_org(iri, kind),
        }
        return ctx, note

    def body_inputs(self, note: Note, page: str) -> list[object]:
        """Everything the note's rendered text depends on besides the code: its bytes, its problem
        lines, where each of its links leads from this page, and the notes it embeds (transitively)."""
        linker = _PageLinker(self, page)
        out: list[object] = [note.digest, sorted(self.problem_lines(note))]
        todo, seen = [note], {note.path}
        while todo:
            current = todo.pop()
            for link in current.links:
                hit = linker.note(link.target, current.path) if link.target else None
                out.append((current.path, link.target, hit, None if hit else linker.attachment(link.target)))
                if hit is not None and link.embed and hit[0] not in seen:
                    seen.add(hit[0])
                    embedded = linker.note_by_path(hit[0])
                    out.append((embedded.path, embedded.digest, embedded.title))
                    todo.append(embedded)
        return out

    def problem_lines(self, note: Note) -> set[int]:
        """The lines of the note with a diagnostic (their sections stay prose, never panels)."""
        return {d.line for d in note.diagnostics} | {d.line for d in self.project.note_graphs[note.path].diagnostics}

    def note_body(self, note: Note, page: str) -> Context:
        """The definition, and the prose the panels do not show (understood sections become panels)."""
        linker = _PageLinker(self, page)
        text = note.text if note.text is not None else prerender(tokens_of(note))
        definition = ""
        prose: list[tuple[str, str]] = []
        problem_lines = self.problem_lines(note)
        note_sections = list(note.sections)
        if text.preamble is not None:
            prose.append(("", fill(text.preamble, text.marks, linker, note.path)))
        for i, (heading, html) in enumerate(text.sections):
            section = note_sections[i] if i < len(note_sections) else None
            mapping = self.project.ontology.section(heading)
            lines = {b.line for s in section.walk() for b in s.blocks} | {section.line} if section else set()
            troubled = bool(lines & problem_lines)
            if mapping is not None and mapping.prop == SKOS.definition and not troubled:
                definition = fill(html, text.marks, linker, note.path)
            elif mapping is None or troubled or not _has_panel(mapping):
                prose.append((heading, fill(html, text.marks, linker, note.path)))
        return {"definition_html": definition, "prose": prose}

    def panels(self, iri: URIRef, kind: str, page: str) -> list[Context]:
        f = self.facts
        out: list[Context] = []

        def panel(key: str, title: str, **data: Any) -> None:
            out.append({"key": key, "title": title, **data})

        if kind == "concept":
            contributions = {thinker: c for c in f.refs(iri, SD.contribution) for thinker in f.refs(c, SD.thinker)}
            coiners = set(f.refs(iri, SD.coinedBy))
            thinkers = []
            for t in f.refs(iri, SD.keyThinker):
                c = contributions.get(t)
                bits = [f.text(c, SD.role) or "", f.text(c, SD.year) or ""] if c else []
                thinkers.append(self.link(t, page, ", ".join(b for b in bits if b)))
            if thinkers:
                panel("thinkers", "Key thinkers", links=thinkers, coined=[self.link(t, page) for t in coiners])
            for m in f.refs(iri, SD.hasMechanism):
                steps = sorted(f.refs(m, SD.step), key=f.position)
                items = [self.step_link(s, page) for s in steps]
                labels = " ".join(x.label.casefold() for x in items)
                loops = any(w in labels for w in ("spiral", "cycle", "again", "even less", "even more"))
                panel("mechanism", "Core mechanism", steps=items, loops=loops)
            causes = sorted(f.refs(iri, SD.hasCause), key=f.position)
            if causes:
                panel(
                    "causes",
                    "Why it happens",
                    items=[self.step_link(c, page, SKOS.definition) for c in causes],
                )
            factors = []
            for fac in f.refs(iri, SD.hasSeverityFactor):
                who = [self.link(t, page) for t in f.refs(fac, SD.attributedTo)]
                conds = [Link(f.label(c), None, f.text(c, SD.effect) or "") for c in f.refs(fac, SD.condition)]
                factors.append({"label": f.label(fac), "by": who, "conditions": conds})
            if factors:
                panel("severity", "Severity factors", factors=factors)
            eras: dict[URIRef | None, list[URIRef]] = defaultdict(list)
            for ex in f.refs(iri, SD.hasExample):
                ex_eras: list[URIRef | None] = [*f.refs(ex, SD.era)] or [None]
                for era in ex_eras:
                    eras[era].append(ex)
            if eras:
                groups = [
                    {
                        "era": self.link(era, page) if era else Link("Other", None),
                        "examples": self.links(exs, page),
                    }
                    for era, exs in eras.items()
                ]
                panel("examples", "Historical examples", groups=groups)
            strategies = [
                {"strategy": self.link(s, page), "measures": self.links(f.refs(s, SD.measure), page)}
                for s in f.refs(iri, SD.mitigatedBy)
            ]
            if strategies:
                panel("strategies", "Mitigation strategies", strategies=strategies)
            limits = sorted(f.refs(iri, SD.hasLimitation), key=f.position)
            if limits:
                panel("limitations", "Limitations", items=[self.step_link(x, page) for x in limits])
            related = f.refs(iri, SKOS.related)
            if related:
                panel("related", "Related concepts", links=self.links(related, page))
        elif kind == "thinker":
            concepts = []
            for c in f.refs(iri, SD.keyThinkerOf):
                role = ""
                for contrib in f.refs(c, SD.contribution):
                    if iri in f.refs(contrib, SD.thinker):
                        role = ", ".join(x for x in (f.text(contrib, SD.role), f.text(contrib, SD.year)) if x)
                concepts.append(self.link(c, page, role))
            if concepts:
                panel("concepts", "Concepts", links=sorted(concepts, key=lambda x: x.label.casefold()))
            coined = [self.link(c, page, f.text(c, SD.coinedIn) or "") for c in f.refs(iri, SD.coined)]
            if coined:
                panel("coined", "Coined", links=coined)
        elif kind == "example":
            example_eras = f.refs(iri, SD.era)
            if example_eras:
                panel("era", "Era", links=self.links(example_eras, page))
            illustrated = f.refs(iri, SD.exampleOf)
            if illustrated:
                panel("illustrates", "Illustrates", links=self.links(illustrated, page))
        elif kind == "era":
            rows = [
                {"example": self.link(e, page), "concepts": self.links(f.refs(e, SD.exampleOf), page)}
                for e in sorted(f.refs(iri, SD.eraOf), key=lambda x: f.label(x).casefold())
            ]
            panel("era-examples", "Examples of this era", rows=rows)
        elif kind == "mitigation":
            panel("measures", "Measures", links=self.links(f.refs(iri, SD.measure), page))
            panel("mitigates", "Mitigates", links=self.links(f.refs(iri, SD.mitigates), page))
        elif kind in ("tag", "category"):
            prop = SD.tag if kind == "tag" else SD.category
            members = [m for m in f.subjects(prop, iri) if m in self.entity_pages]
            panel("members", f"Notes with this {kind}", links=self.links(members, page))
        works = self.works(iri, kind, page)
        if works:
            panel("works", "Works" if kind == "thinker" else "Further reading", works=works)
        return out

    def step_link(self, iri: URIRef, page: str, detail: Any = None) -> Link:
        target = next(iter(self.facts.refs(iri, SD.refersTo)), None)
        note = self.facts.text(iri, detail) if detail is not None else ""
        label = self.facts.label(iri)
        if target is not None and target in self.entity_pages:
            return Link(label, href(page, self.entity_pages[target]), note or "")
        return Link(label, None, note or "")

    def works(self, iri: URIRef, kind: str, page: str) -> list[Context]:
        f = self.facts
        if kind == "thinker":
            items = {w: None for w in [*f.refs(iri, FOAF.made), *f.subjects(DCTERMS.creator, iri)]}
        elif kind == "concept":
            items = {w: None for w in f.refs(iri, SD.furtherReading)}
        else:
            return []
        out = []
        for w in items:
            out.append(
                {
                    "title": f.text(w, DCTERMS.title) or f.label(w),
                    "year": f.text(w, DCTERMS.date) or "",
                    "authors": [self.link(a, page) for a in f.refs(w, DCTERMS.creator)],
                }
            )
        return sorted(out, key=lambda w: (w["year"], w["title"]))

    def backlinks(self, iri: URIRef, page: str) -> list[Context]:
        """Pages pointing here, grouped by the relation that makes them point here."""
        groups: dict[str, dict[str, Link]] = defaultdict(dict)
        for p, subjects in sorted(self.facts.incoming(iri).items()):
            if p in (RDF.type, SD.refersTo) or (p not in self.project.ontology.labels and p != SKOS.related):
                continue
            name = "linked from" if p == SD.linksTo else self.project.ontology.label(p)
            for s in subjects:
                if s in self.entity_pages and s != iri:
                    link = self.link(s, page)
                    groups[name][link.label] = link
        order = sorted(groups, key=lambda g: (g == "linked from", g))
        return [{"relation": g, "links": sorted(groups[g].values(), key=lambda x: x.label.casefold())} for g in order]

    def related(self, iri: URIRef, page: str) -> list[Link]:
        if self.data.related is None:
            return []
        out = []
        for other, score in self.data.related(str(iri))[:8]:
            ref = URIRef(other)
            if ref in self.entity_pages and ref != iri:
                out.append(self.link(ref, page, f"{score:.2f}"))
        return out

    def neighbours(self, iri: URIRef) -> list[URIRef]:
        seen: dict[URIRef, None] = {}
        for p, objs in self.facts.outgoing(iri).items():
            if p in (RDF.type, SD.tag, SD.category):
                continue
            for o in objs:
                if isinstance(o, URIRef) and o in self.entity_pages and o != iri:
                    seen[o] = None
        return sorted(seen, key=lambda x: self.facts.label(x).casefold())[:16]

    def local_graph(self, iri: URIRef, page: str) -> Context:
        """A small SVG of the page and its neighbours, laid out on a circle (works without JS)."""
        import math

        nbrs = self.neighbours(iri)
        n = max(len(nbrs), 1)
        nodes = []
        for i, o in enumerate(nbrs):
            angle = 2 * math.pi * i / n - math.pi / 2
            nodes.append(
                {
                    "x": round(160 + 120 * math.cos(angle), 1),
                    "y": round(160 + 120 * math.sin(angle), 1),
                    "label": self.facts.label(o),
                    "href": href(page, self.entity_pages[o]),
                    "kind": self.kind_of(o),
                }
            )
        return {"nodes": nodes, "label": self.facts.label(iri), "kind": self.kind_of(iri)}

    def schema_org(self, iri: URIRef, kind: str) -> Context:
        f = self.facts
        types = {"concept": "DefinedTerm", "thinker": "Person", "example": "Event"}
        data: Context = {
            "@context": "https://schema.org",
            "@type": types.get(kind, "Thing"),
            "@id": str(iri),
            "name": f.label(iri),
        }
        definition = f.text(iri, SKOS.definition) or f.text(iri, DCTERMS.description)
        if definition:
            data["description"] = definition
        alts = sorted({str(a) for a in f.objects(iri, SKOS.altLabel)})
        if alts:
            data["alternateName"] = alts
        works = self.works(iri, kind, "x/index.html")
        if works:
            key = "subjectOf"
            data[key] = [
                {
                    "@type": "CreativeWork",
                    "name": w["title"],
                    **({"datePublished": w["year"]} if w["year"] else {}),
                }
                for w in works
            ]
        return data

    def entity_triples(self, iri: URIRef) -> list[tuple[URIRef, URIRef, Any]]:
        """The page's own description: its triples and its parts'."""
        return [
            (s, p, o) for s in [iri, *self.parts_of(iri)] for p, objs in self.facts.outgoing(s).items() for o in objs
        ]

    def entity_data(self, triples: list[tuple[URIRef, URIRef, Any]]) -> tuple[bytes, bytes]:
        """The page's description in Turtle and JSON-LD."""
        from sdwiki.export import turtle_and_jsonld

        ttl, jsonld = turtle_and_jsonld(triples)
        return ttl.encode("utf-8"), jsonld.encode("utf-8")

    def nt(self, term: Any) -> str:
        text = self._nt.get(term)
        if text is None:
            text = self._nt[term] = nt_term(term)
        return text

    def parts_of(self, owner: URIRef) -> list[URIRef]:
        """The resources that belong to a page resource (IRIs under its own), sorted: the same
        order however the index was made."""
        return sorted(self.parts.get(owner, ())) if owner in self.entity_pages else []

    @cached_property
    def parts(self) -> dict[URIRef, set[URIRef]]:
        """For each resource, the resources whose IRIs are under its own (see :meth:`owner`)."""
        live = self.live
        found: dict[URIRef, set[URIRef]]
        carried = live.carry(live.parts) if live is not None else None
        if carried is not None:
            change, found = carried
            for s in change.subjects:
                owner = self.owner(s)
                if owner is not None:
                    if s in self.facts.out:
                        found.setdefault(owner, set()).add(s)
                    elif owner in found:
                        found[owner].discard(s)
        else:
            found = defaultdict(set)
            for s in self.facts.out:
                owner = self.owner(s)
                if owner is not None:
                    found[owner].add(s)
            found = dict(found)
        if live is not None:
            live.parts = (live.generation, found)
        return found

    def owner(self, s: URIRef) -> URIRef | None:
        """The resource ``s`` is a part of: a part's IRI is its owner's followed by "/...", and
        owners have two path segments."""
        text = str(s)
        rest = text[len(self.base) :] if text.startswith(self.base) else ""
        segments = rest.split("/")
        return URIRef(self.base + "/".join(segments[:2])) if len(segments) > 2 else None

    def owner_page(self, s: URIRef) -> str | None:
        owner = self.owner(s)
        return self.entity_pages.get(owner) if owner is not None else None

    # -- site pages -----------------------------------------------------------------------
    def index_page(self) -> bytes:
        page = "index.html"
        letters: dict[str, list[Link]] = defaultdict(list)
        by_category: dict[str, list[Link]] = defaultdict(list)
        counts: dict[str, int] = defaultdict(int)
        for iri, target in self.entity_pages.items():
            kind = target.split("/", 1)[0]
            counts[kind] += 1
            if kind not in ("concept", "thinker", "example"):
                continue
            link = Link(self.facts.label(iri), href(page, target), KIND_LABELS[kind])
            first = link.label[:1].upper()
            letters[first if first.isalpha() else "#"].append(link)
            for c in self.facts.refs(iri, SD.category):
                by_category[self.facts.label(c)].append(link)
        central = sorted(
            (i for i in self.entity_pages if self.kind_of(i) == "concept"),
            key=lambda i: (-self.data.centrality.get(str(i), 0.0), self.facts.label(i)),
        )[:10]
        return self._render_once(
            "index.html",
            page,
            dict(
                title=self.data.title,
                letters={k: sorted(v, key=lambda x: x.label.casefold()) for k, v in sorted(letters.items())},
                categories={k: sorted(v, key=lambda x: x.label.casefold()) for k, v in sorted(by_category.items())},
                central=[
                    self.link(i, page, f"{self.data.centrality[str(i)]:.3f}" if str(i) in self.data.centrality else "")
                    for i in central
                ],
                counts=dict(sorted(counts.items())),
                notes=len(self.project.corpus.notes),
            ),
        )

    def graph_json(self) -> bytes:
        nodes: list[dict[str, Any]] = []
        ids: dict[URIRef, int] = {}
        for iri, target in self.entity_pages.items():
            kind = target.split("/", 1)[0]
            if kind in ("tag", "category"):
                continue
            ids[iri] = len(nodes)
            x, y = self.data.layout.get(str(iri), _fallback_position(len(nodes)))
            nodes.append(
                {
                    "id": len(nodes),
                    "label": self.facts.label(iri),
                    "kind": kind,
                    "href": target,
                    "x": round(x, 4),
                    "y": round(y, 4),
                    "community": self.data.communities.get(str(iri), -1),
                }
            )
        edges = []
        literal_valued = self.project.ontology.datatype_props
        for s in ids:
            for p in self.facts.properties(s):
                # a page's text (a definition…) is not part of the graph: an edit to it changes nothing here
                objs = [] if p in literal_valued else self.facts.objects(s, p)
                if p in self.project.ontology.inverses and _is_inverse_side(p):
                    continue
                label = "links to" if p == SD.linksTo else self.project.ontology.label(p)
                for o in objs:
                    if isinstance(o, URIRef) and o in ids and o != s:
                        edges.append([ids[s], ids[o], label])
        edges.sort()
        return json.dumps({"nodes": nodes, "edges": edges}, ensure_ascii=False, separators=(",", ":")).encode()

    def sparql_page(self) -> bytes:
        page = "sparql/index.html"
        examples = [{"title": q.title, "description": q.description, "text": q.text} for q in self.data.queries]
        return self.render(
            "sparql.html", page, title="SPARQL", examples=examples, base=self.base, kinds=sorted(KIND_LABELS)
        )

    def queries_index(self) -> bytes:
        page = "queries/index.html"
        items = [Link(q.title, href(page, query_page(q)), q.description) for q in self.data.queries]
        return self.render("queries.html", page, title="Saved queries", items=items)

    def query_pages(self) -> dict[str, bytes]:
        """Each saved query's page, with its answer (:attr:`SiteInput.query_results`)."""
        return {query_page(q): self.query_page(q) for q in self.data.queries}

    def query_page(self, q: SavedQuery) -> bytes:
        page = query_page(q)
        variables, rows = self.data.query_results.get(q.slug, ((), []))
        fixed = [[Link(c.label, href(page, c.href) if c.href else None) for c in row] for row in rows]
        return self.render("query.html", page, title=q.title, query=q, variables=variables, rows=fixed, source=q.path)

    def quality_page(self) -> bytes:
        page = "quality/index.html"
        f = self.facts
        diags = sorted({*self.project.diagnostics})
        broken = [d for d in diags if d.code in ("broken-link", "broken-anchor")]
        concepts = [i for i in self.entity_pages if self.kind_of(i) == "concept"]
        no_thinker = [self.link(c, page) for c in concepts if not f.refs(c, SD.keyThinker)]
        no_definition = [self.link(c, page) for c in concepts if not f.has(c, SKOS.definition)]
        one_way = []
        for c in concepts:
            for o in f.refs(c, SKOS.related):
                if c not in f.refs(o, SKOS.related) and o in self.entity_pages:
                    one_way.append({"a": self.link(c, page), "b": self.link(o, page)})
        return self._render_once(
            "quality.html",
            page,
            dict(
                title="Data quality",
                broken=broken,
                other=[d for d in diags if d not in broken],
                no_thinker=no_thinker,
                no_definition=no_definition,
                one_way=one_way,
            ),
        )

    def sitemap(self, paths: Sequence[str]) -> bytes:
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
        ]
        for p in paths:
            loc = p[: -len("index.html")] if p.endswith("index.html") else p
            lines.append(f"  <url><loc>{markupsafe.escape(loc or './')}</loc></url>")
        lines.append("</urlset>")
        return ("\n".join(lines) + "\n").encode("utf-8")


def _graph_script(graph: bytes) -> bytes:
    """``data/graph.json`` as a script (the graph page works from ``file:`` addresses too)."""
    return b"window.SDWIKI_GRAPH = " + graph + b";\n"


def _embeds(note: Note) -> bool:
    """Whether the note embeds something (another note's text, which may change without it)."""
    return any(link.embed for link in note.links)


def _note_pages(registry: Registry) -> dict[RelPath, str]:
    """The page of each note that has one."""
    base = registry.base
    return {path: target for path, iri in registry.note_iri.items() if (target := page_path(iri, base))}


def _all_data_files(pages: dict[URIRef, str]) -> dict[str, tuple[str, str]]:
    """Each entity page's data files (see :func:`_data_files`)."""
    return {page: _data_files(page) for page in pages.values()}


def _data_files(page: str) -> tuple[str, str]:
    """An entity page's Turtle and JSON-LD files, beside it."""
    folder = page.rpartition("/")[0]
    return f"{folder}/data.ttl", f"{folder}/data.jsonld"


_PANEL_FORMS = {
    SD.EntityListForm,
    SD.LinkListForm,
    SD.LabelledListForm,
    SD.StepsForm,
    SD.GroupedForm,
    SD.ReadingListForm,
}


@dataclass(frozen=True, slots=True)
class Rendered:
    """A file of the site and the key of what it was made from; ``data`` is None when the previous
    build's file, made from the same key, is kept."""

    key: str
    data: bytes | None


def _key(*parts: object) -> str:
    """A digest of what a file is made from (``repr`` of plain data: strings, numbers, lists,
    dicts, tuples and frozen dataclasses, all of which repr the same in every process)."""
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _has_panel(mapping: SectionMapping) -> bool:
    return mapping.form in _PANEL_FORMS


def _is_inverse_side(p: URIRef) -> bool:
    """The generated direction of an inverse pair (drawn once, from the declared side)."""
    return str(p).endswith("Of") or p in (SD.mitigates, SD.coined, SD.readingFor, SD.linkedFrom, FOAF.made)


def _fallback_position(i: int) -> tuple[float, float]:
    import math

    angle = i * 2.399963  # golden angle: an even spiral when no layout was computed
    r = math.sqrt(i + 1) / 20
    return 0.5 + r * math.cos(angle), 0.5 + r * math.sin(angle)


def _by_page(pages: dict[URIRef, str]) -> dict[URIRef, str]:
    return dict(sorted(pages.items(), key=lambda kv: kv[1]))


def query_page(q: SavedQuery) -> str:
    """The output path of a saved query's page."""
    return f"queries/{q.slug}/index.html"


def read_queries(root: Path) -> tuple[list[SavedQuery], list[Diagnostic]]:
    """Saved queries: ``queries/*.rq`` under the content folder, with their title comments."""
    out: list[SavedQuery] = []
    problems: list[Diagnostic] = []
    folder = root / "queries"
    if not folder.is_dir():
        return out, problems
    for path in sorted(folder.glob("*.rq")):
        rel = RelPath(path.relative_to(root).as_posix())
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(make(rel, 0, 0, "unreadable-file", str(exc)))
            continue
        title, description = path.stem.replace("-", " ").capitalize(), ""
        for line in text.splitlines()[:5]:
            if line.lower().startswith("# title:"):
                title = line.split(":", 1)[1].strip()
            elif line.lower().startswith("# description:"):
                description = line.split(":", 1)[1].strip()
        out.append(SavedQuery(slugify(path.stem), title, description, text, rel))
    return out, problems
