"""The read side of every command: content folder -> notes -> corpus -> graph.

``load_project`` runs the stages in order and returns one immutable :class:`Project`; commands
(check, build, query, export, stats, serve) start from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rdflib import Dataset

from sdwiki.diagnostics import Diagnostic
from sdwiki.extract import NoteGraph, extract
from sdwiki.graph import Engine, build_dataset
from sdwiki.notes import Note, discover, read_note
from sdwiki.ontology import Ontology
from sdwiki.ontology import load as load_ontology
from sdwiki.records import replaced_since
from sdwiki.registry import DEFAULT_BASE, Registry, RegistryMemo, build_registry
from sdwiki.resolve import Corpus, Index, Linking, Resolved, build_corpus
from sdwiki.types import RelPath


class ContentError(Exception):
    """The content folder itself cannot be used (missing, not a folder)."""


@dataclass(frozen=True, slots=True)
class Project:
    root: Path
    corpus: Corpus
    registry: Registry
    ontology: Ontology
    note_graphs: dict[RelPath, NoteGraph]
    attachments: tuple[RelPath, ...]
    diagnostics: tuple[Diagnostic, ...]
    """Every diagnostic of every stage, sorted."""
    graphs_since: tuple[Mapping[RelPath, NoteGraph], list[RelPath]] | None = field(
        default=None, compare=False, repr=False
    )
    """The note graphs of the project this one was made after (by the same :class:`Extracted`),
    and the only paths where a graph may be another object now (see :meth:`LiveIndex.update`)."""

    def dataset(self, engine: Engine = "oxigraph", extra: Sequence[NoteGraph] = ()) -> Dataset:
        """The graph as a queryable dataset (plus ``extra`` graphs, e.g. the analytics)."""
        return build_dataset([*self.ordered_graphs(), *extra], engine)

    def graphs_replaced_since(self, last: Mapping[RelPath, NoteGraph]) -> list[RelPath] | None:
        """``replaced(last, self.note_graphs)`` (see :func:`sdwiki.records.replaced`): without a
        look at every graph when ``last`` holds the graphs of the project this one was made after."""
        return replaced_since(self.graphs_since, last, self.note_graphs)

    def ordered_graphs(self) -> list[NoteGraph]:
        return [self.note_graphs[p] for p in sorted(self.note_graphs)]


def read_notes(root: Path, cache: Path | None = None) -> tuple[list[Note], list[RelPath], list[Diagnostic]]:
    if not root.is_dir():
        raise ContentError(f"{root}: content folder not found")
    paths, attachments, problems = discover(root)
    return [read_note(root, p, cache) for p in paths], attachments, problems


def analyse(
    notes: list[Note],
    attachments: list[RelPath],
    problems: list[Diagnostic],
    root: Path,
    base: str = DEFAULT_BASE,
    extracted: Extracted | None = None,
) -> Project:
    """Link, name and extract. With ``extracted`` (kept by the caller between builds), a note whose
    bytes, links and corpus-wide names are as before keeps its graph instead of being read again;
    it is left holding exactly this build's graphs."""
    onto = load_ontology()
    corpus = build_corpus(notes, attachments, extracted.linking if extracted is not None else None)
    registry = build_registry(corpus, onto, base, extracted.registry if extracted is not None else None)
    graphs: dict[RelPath, NoteGraph]
    since: tuple[Mapping[RelPath, NoteGraph], list[RelPath]] | None = None
    if extracted is None:
        graphs = {p: extract(n, corpus, registry, onto) for p, n in corpus.notes.items()}
        troubled = _troubled(graphs)
    else:
        # the same index and registry objects as last time name everything as they did
        same = extracted.named is not None and extracted.named[0] is corpus.index and extracted.named[1] is registry
        names = extracted.names if same else _naming(corpus, registry)
        if names != extracted.names:  # every note's graph may name things differently
            extracted.graphs.clear()
        extracted.named = (corpus.index, registry)
        last = extracted.made
        paths: Iterable[RelPath] = corpus.notes
        # under the same names, only a note that is another object, or whose links resolve to
        # other objects, can have another graph (a save: a few notes of thousands)
        other_notes = corpus.replaced_since(last[0]) if same and last is not None else None
        other_links = corpus.links_replaced_since(last[1]) if other_notes is not None and last is not None else None
        if last is not None and other_notes is not None and other_links is not None:
            graphs, kept, paths = dict(last[2]), extracted.graphs, sorted({*other_notes, *other_links})
            since = (last[2], paths)
        else:
            graphs, kept = {}, {}
        for p in paths:
            n = corpus.notes[p]
            inputs: tuple[str, object] = (n.digest, corpus.resolved.get(p))
            known = extracted.graphs.get(p)
            graph = known[1] if known is not None and known[0] == inputs else extract(n, corpus, registry, onto)
            graphs[p] = graph
            kept[p] = (inputs, graph)
        if since is not None:  # the last graphs' problems, but where graphs were made again
            troubled = dict(extracted.troubled)
            for p in since[1]:
                if graphs[p].diagnostics:
                    troubled[p] = graphs[p].diagnostics
                else:
                    troubled.pop(p, None)
        else:
            troubled = _troubled(graphs)
        extracted.names = names
        extracted.graphs = kept
        extracted.made = (corpus.notes, corpus.resolved, graphs)
        extracted.troubled = troubled
    diags = [
        *problems,
        *corpus.all_diagnostics(),
        *registry.diagnostics,
        *(d for found in troubled.values() for d in found),
    ]
    return Project(root, corpus, registry, onto, graphs, tuple(attachments), tuple(sorted(set(diags))), since)


