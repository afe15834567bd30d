"""Stage 5, analytics: what the shape of the graph says.

The RDF graph is projected once into a networkx :class:`~networkx.MultiDiGraph` whose nodes are
the things readers browse (concepts, thinkers, examples, eras, mitigation strategies, measures,
works) and whose edges are the relations between them, one direction per relation. From it
:func:`analyse` computes, once per build, an immutable :class:`Analysis`: PageRank, betweenness,
Louvain communities, a build-time layout, orphan notes, gaps in concept notes and spirals of
mutual reinforcement. Every result is deterministic: nodes are added in IRI order and every
random choice has a fixed seed.

Commands: ``sdwiki stats`` (:func:`stats_report`), ``sdwiki path`` (:func:`explain_path`),
``sdwiki export --format graphml|gexf`` (:func:`export_network`). The measures are also published
as triples (:func:`analytics_triples`) in their own named graph (:func:`analytics_graph_iri`).
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import textwrap
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
from rdflib import Literal, URIRef

from sdwiki.extract import NoteGraph, Triple
from sdwiki.ontology import SD, Ontology
from sdwiki.pipeline import Project
from sdwiki.records import by_object, quick_pickle
from sdwiki.registry import key
from sdwiki.terms import DCTERMS, RDF, RDFS, SKOS, XSD
from sdwiki.types import RelPath

SEED = 42
"""The seed of every random choice (Louvain, sampled betweenness, layout)."""

KINDS: tuple[tuple[URIRef, str], ...] = (
    (SD.Concept, "concept"),
    (SD.Theory, "concept"),
    (SD.Thinker, "thinker"),
    (SD.Example, "example"),
    (SD.Era, "era"),
    (SD.MitigationStrategy, "mitigation"),
    (SD.Measure, "measure"),
    (SD.Work, "work"),
)
"""The classes whose instances are nodes, and the kind each becomes (first match wins)."""

_FORWARD = frozenset(
    {
        SD.linksTo,
        SD.keyThinker,
        SD.coinedBy,
        SD.hasMechanism,
        SD.hasCause,
        SD.hasSeverityFactor,
        SD.hasExample,
        SD.era,
        SD.mitigatedBy,
        SD.measure,
        SD.hasLimitation,
        SD.furtherReading,
        DCTERMS.creator,
    }
)
"""Of each pair of inverse relations, the direction edges are drawn in."""

_DRIVES: Mapping[URIRef, bool] = {SD.hasCause: True, SD.hasSeverityFactor: True, SD.hasMechanism: False}
"""Edges between concepts that mean one drives the other; True when the driver is the target
(``A has cause B``: B drives A), False when it is the source (A's mechanism runs through B)."""

_EXACT_BETWEENNESS = 300
"""Up to this many nodes betweenness is exact; above, it is estimated from :data:`_PIVOTS` sources."""
_PIVOTS = 128
_LAYOUT_ITERATIONS = 60
_NEIGHBOURS = 12
"""How many nearest nodes push each node away in the layout."""
_MAX_PATHS = 100
_SHOWN = 12
"""Members of a community named in the text report, notes first (the JSON report names all)."""
_MAX_CYCLES = 50
_MAX_CYCLE_LENGTH = 6


class PathError(Exception):
    """No such entity, or no path between the two."""


@quick_pickle
@dataclass(frozen=True, slots=True)
class Edge:
    """One relation between two nodes, in the direction it is read."""

    source: str
    target: str
    relation: str
    """The property's label, e.g. ``key thinker``."""
    property: str
    """The property's IRI."""


@dataclass(frozen=True, slots=True, eq=False)
class Analysis:
    """Everything the network says, computed once per build. Nodes are keyed by IRI."""

    labels: dict[str, str]
    kinds: dict[str, str]
    """concept, thinker, example, era, mitigation, measure, work."""
    notes: dict[str, str]
    """IRI -> path under content/ of the nodes that have a note."""
    edges: tuple[Edge, ...]
    """Sorted by source, target, property."""
    pagerank: dict[str, float]
    betweenness: dict[str, float]
    communities: list[list[str]]
    """Largest first; members by descending PageRank, so a community's first member is its hub."""
    community_of: dict[str, int]
    layout: dict[str, tuple[float, float]]
    """Positions in [0, 1] x [0, 1]."""
    neighbours: dict[str, tuple[str, ...]]
    """Undirected adjacency, sorted."""
    orphans: tuple[str, ...]
    """Notes with no relation in or out."""
    missing_definition: tuple[str, ...]
    missing_thinker: tuple[str, ...]
    cycles: tuple[tuple[str, ...], ...]
    """Spirals of mutual reinforcement: directed cycles of concepts that drive one another."""

    def central(self, kind: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` nodes of one kind with the highest PageRank."""
        ranked = sorted((-r, iri) for iri, r in self.pagerank.items() if self.kinds[iri] == kind)
        return [(iri, -r) for r, iri in ranked[:k]]

    def central_concepts(self, k: int = 10) -> list[tuple[str, float]]:
        return self.central("concept", k)

    def central_thinkers(self, k: int = 10) -> list[tuple[str, float]]:
        return self.central("thinker", k)

    def related(self, iri: str, k: int = 8, kind: str | None = None) -> list[tuple[str, float]]:
        """Nodes sharing neighbours with ``iri``, by Adamic-Adar score (see :class:`Relatedness`,
        which answers many such questions faster)."""
        return Relatedness(self.neighbours, self.kinds)(iri, k, kind)


class Relatedness:
    """Nodes sharing neighbours with a node, by Adamic-Adar score: each shared neighbour ``w``
    counts ``1 / log(degree(w))``, so rare neighbours count more; nodes already related to the
    node are included when they share neighbours too. Ties are broken by IRI.

    A page asks once per node, and a hub (an era, a thinker most notes name) has thousands of
    neighbours: the scores are summed by numpy over the neighbours' index arrays, in the order a
    loop over them would add them (so the same floats), and only the few nodes that can rank in
    the first ``k`` are sorted in Python."""

    _EXACT = 64
    """Up to this many scored nodes, all are sorted."""

    def __init__(self, neighbours: Mapping[str, Sequence[str]], kinds: Mapping[str, str]) -> None:
        self.nodes = list(neighbours)
        self.index = {n: i for i, n in enumerate(self.nodes)}
        self.kind_code = {kind: i for i, kind in enumerate(sorted(set(kinds.values())))}
        self.kinds = np.array([self.kind_code[kinds[n]] for n in self.nodes], dtype=np.intp)
        self.around = [np.array([self.index[v] for v in neighbours[n]], dtype=np.intp) for n in self.nodes]
        self.weight = [1 / math.log(len(a)) if len(a) >= 2 else 0.0 for a in self.around]

    def __call__(self, iri: str, k: int = 8, kind: str | None = None) -> list[tuple[str, float]]:
        """The ``k`` best-scored nodes (of ``kind`` only, if given) for ``iri``, with their scores."""
        me = self.index.get(iri)
        if me is None or k <= 0:
            return []
        via = [w for w in self.around[me] if self.weight[w]]
        if not via:
            return []
        ids = np.concatenate([self.around[w] for w in via])
        weights = np.repeat([self.weight[w] for w in via], [len(self.around[w]) for w in via])
        scores = np.bincount(ids, weights, minlength=len(self.nodes))  # adds in the order of ids
        wanted = scores > 0
        wanted[me] = False
        if kind is not None:
            wanted &= self.kinds == self.kind_code.get(kind, -1)
        found = np.flatnonzero(wanted)
        if len(found) > max(k, self._EXACT):
            # rounding to 9 places moves a score by at most 5e-10: a node scored 1e-8 below the
            # k-th best cannot round to a place among the first k
            kth = np.partition(scores[found], len(found) - k)[len(found) - k]
            found = found[scores[found] >= kth - 1e-8]
        ranked = sorted((-round(float(scores[i]), 9), self.nodes[i]) for i in found)
        return [(v, -s) for s, v in ranked[:k]]


# -- the projection --------------------------------------------------------------------------


def network(project: Project) -> nx.MultiDiGraph:
    """The project's graph as a networkx graph (see :func:`project_triples`)."""
    reg = project.registry
    notes = {str(iri): path for path, iri in reg.note_iri.items()}
    titles = {str(reg.note_iri[p]): n.title for p, n in project.corpus.notes.items()}
    classes = {str(reg.note_iri[p]): c for p, c in reg.note_class.items()}
    triples = (t for g in project.ordered_graphs() for t in g.triples)
    return project_triples(triples, project.ontology, notes, titles, classes)


Link = tuple[URIRef, URIRef, URIRef]


def project_triples(
    triples: Iterable[Triple],
    onto: Ontology,
    notes: Mapping[str, str],
    titles: Mapping[str, str],
    note_classes: Mapping[str, URIRef],
) -> nx.MultiDiGraph:
    """Nodes: every note and every instance of a class in :data:`KINDS`, with ``label``, ``kind``,
    ``iri`` and ``note`` (the note's path, or ""). Edges: each relation between two nodes, keyed by
    property IRI, with ``relation`` (its label) and ``property``. A part of a note (a cause, a
    mechanism step, a severity factor) that refers to a node gives an edge from the part's owner,
    with the part's relation: ``Security Dilemma -has cause-> Anarchy``."""
    types: dict[URIRef, list[URIRef]] = defaultdict(list)
    labels: dict[URIRef, str] = {}
    links: list[Link] = []
    # one dictionary lookup per triple: comparing rdflib terms with == runs Python code each time
    role: dict[URIRef, int] = {RDF.type: 1, RDFS.label: 2}
    for s, p, o in triples:
        r = role.get(p)
        if r is None:
            r = role[p] = 3 if _forward(p, onto.inverses) else 0
        if r == 3:
            if type(o) is URIRef:
                links.append((s, p, o))
        elif r == 1:
            if type(o) is URIRef:
                types[s].append(o)
        elif r == 2 and isinstance(o, Literal):
            labels.setdefault(s, str(o))
    kinds = _kinds(types, onto, note_classes)
    g = nx.MultiDiGraph()
    for iri in sorted(kinds):
        label = titles.get(iri) or labels.get(URIRef(iri)) or iri.rstrip("/").rsplit("/", 1)[-1]
        g.add_node(iri, label=label, kind=kinds[iri], iri=iri, note=notes.get(iri, ""))
    parts = {s for s, cs in types.items() if str(s) not in kinds and any(c in onto.local_paths for c in cs)}
    for source, target, prop in sorted(_edges(links, kinds, parts)):
        if source != target:
            g.add_edge(source, target, key=str(prop), relation=onto.label(prop), property=str(prop))
    return g


def _kinds(types: Mapping[URIRef, list[URIRef]], onto: Ontology, note_classes: Mapping[str, URIRef]) -> dict[str, str]:
    """The kind of every node: notes by their class, other resources by :data:`KINDS`."""
    kind_of = dict(reversed(KINDS))
    kinds = {iri: kind_of.get(cls) or onto.label(cls) for iri, cls in note_classes.items()}
    for s, listed in types.items():
        classes = set(listed)
        found = [kind for cls, kind in KINDS if cls in classes]
        if found and str(s) not in kinds:
            kinds[str(s)] = found[0]
    return kinds


def _edges(links: list[Link], kinds: Mapping[str, str], parts: set[URIRef]) -> set[tuple[str, str, URIRef]]:
    """(source, target, property) of every edge: direct links, and parts' references."""
    parent: dict[URIRef, tuple[URIRef, URIRef]] = {}
    for s, p, o in links:
        if o in parts and (str(s) in kinds or s in parts):
            parent.setdefault(o, (s, p))
    edges: set[tuple[str, str, URIRef]] = set()
    for s, p, o in links:
        if str(o) not in kinds:
            continue
        if str(s) in kinds:
            edges.add((str(s), str(o), p))
        elif p == SD.refersTo and s in parts:
            owner = _owner(s, parent, kinds)
            if owner is not None:
                edges.add((str(owner[0]), str(o), owner[1]))
    return edges


def _forward(p: URIRef, inverses: Mapping[URIRef, URIRef]) -> bool:
    """Whether edges are drawn along ``p`` (of two inverses, only one direction is kept)."""
    if p == RDF.type:
        return False
    inverse = inverses.get(p)
    if inverse is None or p in _FORWARD:
        return True
    return inverse not in _FORWARD and str(p) < str(inverse)


def _owner(
    part: URIRef, parent: Mapping[URIRef, tuple[URIRef, URIRef]], kinds: Mapping[str, str]
) -> tuple[URIRef, URIRef] | None:
    """The node a part belongs to, and the relation from that node to the outermost part."""
    seen: set[URIRef] = set()
    while part in parent and part not in seen:
        seen.add(part)
        owner, prop = parent[part]
        if str(owner) in kinds:
            return owner, prop
        part = owner
    return None


# -- the measures ----------------------------------------------------------------------------


@dataclass
class AnalysisMemo:
    """What ``serve``'s builder keeps between builds: the last analysis and the key of the network
    it was made from (see :func:`network_key`)."""

    key: str = ""
    analysis: Analysis | None = None
    signatures: dict[int, tuple[NoteGraph, str]] = field(default_factory=dict)
    """Each note graph's part in the network, as a digest (by the graph object)."""
    made_from: tuple[object, list[tuple[str, str]], str] | None = None
    """The last key, with the registry and the note graphs' parts it was worked out from."""
    graphs: Mapping[RelPath, NoteGraph] | None = None
    """The note graphs the last key was found for (in memory only)."""


def read_memo(path: Path, code: str) -> AnalysisMemo:
    """The analysis the last build left at ``path`` (see :func:`write_memo`), if this code made it
    and the file is whole; otherwise an empty memo. ``sdwiki build`` keeps the analysis there, in
    its cache folder, so that an edit to prose does not compute the network's measures again."""
    from sdwiki import bundle

    found = bundle.read(path, code)
    if isinstance(found, tuple) and len(found) == 2 and isinstance(found[0], str) and isinstance(found[1], Analysis):
        return AnalysisMemo(key=found[0], analysis=found[1])
    return AnalysisMemo()


def write_memo(path: Path, code: str, memo: AnalysisMemo) -> None:
    """Keep ``memo``'s analysis, with the key of the network it belongs to, at ``path`` for the
    next build made by the same ``code`` (see :mod:`sdwiki.bundle`)."""
    from sdwiki import bundle

    if memo.analysis is not None:
        bundle.write(path, code, (memo.key, memo.analysis))


def analyse(project: Project, memo: AnalysisMemo | None = None) -> Analysis:
    """Project the graph and compute every measure (a pure function of the project).

    With ``memo``, a network that is the same as last time (an edit that changed only prose)
    gets the same analysis back, without being projected again.
    """
    if memo is not None:
        key = network_key(project, memo)
        if memo.analysis is not None and memo.key == key:
            return memo.analysis
    wanted: dict[URIRef, set[str]] = {SKOS.definition: set(), SD.keyThinker: set()}
    for ng in project.ordered_graphs():
        for s, p, _ in ng.triples:
            found = wanted.get(p)
            if found is not None:
                found.add(str(s))
    result = analyse_network(network(project), wanted[SKOS.definition], wanted[SD.keyThinker])
    if memo is not None:
        memo.key, memo.analysis = key, result
    return result


def network_key(project: Project, memo: AnalysisMemo) -> str:
    """A digest of everything :func:`network` and the measures are made from: the notes' IRIs,
    titles and classes, and each note graph's :func:`_signature` (worked out once per graph
    object, kept in ``memo``). The same registry object and the same graphs' parts as last time
    give the last key without a digest."""
    reg = project.registry
    last, seen, memo.graphs = memo.made_from, memo.graphs, project.note_graphs
    if last is not None and last[0] is reg and seen is not None and _same_parts(memo, seen, project):
        return last[2]
    memo.signatures = by_object(memo.signatures, project.ordered_graphs(), _signature)
    graphs: list[tuple[str, str]] = [(ng.path, signature) for ng, signature in memo.signatures.values()]
    if last is not None and last[0] is reg and last[1] == graphs:  # a registry is kept only while names hold
        return last[2]
    parts: list[object] = [
        reg.base,
        sorted((p, str(iri)) for p, iri in reg.note_iri.items()),
        sorted((p, n.title) for p, n in project.corpus.notes.items()),
        sorted((p, str(c)) for p, c in reg.note_class.items()),
        *graphs,
    ]
    key = hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()
    memo.made_from = (reg, graphs, key)
    return key


def _same_parts(memo: AnalysisMemo, seen: Mapping[RelPath, NoteGraph], project: Project) -> bool:
    """Whether the project's note graphs play the same part in the network as those ``seen`` when
    the last key was worked out: the same notes, and each graph that is another object with the
    same signature (kept in ``memo`` for it). Only the graphs that changed are looked at."""
    now = project.note_graphs
    changed = project.graphs_replaced_since(seen)
    if changed is None:
        return False
    for path in changed:
        old, new = seen[path], now[path]
        known = memo.signatures.get(id(old))
        if known is None or known[0] is not old:
            return False
        signature = _signature(new)
        if signature != known[1]:
            return False
        del memo.signatures[id(old)]
        memo.signatures[id(new)] = (new, signature)
    return True


_NETWORK_LITERALS = {RDFS.label: True, SKOS.definition: False}
"""Literal-valued properties the network depends on: labels by value, definitions by presence."""


def _signature(ng: NoteGraph) -> str:
    """What of a note graph the network can depend on, in order: every triple linking two
    resources (types included), labels, and which resources have a definition."""
    # written out as plain strings: an rdflib term's repr is made in Python, a string's in C
    kept: list[str] = []
    for s, p, o in ng.triples:
        if type(o) is URIRef:
            kept.append(f"{s} {p} <{o}>")
        else:
            by_value = _NETWORK_LITERALS.get(p)
            if by_value is not None:
                kept.append(f"{s} {p} {str(o)!r}" if by_value else f"{s} {p} -")
    return hashlib.sha256("\n".join(kept).encode("utf-8", "surrogatepass")).hexdigest()


def analyse_network(g: nx.MultiDiGraph, defined: Iterable[str] = (), with_thinker: Iterable[str] = ()) -> Analysis:
    """Every measure of a projected graph; ``defined`` and ``with_thinker`` are the concepts that
    have a definition and a key thinker."""
    nodes: list[str] = sorted(g.nodes)
    labels = {n: str(g.nodes[n]["label"]) for n in nodes}
    kinds = {n: str(g.nodes[n]["kind"]) for n in nodes}
    notes = {n: str(g.nodes[n]["note"]) for n in nodes if g.nodes[n].get("note")}
    edges = tuple(Edge(s, t, str(d["relation"]), str(k)) for s, t, k, d in sorted(g.edges(keys=True, data=True)))
    directed, undirected = _simple_views(nodes, edges)
    pagerank = _pagerank(directed)
    communities = _communities(undirected, pagerank)
    concept_notes = [n for n in nodes if kinds[n] == "concept" and n in notes]
    defined, with_thinker = set(defined), set(with_thinker)
    return Analysis(
        labels=labels,
        kinds=kinds,
        notes=notes,
        edges=edges,
        pagerank=pagerank,
        betweenness=_betweenness(undirected),
        communities=communities,
        community_of={n: i for i, members in enumerate(communities) for n in members},
        layout=layout(undirected),
        neighbours={n: tuple(sorted(undirected.adj[n])) for n in nodes},
        orphans=tuple(n for n in nodes if n in notes and undirected.degree(n) == 0),
        missing_definition=tuple(n for n in concept_notes if n not in defined),
        missing_thinker=tuple(n for n in concept_notes if n not in with_thinker),
        cycles=_cycles(edges, kinds),
    )


def _simple_views(nodes: list[str], edges: Iterable[Edge]) -> tuple[nx.DiGraph, nx.Graph]:
    """Directed and undirected simple graphs; ``weight`` counts the relations between two nodes."""
    directed, undirected = nx.DiGraph(), nx.Graph()
    directed.add_nodes_from(nodes)
    undirected.add_nodes_from(nodes)
    for e in edges:
        for graph in (directed, undirected):
            if graph.has_edge(e.source, e.target):
                graph.edges[e.source, e.target]["weight"] += 1
            else:
                graph.add_edge(e.source, e.target, weight=1)
    return directed, undirected


def _pagerank(g: nx.DiGraph) -> dict[str, float]:
    if g.number_of_nodes() == 0:
        return {}
    ranks = nx.pagerank(g, weight="weight")
    return {str(n): float(ranks[n]) for n in g}


def _betweenness(g: nx.Graph) -> dict[str, float]:
    n = g.number_of_nodes()
    sample = None if n <= _EXACT_BETWEENNESS else _PIVOTS
    return betweenness(g, sample, SEED)


def betweenness(g: nx.Graph, k: int | None = None, seed: int = SEED) -> dict[str, float]:
    """Normalised betweenness centrality of an undirected, unweighted graph (Brandes' algorithm).

    The same numbers as ``networkx.betweenness_centrality(g, k, normalized=True, seed=seed)``
    (the same sampled sources, the same rescaling), computed for all sources at once with sparse
    matrix products, one breadth-first level at a time, instead of one source at a time in Python.
    """
    import random

    from scipy import sparse

    nodes = list(g)
    n = len(nodes)
    if k is not None and k >= n:
        k = None
    sources = nodes if k is None else random.Random(seed).sample(nodes, k)
    out = dict.fromkeys((str(v) for v in nodes), 0.0)
    if n < 3 or not sources:
        return out
    index = {v: i for i, v in enumerate(nodes)}
    pairs = [(index[a], index[b]) for a, b in g.edges if a != b]
    rows = np.array([a for a, b in pairs] + [b for a, b in pairs], dtype=np.intp)
    cols = np.array([b for a, b in pairs] + [a for a, b in pairs], dtype=np.intp)
    adj = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    adj.data[:] = 1.0  # parallel entries sum on construction: paths count once per neighbour
    src = np.array([index[v] for v in sources], dtype=np.intp)
    total = np.zeros(n)
    for start in range(0, len(src), 256):  # a batch of sources: dense (n x batch) level matrices
        batch = src[start : start + 256]
        cols_b = np.arange(len(batch))
        dist = np.full((n, len(batch)), -1, dtype=np.int32)
        sigma = np.zeros((n, len(batch)))
        dist[batch, cols_b] = 0
        sigma[batch, cols_b] = 1.0
        depth = 0
        while True:  # breadth-first, one level for every source at once: count shortest paths
            reached = adj @ np.where(dist == depth, sigma, 0.0)
            new = (dist < 0) & (reached > 0)
            if not new.any():
                break
            depth += 1
            dist[new] = depth
            sigma[new] = reached[new]
        delta = np.zeros((n, len(batch)))
        safe = np.where(sigma > 0, sigma, 1.0)
        for d in range(depth - 1, -1, -1):  # back up the levels: accumulate dependencies
            back = adj @ np.where(dist == d + 1, (1.0 + delta) / safe, 0.0)
            delta += np.where(dist == d, sigma * back, 0.0)
        delta[batch, cols_b] = 0.0
        total += delta.sum(axis=1)
    # networkx's rescaling (normalised, endpoints excluded), sampled sources counted apart
    m = n - 1
    kk = len(sources)
    if k is None:
        scale = np.full(n, 1 / (m * (m - 1)))
    else:
        scale = np.full(n, 1 / (kk * (m - 1)))
        scale[src] = 1 / ((kk - 1) * (m - 1)) if kk > 1 else math.nan
    values = total * scale
    return {str(v): float(values[i]) for i, v in enumerate(nodes)}


def _communities(g: nx.Graph, pagerank: Mapping[str, float]) -> list[list[str]]:
    if g.number_of_nodes() == 0:
        return []
    found = nx.community.louvain_communities(g, weight="weight", seed=SEED)
    groups = [sorted((str(n) for n in c), key=lambda n: (-pagerank[n], n)) for c in found]
    return sorted(groups, key=lambda c: (-len(c), c[0]))


def layout(g: nx.Graph, iterations: int = _LAYOUT_ITERATIONS) -> dict[str, tuple[float, float]]:
    """A force-directed layout (Fruchterman-Reingold), scaled into [0, 1] keeping proportions.

    Each node is pushed only by its nearest neighbours (found with a k-d tree), in the spirit of
    Fruchterman and Reingold's grid variant, so one step costs O(n log n) rather than O(n^2)
    however tightly the graph draws together: ten thousand nodes take a few seconds.
    """
    from scipy.spatial import cKDTree  # type: ignore[import-untyped, unused-ignore]

    nodes = list(g)
    n = len(nodes)
    if n == 0:
        return {}
    index = {v: i for i, v in enumerate(nodes)}
    pairs = np.array([(index[a], index[b]) for a, b in g.edges], dtype=np.intp).reshape(-1, 2)
    a, b = pairs[:, 0], pairs[:, 1]
    rng = np.random.default_rng(SEED)
    x, y = rng.random(n), rng.random(n)
    k = 1 / math.sqrt(n)
    heat = 0.1
    cool = heat / (iterations + 1)
    near = min(_NEIGHBOURS, n - 1)
    p = np.repeat(np.arange(n), near)
    for _ in range(iterations):
        points = np.column_stack((x, y))
        if near:
            _, found = cKDTree(points).query(points, k=near + 1)
            q = found[:, 1:].ravel()
        else:
            q = p
        dx, dy = x[p] - x[q], y[p] - y[q]
        push = k * k / np.maximum(dx * dx + dy * dy, 1e-9)
        fx = np.bincount(p, dx * push, n)
        fy = np.bincount(p, dy * push, n)
        ex, ey = x[a] - x[b], y[a] - y[b]
        pull = np.sqrt(ex * ex + ey * ey) / k
        fx += np.bincount(b, ex * pull, n) - np.bincount(a, ex * pull, n)
        fy += np.bincount(b, ey * pull, n) - np.bincount(a, ey * pull, n)
        length = np.maximum(np.sqrt(fx * fx + fy * fy), 1e-9)
        step = np.minimum(length, heat) / length
        x += fx * step
        y += fy * step
        heat -= cool
    return _normalise(nodes, x, y)


def _normalise(nodes: list[str], x: np.ndarray, y: np.ndarray) -> dict[str, tuple[float, float]]:
    width, height = float(x.max() - x.min()), float(y.max() - y.min())
    scale = max(width, height) or 1.0
    x0 = float(x.min()) - (scale - width) / 2
    y0 = float(y.min()) - (scale - height) / 2
    return {
        str(v): (round((float(x[i]) - x0) / scale, 4), round((float(y[i]) - y0) / scale, 4))
        for i, v in enumerate(nodes)
    }


def _cycles(edges: Iterable[Edge], kinds: Mapping[str, str]) -> tuple[tuple[str, ...], ...]:
    """Directed cycles of concepts where each drives the next (see :data:`_DRIVES`)."""
    drives = nx.DiGraph()
    for e in edges:
        reverse = _DRIVES.get(URIRef(e.property))
        if reverse is None or kinds[e.source] != "concept" or kinds[e.target] != "concept":
            continue
        drives.add_edge(*((e.target, e.source) if reverse else (e.source, e.target)))
    found: list[tuple[str, ...]] = []
    for cycle in nx.simple_cycles(drives, length_bound=_MAX_CYCLE_LENGTH):
        start = cycle.index(min(cycle))
        found.append(tuple(str(c) for c in cycle[start:] + cycle[:start]))
    return tuple(sorted(found, key=lambda c: (len(c), c))[:_MAX_CYCLES])


# -- the measures as triples -----------------------------------------------------------------


def analytics_graph_iri(base: str) -> URIRef:
    """The named graph of the measures: ``{base}analytics``, beside (never among) the note graphs
    under ``{base}graph/``, so no note can share its name."""
    return URIRef(f"{base}analytics")


def analytics_triples(analysis: Analysis, base: str) -> list[Triple]:
    """``sd:pageRank``, ``sd:betweenness`` (``xsd:double``) and ``sd:community`` (``xsd:integer``)
    of every node, in IRI order, for the named graph :func:`analytics_graph_iri` of ``base``."""
    del base  # the nodes' IRIs are absolute already; the base names only the graph
    out: list[Triple] = []
    for iri in sorted(analysis.labels):
        s = URIRef(iri)
        out.append((s, SD.pageRank, _double(analysis.pagerank[iri])))
        out.append((s, SD.betweenness, _double(analysis.betweenness[iri])))
        out.append((s, SD.community, Literal(analysis.community_of[iri], datatype=XSD.integer)))
    return out


def _double(value: float) -> Literal:
    return Literal(f"{value:.6e}", datatype=XSD.double)


# -- sdwiki stats ----------------------------------------------------------------------------


def stats_report(project: Project, fmt: str) -> str:
    """The ``sdwiki stats`` report, as text or as one JSON object."""
    analysis = analyse(project)
    data = _stats(analysis)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return _stats_text(analysis, data)


def _entry(a: Analysis, iri: str) -> dict[str, object]:
    out: dict[str, object] = {"iri": iri, "label": a.labels[iri], "kind": a.kinds[iri]}
    if iri in a.notes:
        out["file"] = a.notes[iri]
    return out


def _stats(a: Analysis) -> dict[str, object]:
    counts: dict[str, int] = defaultdict(int)
    for kind in a.kinds.values():
        counts[kind] += 1
    relations: dict[str, int] = defaultdict(int)
    for e in a.edges:
        relations[e.relation] += 1

    def ranked(items: list[tuple[str, float]]) -> list[dict[str, object]]:
        return [
            {**_entry(a, iri), "pagerank": round(r, 6), "betweenness": round(a.betweenness[iri], 6)} for iri, r in items
        ]

    return {
        "nodes": len(a.labels),
        "edges": len(a.edges),
        "counts": dict(sorted(counts.items())),
        "relations": dict(sorted(relations.items())),
        "central_concepts": ranked(a.central_concepts(10)),
        "central_thinkers": ranked(a.central_thinkers(10)),
        "communities": [
            {"id": i, "size": len(members), "members": [_entry(a, m) for m in members]}
            for i, members in enumerate(a.communities)
        ],
        "orphans": [_entry(a, n) for n in a.orphans],
        "missing_definition": [_entry(a, n) for n in a.missing_definition],
        "missing_key_thinker": [_entry(a, n) for n in a.missing_thinker],
        "cycles": [[_entry(a, n) for n in cycle] for cycle in a.cycles],
    }


def _stats_text(a: Analysis, data: Mapping[str, object]) -> str:
    lines = [f"{len(a.labels)} nodes, {len(a.edges)} relations", ""]
    counts: Mapping[str, int] = data["counts"]  # type: ignore[assignment]
    lines.append("Nodes by kind")
    lines += [f"  {kind:<12} {n:>6}" for kind, n in counts.items()]
    for title, items in (
        ("Most central concepts", a.central_concepts(10)),
        ("Most central thinkers", a.central_thinkers(10)),
    ):
        lines += ["", f"{title} (PageRank, betweenness)"]
        width = max((len(a.labels[i]) for i, _ in items), default=0)
        lines += [
            f"  {n:>2}. {a.labels[iri]:<{width}}  {rank:.4f}  {a.betweenness[iri]:.4f}"
            for n, (iri, rank) in enumerate(items, start=1)
        ]
    lines += ["", f"Communities ({len(a.communities)})"]
    for i, members in enumerate(a.communities, start=1):
        shown = ([m for m in members if m in a.notes] or members)[:_SHOWN]
        names = ", ".join(a.labels[m] for m in shown)
        if len(members) > len(shown):
            names += f" and {len(members) - len(shown)} more"
        entry = f"{i}. ({len(members)}) {names}"
        lines += textwrap.wrap(entry, 100, initial_indent="  ", subsequent_indent="     ", break_on_hyphens=False)
    for title, found in (
        ("Orphan notes (no relation in or out)", a.orphans),
        ("Concepts without a definition", a.missing_definition),
        ("Concepts without a key thinker", a.missing_thinker),
    ):
        lines += ["", f"{title} ({len(found)})"]
        lines += [f"  {a.labels[n]} ({a.notes.get(n, n)})" for n in found] or ["  none"]
    lines += ["", f"Spirals of mutual reinforcement ({len(a.cycles)})"]
    lines += [f"  {' → '.join(a.labels[n] for n in (*c, c[0]))}" for c in a.cycles] or ["  none"]
    return "\n".join(lines) + "\n"


# -- sdwiki path -----------------------------------------------------------------------------

_KIND_ORDER = ("concept", "thinker", "example", "mitigation", "measure", "era", "work")


def explain_path(project: Project, a: str, b: str, all_paths: bool) -> str:
    """The shortest chain of relations between two entities (by title, alias or label), one per
    line: ``Security Dilemma —key thinker→ Robert Jervis ←key thinker— Deterrence``.

    Direction is ignored when searching and shown when printing. Without ``all_paths`` the one
    path printed is, of the shortest, the one that says most (fewest bare wikilinks)."""
    g = network(project)
    source, target = _find(project, g, a), _find(project, g, b)
    if source == target:
        return f"{_label(g, source)}\n"
    view = nx.Graph()
    view.add_nodes_from(sorted(g.nodes))
    view.add_edges_from(sorted((s, t) for s, t in g.edges()))
    try:
        found = list(itertools.islice(nx.all_shortest_paths(view, source, target), _MAX_PATHS + 1))
    except nx.NetworkXNoPath:
        raise PathError(
            f"no path between {_label(g, source)!r} and {_label(g, target)!r}: nothing connects them"
        ) from None
    hops = sorted((_hops(g, path) for path in found[:_MAX_PATHS]), key=_path_order)
    if not all_paths:
        hops = hops[:1]
    lines = [_format(g, path) for path in hops]
    if all_paths and len(found) > _MAX_PATHS:
        lines.append(f"(the first {_MAX_PATHS} shortest paths; there are more)")
    return "\n".join(lines) + "\n"


_LINK = str(SD.linksTo)
_Hop = tuple[str, str, str, bool, bool]
"""(from, to, relation label, forward, a bare wikilink)."""


def _hops(g: nx.MultiDiGraph, path: list[str]) -> list[_Hop]:
    out: list[_Hop] = []
    for u, v in itertools.pairwise(path):
        options = [(p == _LINK, 0, str(d["relation"])) for p, d in g.adj[u].get(v, {}).items()]
        options += [(p == _LINK, 1, str(d["relation"])) for p, d in g.adj[v].get(u, {}).items()]
        bare, backward, relation = min(options)
        out.append((u, v, relation, not backward, bare))
    return out


def _path_order(hops: list[_Hop]) -> tuple[int, list[_Hop]]:
    return sum(h[4] for h in hops), hops


def _format(g: nx.MultiDiGraph, hops: list[_Hop]) -> str:
    text = _label(g, hops[0][0])
    for _, v, relation, forward, _ in hops:
        arrow = f"—{relation}→" if forward else f"←{relation}—"
        text += f" {arrow} {_label(g, v)}"
    return text


def _label(g: nx.MultiDiGraph, node: str) -> str:
    return str(g.nodes[node]["label"])


def _find(project: Project, g: nx.MultiDiGraph, name: str) -> str:
    """The node a name refers to: a note's title, alias or file name; any node's label or IRI; a
    thinker's surname."""
    note = project.corpus.resolve_name(name)
    if note is not None:
        iri = str(project.registry.note_iri[note.path])
        if iri in g:
            return iri
    if name in g:
        return name
    wanted = key(name)
    matches: list[str] = [str(n) for n in g if key(str(g.nodes[n]["label"])) == wanted]
    if matches:
        return min(matches, key=lambda n: (_kind_rank(str(g.nodes[n]["kind"])), n))
    thinker = project.registry.thinkers.get(wanted)
    if thinker is not None and str(thinker) in g:
        return str(thinker)
    labels = sorted({str(d["label"]) for _, d in g.nodes(data=True)})
    close = difflib.get_close_matches(name, labels, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise PathError(f"no note or entity named {name!r}{hint}")


def _kind_rank(kind: str) -> int:
    return _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)


# -- sdwiki export --format graphml|gexf -----------------------------------------------------


def export_network(project: Project, fmt: str) -> str:
    """The network with its measures as GraphML or GEXF (for Gephi), byte-identical per input."""
    a = analyse(project)
    g = nx.MultiDiGraph()
    for iri in sorted(a.labels):
        x, y = a.layout[iri]
        g.add_node(
            iri,
            label=a.labels[iri],
            kind=a.kinds[iri],
            iri=iri,
            note=a.notes.get(iri, ""),
            pagerank=round(a.pagerank[iri], 8),
            betweenness=round(a.betweenness[iri], 8),
            community=a.community_of[iri],
            x=x,
            y=y,
        )
    for n, e in enumerate(a.edges):
        g.add_edge(e.source, e.target, key=f"e{n}", relation=e.relation, property=e.property)
    if fmt == "graphml":
        return _XML + "\n".join(nx.generate_graphml(g, prettyprint=True)) + "\n"
    if fmt == "gexf":
        return _gexf(g)
    raise ValueError(f"unknown network format {fmt!r} (graphml or gexf)")


_XML = '<?xml version="1.0" encoding="utf-8"?>\n'


def _gexf(g: nx.MultiDiGraph) -> str:
    from networkx.readwrite.gexf import GEXFWriter

    writer = GEXFWriter(version="1.2draft")
    meta = writer.xml.find("meta")
    if meta is not None:  # no date and no library version: the same input gives the same file
        meta.attrib.pop("lastmodifieddate", None)
        for creator in meta.findall("creator"):
            creator.text = "sdwiki"
    for _, data in g.nodes(data=True):  # Gephi opens the file with the site's layout
        x, y = round(data["x"] * 1000, 1), round(data["y"] * -1000, 1)
        data["viz"] = {"position": {"x": x, "y": y, "z": 0.0}}
    writer.add_graph(g)
    return _XML + str(writer) + "\n"
