"""``sdwiki build``: read, analyse, render and write the site."""

from __future__ import annotations

import contextlib
import gc
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from sdwiki import bundle, stamp
from sdwiki import search as site_search
from sdwiki.parallel import ForkedError, beside, default_jobs, fork_map
from sdwiki.resources import templates_dir
from sdwiki.settings import Settings
from sdwiki.timings import Timings
from sdwiki.types import RelPath
from sdwiki.write import (
    MANIFEST,
    Digesting,
    Previous,
    WriteError,
    Written,
    check_output,
    discard_unfinished,
    put_ahead,
    scan,
    update_site,
    write_site,
)

if TYPE_CHECKING:  # the rest is imported when there is work to do: "up to date" must be quick
    from rdflib import Dataset
    from rdflib.term import Node

    from sdwiki.analytics import Analysis, AnalysisMemo, Relatedness
    from sdwiki.diagnostics import Diagnostic
    from sdwiki.export import Spans as MergedSpans
    from sdwiki.extract import NoteGraph
    from sdwiki.facts import Change, LiveIndex, Read
    from sdwiki.graph import GraphText, LastText, Spans
    from sdwiki.notes import Note
    from sdwiki.pipeline import Extracted, Project
    from sdwiki.reuse import Merged, PageMemo
    from sdwiki.site import Link, SavedQuery, Site, SiteInput

_NAMES_GRAPHS = re.compile(r"\b(GRAPH|FROM)\b", re.IGNORECASE)
STATIC = ("style.css", "graph.js", "sparql.js", "site.js", "favicon.svg")
SCRATCH = "whole-graph"
"""Where the whole-graph files are written before they are copied into the site (in the cache folder)."""
WRITTEN = "written.pickle"
"""In :data:`SCRATCH`, for ``serve``: the identities of the Turtle and JSON-LD files written last,
where each subject is in them, and which measures they hold (see :attr:`Kept.measured`)."""


@contextlib.contextmanager
def long_lived() -> Iterator[None]:
    """Within, Python's collector leaves its oldest generation alone. A build makes millions of
    objects that live as long as it does (notes, note graphs, the graph index, pages); a full
    collection, started each time their number grows by a quarter, walks every one of them again
    (at 10,000 notes, more than half the time of indexing the graph). The young generations are
    still collected, and so are the garbage cycles they hold."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, 1 << 30)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)


class BuildError(Exception):
    """The build cannot start or cannot write its output."""


def cache_dir(output: Path) -> Path:
    """Where parsed notes are cached: beside the site, never inside the content folder."""
    return output.absolute().parent / f".{output.name}.sdwiki-cache"


@dataclass
class Kept:
    """What ``serve``'s builder keeps in memory from one build to the next."""

    text: dict[int, tuple[NoteGraph, list[str]]] = field(default_factory=dict)
    """Each note graph's triples as N-Quads lines (see :func:`sdwiki.graph.nquads_parts`)."""
    analysis: AnalysisMemo = field(default_factory=lambda: _analysis_memo())
    """The network analysis, and what its network was made from (see :func:`sdwiki.analytics.analyse`)."""
    measures: tuple[Analysis, NoteGraph] | None = None
    """The last analysis's measures, as their named graph."""
    pages: PageMemo | None = None
    """What each entity page was made from (see :mod:`sdwiki.reuse`)."""
    index: LiveIndex | None = None
    """The graph index, updated where notes changed."""
    unwritten: set[Node] | None = None
    """The subjects whose triples may have changed since the whole-graph Turtle and JSON-LD were
    last written whole (None: unknown, they are written afresh)."""
    measured: int = 0
    """Counts the analyses the measures were made from (the whole-graph files hold the measures)."""
    written: Written | None = None
    """The site's manifest as last updated in place, which is not written to disk then (None:
    read it from the site, see :class:`sdwiki.write.Previous`)."""
    keys: dict[str, str] | None = None
    """With :attr:`written`, the key of every page and data file of that site (what the cache
    folder's keys file holds after a build that replaced the site whole)."""
    digests: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    """The files the last update of the site was given as bytes, with the bytes and their digest."""
    related: tuple[Analysis, Relatedness] | None = None
    """The pages' related nodes, as worked out from an analysis (its neighbours indexed)."""