@dataclass
class Extracted:
    """What :func:`analyse` keeps between builds: the last build's note graphs, with what each
    was made from (the note's bytes and links), the corpus-wide names they were made with, and
    the notes' resolved links."""

    names: tuple[object, ...] = ()
    graphs: dict[RelPath, tuple[tuple[str, object], NoteGraph]] = field(default_factory=dict)
    linking: Linking = field(default_factory=Linking)
    """What resolving the links keeps (see :func:`sdwiki.resolve.build_corpus`)."""
    registry: RegistryMemo = field(default_factory=RegistryMemo)
    """What naming keeps (see :func:`sdwiki.registry.build_registry`)."""
    named: tuple[Index, Registry] | None = None
    """The index and registry :attr:`names` were worked out from."""
    made: tuple[Mapping[RelPath, Note], Mapping[RelPath, tuple[Resolved, ...]], dict[RelPath, NoteGraph]] | None = None
    """The notes and resolved links the last graphs were made from (see :attr:`graphs`), and those graphs."""
    troubled: dict[RelPath, tuple[Diagnostic, ...]] = field(default_factory=dict)
    """The problems of each of those graphs that has any (a save looks at these, not at every graph)."""


def _troubled(graphs: Mapping[RelPath, NoteGraph]) -> dict[RelPath, tuple[Diagnostic, ...]]:
    """The problems of each graph that has any."""
    return {p: g.diagnostics for p, g in graphs.items() if g.diagnostics}


def _naming(corpus: Corpus, registry: Registry) -> tuple[object, ...]:
    """Every corpus-wide name a note's triples can depend on: how names resolve to notes and
    attachments, note titles, IRIs and classes, and the thinker index. (The code and the ontology
    cannot change within the process that keeps the graphs.) Compared as a whole, once a build."""
    index = corpus.index
    return (
        registry.base,
        index.by_path,
        index.by_name,
        index.attachments_by_path,
        {p: n.title for p, n in corpus.notes.items()},
        registry.note_iri,
        registry.note_class,
        registry.thinkers,
        registry.thinker_labels,
    )


def load_project(root: Path, base: str = DEFAULT_BASE, cache: Path | None = None) -> Project:
    notes, attachments, problems = read_notes(root, cache)
    return analyse(notes, attachments, problems, root, base)


def analytics_graph(project: Project, analysis: object | None = None) -> NoteGraph:
    """The network measures (PageRank, betweenness, community) as their own named graph."""
    from sdwiki.analytics import Analysis, analyse, analytics_graph_iri, analytics_triples

    result = analysis if isinstance(analysis, Analysis) else analyse(project)
    iri = analytics_graph_iri(project.registry.base)
    return NoteGraph(RelPath(""), iri, iri, tuple(analytics_triples(result, project.registry.base)), ())
