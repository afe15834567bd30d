"""``sdwiki build``: read, analyse, render and write the site."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from rdflib import Dataset, URIRef

from sdwiki.analytics import Analysis
from sdwiki.notes import Note, discover, read_note
from sdwiki.pipeline import ContentError, Project, analyse
from sdwiki.resources import templates_dir
from sdwiki.settings import Settings
from sdwiki.site import Link, SavedQuery, Site, SiteInput, read_queries
from sdwiki.types import RelPath
from sdwiki.write import WriteError, check_output, write_site

STATIC = ("style.css", "graph.js", "sparql.js", "site.js", "favicon.svg")


class BuildError(Exception):
    """The build cannot start or cannot write its output."""


def cache_dir(output: Path) -> Path:
    """Where parsed notes are cached: beside the site, never inside the content folder."""
    return output.absolute().parent / f".{output.name}.sdwiki-cache"


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

    def __init__(self, search: bool | str = True) -> None:
        self.search = search
        self.builds = 0
        self.project: Project | None = None
        """The project of the last successful build."""
        self._notes: dict[RelPath, tuple[tuple[int, int], Note]] = {}

    def __call__(self, content: Path, output: Path, settings: Settings) -> str:
        start = time.perf_counter()
        try:
            check_output(output, content)
            project = self._read(content, output, settings)
        except (ContentError, WriteError) as exc:
            raise BuildError(str(exc)) from exc
        files, copies = render_files(project, settings)
        index = self.search is True or (self.search == "first" and self.builds == 0)
        keep = ("pagefind/",) if self.search == "first" and not index else ()
        try:
            report = write_site(output, files, copies, post=index_search if index else None, keep=keep)
        except (OSError, WriteError) as exc:
            raise BuildError(f"{output}: cannot write the site: {exc}") from exc
        self.builds += 1
        self.project = project
        errors = sum(d.severity == "error" for d in project.diagnostics)
        warnings = sum(d.severity == "warning" for d in project.diagnostics)
        took = time.perf_counter() - start
        return (
            f"built {report.files} files ({report.written} changed) from {len(project.corpus.notes)} notes "
            f"in {took:.2f}s: {errors} errors, {warnings} warnings (sdwiki check for details)"
        )

    def _read(self, content: Path, output: Path, settings: Settings) -> Project:
        if not content.is_dir():
            raise ContentError(f"{content}: content folder not found")
        paths, attachments, problems = discover(content)
        notes: dict[RelPath, tuple[tuple[int, int], Note]] = {}
        for rel in paths:
            try:
                st = os.stat(content / rel)
                stamp = (st.st_mtime_ns, st.st_size)
            except OSError:
                stamp = (-1, -1)
            known = self._notes.get(rel)
            if known is not None and known[0] == stamp and stamp[0] >= 0:
                notes[rel] = known
            else:
                notes[rel] = (stamp, read_note(content, rel, cache_dir(output)))
        self._notes = notes
        return analyse([n for _, n in notes.values()], attachments, problems, content, settings.base_iri)


def render_files(project: Project, settings: Settings) -> tuple[dict[str, bytes], dict[str, Path]]:
    """Every file of the site, in memory (and the attachments and static files to copy)."""
    from sdwiki.analytics import analyse
    from sdwiki.export import export
    from sdwiki.graph import load_nquads, nquads
    from sdwiki.pipeline import analytics_graph

    queries, _ = read_queries(project.root)
    analysis = analyse(project)
    measures = analytics_graph(project, analysis)
    graphs = project.ordered_graphs()
    all_quads = nquads([*graphs, measures], with_default=True)
    data = _with_analytics(SiteInput(project=project, title=settings.title, queries=tuple(queries)), analysis)
    site = Site(data)
    data.query_results.update(_query_results(load_nquads(all_quads), site, queries))
    files = site.build()
    files["data/graph.nq"] = all_quads.encode("utf-8")
    files["data/graph.ttl"] = export(graphs, "ttl").encode("utf-8")
    files["data/graph.jsonld"] = export(graphs, "jsonld").encode("utf-8")
    copies: dict[str, Path] = {}
    tdir = templates_dir()
    for name in STATIC:
        copies[f"assets/{name}"] = tdir / name
    for vendored in sorted((tdir / "vendor").rglob("*")):
        if vendored.is_file():
            copies[f"assets/vendor/{vendored.relative_to(tdir / 'vendor').as_posix()}"] = vendored
    for attachment in project.attachments:
        copies[site.attachment_path(attachment)] = project.root / attachment
    return files, copies


def _with_analytics(data: SiteInput, analysis: Analysis) -> SiteInput:
    return replace(
        data,
        centrality=dict(analysis.pagerank),
        communities=dict(analysis.community_of),
        layout=dict(analysis.layout),
        related=lambda iri: list(analysis.related(iri, 8, kind=analysis.kinds.get(iri))),
    )


QueryTable = tuple[tuple[str, ...], list[list[Link]]]


def _query_results(ds: Dataset, site: Site, queries: list[SavedQuery]) -> dict[str, QueryTable]:
    """Each saved query's answer, for its page (readable with JavaScript off)."""
    from sdwiki.query import QueryError, run

    out: dict[str, QueryTable] = {}
    for q in queries:
        try:
            answer = run(ds, q.text, limit=1000)
        except QueryError as exc:
            print(f"{q.path}:{exc.line}:{exc.column}: error bad-query: {exc.message}", file=sys.stderr)
            continue
        rows = []
        for row in answer.rows:
            cells = []
            for term in row:
                if isinstance(term, URIRef):
                    cells.append(Link(site.facts.label(term), site.entity_pages.get(term)))
                else:
                    cells.append(Link("" if term is None else str(term), None))
            rows.append(cells)
        out[q.slug] = (answer.variables, rows)
    return out


def index_search(folder: Path) -> None:
    """Build the Pagefind full-text index inside the new site."""
    result = subprocess.run(
        [sys.executable, "-m", "pagefind", "--site", str(folder), "--silent", "--keep-index-url"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise WriteError(f"search index failed: {result.stderr.strip() or result.stdout.strip()}")