@dataclass
class Rendering:
    """Every file of the site, in memory."""

    files: dict[str, bytes | None]
    """By output path; None: keep the previous build's file (its inputs are the same), or, with
    :attr:`later`, a file still to be made."""
    copies: dict[str, Path]
    """Attachments and static files, by output path."""
    keys: dict[str, str]
    """The key of each entity page and data file (see :class:`sdwiki.site.Rendered`)."""
    measures: NoteGraph
    """The network measures, as their named graph."""
    later: Callable[[Callable[[], bool]], WholeGraph | None] | None = None
    """When the build was asked to show pages first: makes the files left for later (the saved
    queries' pages and the whole-graph files), which stay as the last build left them until then.
    Its argument says whether to stop: it is asked between steps, and a stop returns None."""
    later_files: tuple[str, ...] = ()
    """The files :attr:`later` makes."""
    carried: int = 0
    """Entity pages whose context was carried over from the last build without being worked out."""
    spans: tuple[Spans, MergedSpans] | None = None
    """Where each note's graph is in ``data/graph.nq``, and each subject in ``data/graph.ttl`` and
    ``data/graph.jsonld`` (None: the files are left for later)."""
    digests: dict[str, str] = field(default_factory=dict)
    """The digests of the copies written as they were made (see :class:`sdwiki.write.Digesting`)."""


Changes = tuple["Change", set["Read"]]
"""What changed since the last build's pages, and the lookups whose answers may differ."""

WholeGraph = tuple[dict[str, bytes], dict[str, Path]]
"""What follows from the whole graph: the saved queries' pages, and the whole-graph files (written
to the cache folder, to be copied into the site)."""

LATER = ("data/graph.nq", "data/graph.ttl", "data/graph.jsonld")
"""The whole-graph files (see :attr:`Rendering.later`), besides the saved queries' pages."""


def _analysis_memo() -> AnalysisMemo:
    from sdwiki.analytics import AnalysisMemo

    return AnalysisMemo()


def build_site(content: Path, output: Path, settings: Settings, *, search: bool = True) -> str:
    """Build the whole site; returns a one-line report."""
    return SiteBuilder(search=search)(content, output, settings)


class SiteBuilder:
    """Builds the site, keeping what it read between builds (``serve``'s watch mode).

    A rebuild re-reads only the note files whose size or modification time changed; everything
    after reading (links, graph, pages) is recomputed from the notes in memory, and only files
    whose bytes changed are written. With ``search="first"`` the search index is built on the
    first build and carried over afterwards (it catches up on the next full build).
    """

    def __init__(
        self,
        search: bool | str = True,
        timings: Timings | None = None,
        jobs: int | None = None,
        in_place: bool = False,
        pages_first: bool = False,
    ) -> None:
        self.search = search
        self.in_place = in_place
        """Update the site's files in place after the first build (``serve``'s private site)."""
        self.pages_first = pages_first
        """In place, write the pages first and leave the files that follow from the whole graph
        (the saved queries' pages, ``data/graph.*``) to :meth:`finish`: a saved note shows at once."""
        self.changed: tuple[str, ...] | None = None
        """The files the last build wrote or removed (None: it replaced the whole site)."""
        self._later: tuple[Path, Rendering, tuple[str, ...]] | None = None
        """What the last build left for later (see ``pages_first``): the site, the rendering, and
        the prefixes of the files the site keeps."""
        self.jobs = default_jobs() if jobs is None else jobs
        """Worker processes for reading and rendering (1: all in this process)."""
        self.kept = 0
        """Files of the last build kept from the one before without being made again."""
        self.timings = timings or Timings()
        self.builds = 0
        self.project: Project | None = None
        """The project of the last successful build."""
        self.measures: NoteGraph | None = None
        """The network measures of the last successful build, as their named graph."""
        self._notes: dict[RelPath, tuple[tuple[int, int], Note]] = {}
        self._extracted: Extracted | None = None  # made on the first build: importing it is not quick
        self._kept = Kept() if in_place else None
        self._listing: tuple[tuple[list[RelPath], list[RelPath], list[Diagnostic]], frozenset[RelPath]] | None = None
        """What the last build found in the content folder, and its notes (none when a symbolic
        link leads to one: a save then shows at another path than the note's)."""
        self._bundled: tuple[str, dict[RelPath, NoteGraph]] | None = None
        """The graphs bundle this builder started from (see :data:`sdwiki.bundle.GRAPHS`): its token
        and its graphs, as objects (an unchanged note keeps the bundle's graph object)."""
        self.carried = 0
        """Entity pages of the last build whose context was carried over without being worked out."""
        self.ahead: Callable[[tuple[str, ...]], None] | None = None
        """Told, on a save in place with ``pages_first``, the files of the saved notes' pages as
        soon as they are on disk, while the rest of the save is made (``serve``: open pages showing
        them reload at once)."""

    def __call__(self, content: Path, output: Path, settings: Settings, saved: Collection[Path] | None = None) -> str:
        """Build. ``saved``: the files saved since the last build, as a watcher of the content folder
        saw them (``serve``); when they are all notes the last build read, the folder is not listed
        again and no other note is looked at."""
        with long_lived():
            return self._build(content, output, settings, saved)

    def _build(self, content: Path, output: Path, settings: Settings, saved: Collection[Path] | None = None) -> str:
        start = time.perf_counter()
        self._later = None  # what an earlier build left for later: this build makes it again
        index = self.search is True or (self.search == "first" and self.builds == 0)
        cache = cache_dir(output)
        inputs: str | None = None
        private = self.in_place and self.builds > 0  # the site this builder made and alone updates
        try:
            site_files = check_output(output, content, files=not private)
        except WriteError as exc:
            raise BuildError(str(exc)) from exc
        code = stamp.code_digest()
        if self.project is None and content.is_dir():  # nothing in memory: maybe the site is made
            with self.timings.stage("check inputs"):
                inputs = stamp.input_digest(content, settings, index, code)
                last = stamp.read(cache)
                if last is not None and stamp.up_to_date(last, inputs, site_files):
                    return _report("up to date:", last.report, 0, time.perf_counter() - start)
        from sdwiki.pipeline import ContentError

        try:
            project, only = self._read(content, output, settings, code, saved)
        except ContentError as exc:
            raise BuildError(str(exc)) from exc
        kept = self._kept if private else None
        written, keys = (kept.written, kept.keys) if kept is not None else (None, None)
        if written is not None and keys is not None:
            previous = Previous(output, keys, trusted=True, known=written)
        else:
            previous = Previous(output, stamp.read_keys(cache), trusted=private)
        pages_first = self.pages_first and self.in_place and not index
        ahead: list[str] = []
        first = None
        if kept is not None and kept.written is not None and pages_first and only:
            first = (only, partial(self._put_ahead, output, kept.written, ahead))
        memo = None
        if self._kept is None:  # no builder memory: the analysis the last build left in the cache
            from sdwiki.analytics import read_memo

            memo = read_memo(cache / bundle.ANALYSIS, code)
        known = memo.key if memo is not None else None
        before = self._last_build(cache, code, project) if self._kept is None else None
        if memo is not None and before is not None:
            memo.signatures = before.signatures
        search = site_search.SearchIndex(cache / site_search.DOCS, cache / site_search.OUT) if index else None
        try:  # the search index, once begun, runs beside what follows
            made = render_files(
                project,
                settings,
                cache / SCRATCH,
                self.timings,
                self.jobs,
                previous,
                code,
                self._kept,
                pages_first,
                memo,
                partial(search.start, previous=output, digests=previous.manifest) if search is not None else None,
                before,
                first,
            )
            files, copies = made.files, made.copies
            self.kept = sum(data is None for data in files.values())
            keep = ("pagefind/",) if self.search == "first" and not index else ()
            try:
                with self.timings.stage("write"):
                    stamp.forget(cache)
                    (cache / bundle.PAGES).unlink(missing_ok=True)  # it describes the site now replaced
                    if self.in_place and not index:
                        record = kept is None  # serve's own site: the manifest stays in memory
                        digests = None
                        if kept is not None:  # whatever happens next, the site is not as they say
                            kept.written = kept.keys = None
                            # the whole-wiki pages, carried over as the same bytes: not read through again
                            digests = {rel: d for rel, (data, d) in kept.digests.items() if files.get(rel) is data}
                        report = update_site(
                            output, files, copies, keep=keep, previous=previous, record=record, known_digests=digests
                        )
                    else:
                        post = partial(self._search, search) if search is not None else None
                        report = write_site(
                            output,
                            files,
                            copies,
                            post=post,
                            keep=keep,
                            previous=previous,
                            own=LATER,
                            known_digests=made.digests,
                            meanwhile=True,  # the old site goes while the cache is written
                        )
                    counts = {
                        "files": report.files,
                        "notes": len(project.corpus.notes),
                        "errors": sum(d.severity == "error" for d in project.diagnostics),
                        "warnings": sum(d.severity == "warning" for d in project.diagnostics),
                    }
                    if self._kept is not None and report.manifest is not None:  # serve's site: kept in memory
                        self._kept.written, self._kept.keys = Written(report.manifest, _file_time(cache)), made.keys
                        self._kept.digests = _whole_wiki_digests(files, made.keys, report.manifest)
                    if kept is None:  # a site replaced whole (its manifest written): the keys go beside it
                        stamp.write_keys(cache, made.keys)
                    if memo is not None and memo.key != known:
                        from sdwiki.analytics import write_memo

                        write_memo(cache / bundle.ANALYSIS, code, memo)
                    if before is not None:
                        self._keep_record(cache, code, project, before.memo, made.spans, memo)
                    if inputs is not None:
                        found = report.scanned if report.scanned is not None else scan(output)
                        stamp.write(cache, stamp.Stamp(inputs, found, counts))
                    report.done()
            except (OSError, WriteError) as exc:
                raise BuildError(f"{output}: cannot write the site: {exc}") from exc
        finally:
            if search is not None:
                search.cancel()
        self.builds += 1
        self.project = project
        self.measures = made.measures
        self.carried = made.carried
        self.changed = (*ahead, *report.changed) if report.changed is not None else None
        if made.later is not None:
            self._later = (output, made, keep)
        return _report("built", counts, report.written, time.perf_counter() - start)

    @property
    def graph_text(self) -> GraphText | None:
        """The last build's note graphs as N-Quads lines (kept in place, ``in_place`` only)."""
        return self._kept.text if self._kept is not None else None

    def finish(self, stop: Callable[[], bool] | None = None, forked: bool = False) -> tuple[str, ...] | None:
        """Make and write what the last build left for later (see ``pages_first``); the files
        written or removed. ``stop`` is asked between the steps (a note saved meanwhile makes
        this work stale): if it says yes, nothing is written, the work stays to do, and the
        answer is None.

        ``forked`` does the work in a copy of this process (:func:`sdwiki.parallel.run_forked`),
        killed as soon as ``stop`` says yes: this process stays free for the next save, which
        need not wait for the step in progress (loading the graph, writing it out) to end."""
        later, self._later = self._later, None
        if later is None:
            return ()
        output, made, keep = later
        if forked and stop is not None:
            from sdwiki.parallel import run_forked  # looked up when called (tests put their own in)

            try:
                done = run_forked(partial(self._write_later, output, made, keep, lambda: False), stop)
            except ForkedError as exc:
                raise BuildError(f"the whole-graph files could not be made: {exc}") from exc
            finally:
                discard_unfinished(output, made.later_files)
        else:
            done = self._write_later(output, made, keep, stop or (lambda: False))
        kept = self._kept
        if done is None:
            self._later = later
            if kept is not None and kept.written is not None:  # they may be half written: make them again
                unknown = dict.fromkeys((p for p in made.later_files if p in kept.written.manifest), "")
                kept.written = replace(kept.written, manifest={**kept.written.manifest, **unknown})
            return None
        if kept is not None:  # the whole-graph files are as the last build's notes say
            kept.unwritten = set()
            if kept.written is not None:
                kept.written = done[1]
        return done[0]

    def _write_later(
        self, output: Path, made: Rendering, keep: tuple[str, ...], stop: Callable[[], bool]
    ) -> tuple[tuple[str, ...], Written | None] | None:
        """The files written or removed, and the site's manifest now (see :class:`Kept`)."""
        assert made.later is not None
        files: dict[str, bytes | None] = dict.fromkeys(made.files)
        copies: dict[str, Path | None] = dict.fromkeys(made.copies)
        more = made.later(stop)
        if more is None or stop():
            return None
        files.update(more[0])
        copies.update(more[1])  # over the files kept until now, listed in ``files`` as None
        written = self._kept.written if self._kept is not None else None
        previous = Previous(output, trusted=True, known=written) if written is not None else None
        try:
            with self.timings.stage("write"):
                report = update_site(
                    output, files, copies, keep=keep, previous=previous, own=LATER, known_digests=made.digests
                )
                at = (output / MANIFEST).stat().st_mtime_ns
        except (OSError, WriteError) as exc:
            raise BuildError(f"{output}: cannot write the site: {exc}") from exc
        return report.changed or (), Written(report.manifest, at) if report.manifest is not None else None

    def _put_ahead(self, output: Path, written: Written, ahead: list[str], files: dict[str, bytes]) -> None:
        """Put the saved notes' files on disk ahead of the rest (see :attr:`ahead`)."""
        try:
            shown = put_ahead(output, files, written)
        except OSError as exc:
            raise BuildError(f"{output}: cannot write the site: {exc}") from exc
        ahead.extend(shown)
        if shown and self.ahead is not None:
            self.ahead(shown)

    def _search(self, search: site_search.SearchIndex, folder: Path) -> None:
        with self.timings.stage("search index"):
            search.place(folder)

    def _read(
        self, content: Path, output: Path, settings: Settings, code: str, saved: Collection[Path] | None = None
    ) -> tuple[Project, set[RelPath] | None]:
        """The project, and the notes among the ``saved`` files when they alone were looked at
        (see :func:`_saved_notes`; None: the content folder was listed again)."""
        from sdwiki.notes import discover
        from sdwiki.pipeline import ContentError, Extracted, analyse

        if not content.is_dir():
            raise ContentError(f"{content}: content folder not found")
        cache = cache_dir(output)
        with self.timings.stage("read"):
            listing, self._listing = self._listing, None
            only = _saved_notes(content, saved, listing[1]) if listing is not None and saved else None
            if listing is not None and only is not None:
                paths, attachments, problems = listing[0]
            else:
                links: list[RelPath] = []
                paths, attachments, problems = discover(content, links)
                listing = ((paths, attachments, problems), frozenset(paths) if not links else frozenset())
            notes = self._read_notes(content, cache, paths, code, only)
            self._listing = listing
        with self.timings.stage("link + extract"):
            first, usable = self._extracted is None, False
            token = ""
            if self._extracted is None:  # nothing in memory: the graphs the last build left, if any
                found = bundle.read(cache / bundle.GRAPHS, code)
                self._extracted = Extracted()
                if isinstance(found, tuple) and len(found) == 3:
                    usable = True
                    self._extracted.names, self._extracted.graphs, token = found
            loaded = {p: graph for p, (_, graph) in self._extracted.graphs.items()} if first else {}
            notes_read = [n for _, n in notes.values()]
            project = analyse(notes_read, attachments, problems, content, settings.base_iri, self._extracted)
            if first:
                self._bundled = (token, loaded) if usable else None
                made = sum(loaded.get(p) is not graph for p, (_, graph) in self._extracted.graphs.items())
                if bundle.worth_writing(usable, made, len(project.note_graphs)):
                    token = secrets.token_hex(16)
                    kept = (self._extracted.names, self._extracted.graphs, token)
                    if bundle.write(cache / bundle.GRAPHS, code, kept):
                        self._bundled = (token, dict(project.note_graphs))
            return project, only

    def _last_build(self, cache: Path, code: str, project: Project) -> LastBuild:
        """What the last command-line build left of its pages and graph file (see
        :class:`sdwiki.reuse.Record`), with what changed since: the notes whose graph is another,
        and the lookups whose answers may differ. (An empty memo when there is no such record.)"""
        from sdwiki.facts import Change
        from sdwiki.graph import LastText
        from sdwiki.reuse import PageMemo, Record, graph_reads

        found = bundle.read(cache / bundle.PAGES, code) if self._bundled is not None else None
        if self._bundled is None or not isinstance(found, Record) or found.base != self._bundled[0]:
            return LastBuild(PageMemo())
        record, bundled = found, self._bundled[1]
        graphs = project.note_graphs
        paths: set[RelPath] = set()
        reads: set[Read] = set()
        for path in graphs.keys() | bundled.keys() | record.graphs.keys():
            before, after = record.last_graph(path, bundled), graphs.get(path)
            if before is not after:
                paths.add(path)
                reads |= graph_reads(before, after)
        subjects = {node for forward, node, _ in reads if forward}
        objects = {node for forward, node, _ in reads if not forward}
        text: LastText | None = None
        named = cache / SCRATCH / "graph.nq"
        if record.nquads is not None and _identity(named) == record.nquads[0]:
            text = LastText(named, record.nquads[1], lambda g: record.last_graph(g.path, bundled) is g)
        signatures = {
            id(g): (g, record.signatures[p]) for p, g in graphs.items() if p not in paths and p in record.signatures
        }
        changes = (Change(frozenset(paths), subjects, objects), reads)
        return LastBuild(record.memo, changes, text, record.merged, signatures)

    def _keep_record(
        self,
        cache: Path,
        code: str,
        project: Project,
        memo: PageMemo,
        spans: tuple[Spans, MergedSpans] | None,
        analysis: AnalysisMemo | None,
    ) -> None:
        """Leave this build's page memo and graph file for the next command-line build (see :meth:`_last_build`)."""
        from sdwiki.reuse import Record

        if self._bundled is None:
            return
        token, bundled = self._bundled
        graphs = project.note_graphs
        delta: dict[RelPath, NoteGraph | None] = {p: g for p, g in graphs.items() if bundled.get(p) is not g}
        delta.update({p: None for p in bundled.keys() - graphs.keys()})
        scratch = cache / SCRATCH
        named, ttl, jsonld = (_identity(scratch / name) for name in ("graph.nq", "graph.ttl", "graph.jsonld"))
        nquads = (named, spans[0]) if named is not None and spans is not None else None
        measured = analysis.key if analysis is not None else ""
        merged = ((ttl, jsonld), spans[1], measured) if ttl and jsonld and spans is not None and measured else None
        signatures = {g.path: sig for g, sig in analysis.signatures.values()} if analysis is not None else {}
        memo = replace(memo, facts=None, derived={})
        bundle.write(cache / bundle.PAGES, code, Record(token, delta, memo, nquads, merged, signatures))

    def _read_notes(
        self, content: Path, cache: Path, paths: list[RelPath], code: str, only: Collection[RelPath] | None = None
    ) -> dict[RelPath, tuple[tuple[int, int], Note]]:
        """Every note, read again only where its file's size or modification time changed (kept
        in memory between builds); on a builder's first build, the notes the last build left in
        the cache folder (:data:`sdwiki.bundle.NOTES`) are taken where the file holds the same bytes.
        With ``only``, the other notes are taken as they are in memory without a look at their files."""
        from sdwiki.notes import read_note, still_holds

        first = not self._notes
        notes: dict[RelPath, tuple[tuple[int, int], Note]] = {}
        marks: dict[RelPath, tuple[int, int]] = {}
        root = str(content)
        told = only is not None and not first  # the other notes are as they are in memory
        if told:
            notes = dict(self._notes)
        for rel in only if only is not None and told else paths:
            try:
                st = os.stat(f"{root}/{rel}")
                mark = (st.st_mtime_ns, st.st_size)
            except OSError:
                mark = (-1, -1)
            known = self._notes.get(rel)
            if known is not None and known[0] == mark and mark[0] >= 0:
                notes[rel] = known
            else:
                marks[rel] = mark
        stored = bundle.read(cache / bundle.NOTES, code) if first and marks else None
        if isinstance(stored, dict):
            for rel in list(marks):
                note = stored.get(rel)
                if note is not None and still_holds(content, rel, note):
                    notes[rel] = (marks.pop(rel), note)
        fresh = fork_map(lambda rel: read_note(content, rel, cache), list(marks), self.jobs)
        for rel, note in zip(marks, fresh, strict=True):
            notes[rel] = (marks[rel], note)
        self._notes = notes if told else {rel: notes[rel] for rel in paths}
        if first and bundle.worth_writing(isinstance(stored, dict), len(marks), len(paths)):
            bundle.write(
                cache / bundle.NOTES, code, {rel: note for rel, (_, note) in self._notes.items() if note.digest}
            )
        return self._notes


def _saved_notes(content: Path, saved: Collection[Path], notes: frozenset[RelPath]) -> set[RelPath] | None:
    """The notes among the ``saved`` files, when every one is a file (not a link) among ``notes``,
    or hidden (never part of the content); else None: the folder must be listed again."""
    root = content.resolve()
    found: set[RelPath] = set()
    for path in saved:
        try:
            parts = path.absolute().relative_to(root).parts
        except ValueError:
            try:
                parts = path.resolve().relative_to(root).parts
            except (ValueError, OSError):
                return None
        if any(part.startswith(".") for part in parts):
            continue
        rel = RelPath("/".join(parts))
        if rel not in notes or os.path.islink(path) or not os.path.isfile(path):
            return None
        found.add(rel)
    return found


def _whole_wiki_digests(
    files: Mapping[str, bytes | None], keys: Mapping[str, str], manifest: Mapping[str, str]
) -> dict[str, tuple[bytes, str]]:
    """The digests of the pages written that the next build may carry over as the same bytes
    (the whole-wiki pages: entity pages and their data files are carried over by their keys),
    with those bytes (see :attr:`Kept.digests`)."""
    return {rel: (data, manifest[rel]) for rel, data in files.items() if data is not None and rel not in keys}


def _file_time(cache: Path) -> int:
    """Now, on the clock file times are taken from: the time of a file touched in ``cache``."""
    marker = cache / SCRATCH / "written"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return marker.stat().st_mtime_ns


@dataclass
class LastBuild:
    """What a command-line build takes over from the last one (see :meth:`SiteBuilder._last_build`)."""

    memo: PageMemo
    """What each entity page was made from (updated to this build's as its pages are made)."""
    changes: Changes | None = None
    """What changed since (None: anything may have)."""
    text: LastText | None = None
    """The named graphs as the last build wrote them."""
    merged: Merged | None = None
    """The whole-graph Turtle and JSON-LD files as the last build wrote them (see :class:`sdwiki.reuse.Record`)."""
    signatures: dict[int, tuple[NoteGraph, str]] = field(default_factory=dict)
    """The network signature of each note graph the last build had too (see :class:`sdwiki.analytics.AnalysisMemo`)."""


def _identity(path: Path) -> tuple[int, int, int] | None:
    """A file's inode, size and modification time (None: no such file)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _report(verb: str, counts: dict[str, int], written: int, took: float) -> str:
    return (
        f"{verb} {counts['files']} files ({written} changed) from {counts['notes']} notes "
        f"in {took:.2f}s: {counts['errors']} errors, {counts['warnings']} warnings (sdwiki check for details)"
    )


def render_files(
    project: Project,
    settings: Settings,
    scratch: Path,
    timings: Timings | None = None,
    jobs: int = 1,
    previous: Previous | None = None,
    code: str = "",
    kept: Kept | None = None,
    pages_first: bool = False,
    memo: AnalysisMemo | None = None,
    pages_made: Callable[[Mapping[str, bytes | None]], None] | None = None,
    last: LastBuild | None = None,
    first: tuple[Collection[RelPath], Callable[[dict[str, bytes]], None]] | None = None,
) -> Rendering:
    """Every file of the site (see :class:`Rendering`). ``code`` (:func:`sdwiki.stamp.code_digest`)
    is part of every page's key; ``kept`` is what ``serve``'s builder keeps between builds. With
    ``pages_first``, the files that only follow from the whole graph are left to
    :attr:`Rendering.later` when the ``previous`` site has them. The whole-graph files are
    written into ``scratch`` and copied from there. ``pages_made`` is given the files as soon as
    the pages are made (the search index starts from them while the rest is made). ``last``: without
    ``kept``, what the last build left (see :meth:`SiteBuilder._last_build`). ``first``: the notes
    whose pages are made before any other, and what is given those files (see :attr:`Site.first`)."""
    from sdwiki.analytics import analyse
    from sdwiki.export import LastFiles, write_merged
    from sdwiki.facts import LiveIndex
    from sdwiki.graph import keep_text, load_files_until, write_nquads
    from sdwiki.pipeline import analytics_graph
    from sdwiki.reuse import PageMemo
    from sdwiki.site import Site, SiteInput, query_page, read_queries

    t = timings or Timings()
    queries, _ = read_queries(project.root)
    with t.stage("analytics"):
        analysis = analyse(project, kept.analysis if kept is not None else memo)
        if kept is not None and kept.measures is not None and kept.measures[0] is analysis:
            measures = kept.measures[1]
        else:
            measures = analytics_graph(project, analysis)
            if kept is not None:
                kept.measures = (analysis, measures)
                kept.measured += 1
        data = _with_analytics(SiteInput(project=project, title=settings.title, queries=tuple(queries)), analysis, kept)
    with t.stage("facts index"):
        live = None
        if kept is not None:
            kept.pages = kept.pages or PageMemo()
            live = kept.index = kept.index or LiveIndex()
            live.update(project.note_graphs, record=True, since=project.graphs_since)
            if kept.unwritten is not None and live.change is not None:
                kept.unwritten |= live.change.subjects
            else:
                kept.unwritten = None
        site = Site(data, kept.pages if kept is not None else last.memo if last is not None else None, live)
        site.analysis = analysis
        if kept is None and last is not None:  # no analysis object to compare: the key of its network
            site.analysis = memo.key if memo is not None and memo.analysis is analysis else None
            site.changes = last.changes
        if previous is not None:
            site.reuse = previous.reuser()
            site.reuse_page = previous.page_reuser()
            site.version = code
    site.first = first
    files = site.build(t, jobs)  # the saved queries' pages are left as None: their tables come below
    graphs = [*project.ordered_graphs(), measures]
    spans: Spans = {}
    merged: MergedSpans = {}
    digests: dict[str, str] = {}
    unwritten = set(kept.unwritten) if kept is not None and kept.unwritten is not None else None
    measured = kept.measured if kept is not None else 0
    # the named graphs only: the default graph is their merge, which a store makes on loading
    # (the in-browser editor does), and written out it would double the file
    named, triples = scratch / "graph.nq", scratch / "triples.nt"
    scratch.mkdir(parents=True, exist_ok=True)

    def write_named() -> tuple[Spans, str]:
        """The N-Quads file (and, for the saved queries, the triples as N-Triples): where each
        note's graph went in it, and its digest."""
        fresh = scratch / "graph.nq.new"  # the last build's file is read meanwhile
        with fresh.open("wb") as f, _opened(triples if queries else None) as triples_out:
            quads_out = Digesting(f)
            known = kept.text if kept is not None else None
            written = write_nquads(graphs, quads_out, triples_out, known, last.text if last else None)
        os.replace(fresh, named)
        return written, quads_out.digest()

    # the command line writes the N-Quads of a large wiki in a copy of this process, forked before
    # the search index's threads start (no copy is made while another thread runs), and meanwhile
    # goes on with the search index, the Turtle and the JSON-LD; serve's follow-up work, which a
    # newer save may kill, writes it in turn
    in_copy = kept is None and not pages_first
    named_written = beside(write_named, jobs, len(project.note_graphs)) if in_copy else write_named
    merged_first = named_written is not write_named  # written here while the copy writes the N-Quads
    if pages_made is not None:
        pages_made(files)
    if kept is not None:  # here, not in the work left for later: that may run in a copy of this process
        with t.stage("graph files"):
            keep_text(graphs, kept.text)

    def whole_graph(stop: Callable[[], bool] = lambda: False) -> WholeGraph | None:
        merged_files: dict[str, Path] = {}
        if merged_first:
            with t.stage("graph files"):
                merged_files = write_turtle_and_jsonld()
        with t.stage("graph files"):
            try:
                written, digests["data/graph.nq"] = named_written()
            except ForkedError as exc:  # written in a copy, which failed (here it would raise as it did there)
                raise BuildError(f"the whole-graph files could not be made: {exc}") from exc
            spans.update(written)
        if stop():
            return None
        if queries:
            with t.stage("saved queries"):
                # queries that never name a graph see only the default graph: half the quads to load
                sources = [(named, "nq")] if any(_NAMES_GRAPHS.search(q.text) for q in queries) else []
                ds = load_files_until([*sources, (triples, "nt")], stop)
                triples.unlink(missing_ok=True)  # the store holds each of its triples once
                if ds is None or stop():
                    return None
                data.query_results.update(_query_results(ds, site, queries))
        pages = site.query_pages()
        if not merged_first:
            with t.stage("graph files"):
                merged_files = write_turtle_and_jsonld()
        return pages, {"data/graph.nq": named, **merged_files}

    def write_turtle_and_jsonld() -> dict[str, Path]:
        """The whole graph as Turtle and JSON-LD (:func:`sdwiki.export.write_merged`)."""
        ttl, jsonld = scratch / "graph.ttl", scratch / "graph.jsonld"
        fresh_ttl, fresh_jsonld = scratch / "graph.ttl.new", scratch / "graph.jsonld.new"
        with fresh_ttl.open("wb") as f, fresh_jsonld.open("wb") as g:
            ttl_out, jsonld_out = Digesting(f), Digesting(g)
            merged.update(write_merged(site.facts.out, measures.triples, ttl_out, jsonld_out, _last_files()))
        os.replace(fresh_ttl, ttl)
        os.replace(fresh_jsonld, jsonld)
        if kept is not None:  # for the next follow-up work, which may run in another copy of this process
            bundle.write(scratch / WRITTEN, code, ((_identity(ttl), _identity(jsonld)), merged, measured))
        digests["data/graph.ttl"], digests["data/graph.jsonld"] = ttl_out.digest(), jsonld_out.digest()
        return {"data/graph.ttl": ttl, "data/graph.jsonld": jsonld}

    def _last_files() -> LastFiles | None:
        """The last whole-graph Turtle and JSON-LD, if made from the same measures (and what
        changed since): the last command-line build's, or in ``serve`` the last ones written."""
        ttl, jsonld = scratch / "graph.ttl", scratch / "graph.jsonld"
        if kept is not None:
            found = bundle.read(scratch / WRITTEN, code) if unwritten is not None else None
            if not isinstance(found, tuple) or found[2] != measured:
                return None
            files, spans_then, changed = found[0], found[1], unwritten
        elif last is not None and last.merged is not None and last.changes is not None and memo is not None:
            files, spans_then, key = last.merged
            if memo.analysis is not analysis or key != memo.key:
                return None
            changed = set(last.changes[0].subjects)
        else:
            return None
        if (_identity(ttl), _identity(jsonld)) != files or changed is None:
            return None
        return LastFiles(ttl, jsonld, spans_then, changed)

    later = [*LATER, *(query_page(q) for q in queries)]
    wait = pages_first and previous is not None and all(p in previous.manifest for p in later)
    copies: dict[str, Path] = {}
    if wait:
        files.update(dict.fromkeys(LATER))
    else:
        made = whole_graph()
        assert made is not None  # nothing stops it
        files.update(made[0])
        copies.update(made[1])
        if kept is not None:
            kept.unwritten = set()
    tdir = templates_dir()
    for name in STATIC:
        copies[f"assets/{name}"] = tdir / name
    for vendored in sorted((tdir / "vendor").rglob("*")):
        if vendored.is_file():
            copies[f"assets/vendor/{vendored.relative_to(tdir / 'vendor').as_posix()}"] = vendored
    for attachment in project.attachments:
        copies[site.attachment_path(attachment)] = project.root / attachment
    carried = site.memo.carried if site.memo is not None else 0
    later_files = tuple(later) if wait else ()
    spans_made = None if wait else (spans, merged)
    later_made = whole_graph if wait else None
    return Rendering(files, copies, site.keys, measures, later_made, later_files, carried, spans_made, digests)


@contextlib.contextmanager
def _opened(path: Path | None) -> Iterator[BinaryIO | None]:
    """``path`` opened to be written (None: nothing to write)."""
    if path is None:
        yield None
        return
    with path.open("wb") as f:
        yield f


def _with_analytics(data: SiteInput, analysis: Analysis, kept: Kept | None = None) -> SiteInput:
    from sdwiki.analytics import Relatedness

    if kept is not None and kept.related is not None and kept.related[0] is analysis:
        related = kept.related[1]
    else:
        related = Relatedness(analysis.neighbours, analysis.kinds)  # made once: every entity page asks
        if kept is not None:
            kept.related = (analysis, related)
    return replace(
        data,
        centrality=dict(analysis.pagerank),
        communities=dict(analysis.community_of),
        layout=dict(analysis.layout),
        related=lambda iri: related(iri, 8, kind=analysis.kinds.get(iri)),
    )


QueryTable = tuple[tuple[str, ...], list[list["Link"]]]


def _query_results(ds: Dataset, site: Site, queries: list[SavedQuery]) -> dict[str, QueryTable]:
    """Each saved query's answer, for its page (readable with JavaScript off)."""
    from rdflib import URIRef

    from sdwiki.query import QueryError, solutions
    from sdwiki.site import Link

    out: dict[str, QueryTable] = {}
    for q in queries:
        try:
            variables, found = solutions(ds, q.text, limit=1000)
        except QueryError as exc:
            print(f"{q.path}:{exc.line}:{exc.column}: error bad-query: {exc.message}", file=sys.stderr)
            continue
        rows = []
        for row in found:
            cells = []
            for term in row:
                if isinstance(term, URIRef):
                    cells.append(Link(site.facts.label(term), site.entity_pages.get(term)))
                else:
                    cells.append(Link("" if term is None else term, None))
            rows.append(cells)
        out[q.slug] = (variables, rows)
    return out
