"""Network analysis: the projection, known rankings, communities and paths on hand-made vaults,
and the measures on the bundled content (stats, path, SPARQL, GraphML/GEXF, determinism)."""

from __future__ import annotations

import io
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import networkx as nx
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from rdflib import URIRef

from sdwiki.analytics import (
    Analysis,
    PathError,
    Relatedness,
    analyse,
    analytics_graph_iri,
    analytics_triples,
    betweenness,
    explain_path,
    export_network,
    layout,
    network,
    stats_report,
)
from sdwiki.cli import main
from sdwiki.extract import NoteGraph
from sdwiki.graph import build_dataset
from sdwiki.ontology import SD
from sdwiki.pipeline import Project, load_project
from sdwiki.query import run
from sdwiki.registry import DEFAULT_BASE
from sdwiki.types import RelPath
from tests.conftest import CONTENT

BASE = DEFAULT_BASE


def concept(
    title: str,
    thinkers: Iterable[str] = (),
    related: Iterable[str] = (),
    causes: Iterable[str] = (),
    definition: bool = True,
) -> str:
    """A concept note in the bundled format."""
    parts = ["---", "type: concept", "---", f"# {title}", ""]
    if definition:
        parts += ["## Definition", f"What {title} means.", ""]
    if thinkers:
        parts += ["## Key Thinkers", *(f"- {t}" for t in thinkers), ""]
    if causes:
        parts += ["## Why It Happens", *(f"{n}. **{c}**: it drives it" for n, c in enumerate(causes, 1)), ""]
    if related:
        parts += ["## Related Concepts", *(f"- [[{r}]]" for r in related), ""]
    return "\n".join(parts)


def vault_of(folder: Path, notes: dict[str, str]) -> Project:
    for name, text in notes.items():
        (folder / f"{name}.md").write_text(text, "utf-8")
    return load_project(folder)


def iri(kind: str, slug: str) -> str:
    return f"{BASE}{kind}/{slug}"


def labels(a: Analysis, iris: Iterable[str]) -> list[str]:
    return [a.labels[i] for i in iris]


# -- the projection --------------------------------------------------------------------------


def test_projection_has_typed_nodes_and_one_direction_per_relation(vault: Path) -> None:
    text = concept("Spiral", thinkers=["[[Jane Roe]] (coined term, 1976)"])
    text += (
        "\n## Historical Examples\n### Cold War\n- Missile Gap\n\n"
        "## Mitigation Strategies\n### Reassurance\n- Hotlines\n\n"
        "## Further Reading\n- Roe, *Spirals* (1976)\n"
    )
    project = vault_of(
        vault,
        {"Spiral": text, "Jane Roe": "---\ntype: thinker\naliases: [Roe]\n---\n# Jane Roe\n"},
    )
    g = network(project)
    kinds = {str(d["label"]): str(d["kind"]) for _, d in g.nodes(data=True)}
    assert kinds == {
        "Spiral": "concept",
        "Jane Roe": "thinker",
        "Missile Gap": "example",
        "Cold War": "era",
        "Reassurance": "mitigation",
        "Hotlines": "measure",
        "Spirals": "work",
    }
    spiral, roe = iri("concept", "spiral"), iri("thinker", "jane-roe")
    assert g.nodes[spiral]["iri"] == spiral
    assert {d["relation"] for d in g.adj[spiral][roe].values()} == {"key thinker", "coined by", "links to"}
    assert not g.has_edge(roe, spiral)  # "key thinker of", "coined" are the same facts read backwards
    assert g.has_edge(iri("work", "spirals"), roe)  # a work -creator-> its author
    assert g.has_edge(iri("example", "missile-gap"), iri("era", "cold-war"))
    assert g.has_edge(iri("mitigation", "reassurance"), iri("measure", "hotlines"))
    assert not any(str(d["kind"]) in ("tag", "category", "cause") for _, d in g.nodes(data=True))


def test_a_part_that_names_a_note_becomes_an_edge_from_its_owner(vault: Path) -> None:
    project = vault_of(vault, {"Race": concept("Race", causes=["Anarchy"]), "Anarchy": concept("Anarchy")})
    g = network(project)
    edge = g.adj[iri("concept", "race")][iri("concept", "anarchy")]
    assert [d["relation"] for d in edge.values()] == ["has cause"]


# -- known rankings, communities, paths ------------------------------------------------------


def test_pagerank_order_is_the_known_one(vault: Path) -> None:
    notes = {name: concept(name, related=["Hub"]) for name in ("B", "C", "D", "E")}
    notes |= {"F": concept("F", related=["Mid"]), "Mid": concept("Mid", related=["Hub"])}
    notes["Hub"] = concept("Hub")
    a = analyse(vault_of(vault, notes))
    assert labels(a, [i for i, _ in a.central_concepts(2)]) == ["Hub", "Mid"]
    ranks = [r for _, r in a.central_concepts(10)]
    assert ranks == sorted(ranks, reverse=True)
    assert sum(a.pagerank.values()) == pytest.approx(1.0)


def two_cliques(vault: Path) -> Analysis:
    """Two groups of four mutually related concepts, joined only by A1 -related-> B1."""
    groups = {"A": ["A1", "A2", "A3", "A4"], "B": ["B1", "B2", "B3", "B4"]}
    notes = {
        name: concept(name, related=[o for o in members if o != name] + (["B1"] if name == "A1" else []))
        for members in groups.values()
        for name in members
    }
    return analyse(vault_of(vault, notes))


def test_louvain_finds_the_two_known_communities(vault: Path) -> None:
    a = two_cliques(vault)
    found = sorted(sorted(labels(a, c)) for c in a.communities)
    assert found == [["A1", "A2", "A3", "A4"], ["B1", "B2", "B3", "B4"]]
    assert a.community_of[iri("concept", "a2")] == a.community_of[iri("concept", "a3")]
    assert a.community_of[iri("concept", "a2")] != a.community_of[iri("concept", "b2")]


def test_the_bridge_has_the_highest_betweenness(vault: Path) -> None:
    a = two_cliques(vault)
    top = sorted(a.betweenness, key=lambda n: -a.betweenness[n])[:2]
    assert sorted(labels(a, top)) == ["A1", "B1"]


def shared_thinkers(vault: Path) -> Project:
    return vault_of(
        vault,
        {
            "Deterrence": concept("Deterrence", thinkers=["Robert Jervis", "Glenn Snyder"]),
            "Security Dilemma": concept("Security Dilemma", thinkers=["[[Robert Jervis]]", "John Herz"]),
            "Robert Jervis": "---\ntype: thinker\naliases: [Jervis]\n---\n# Robert Jervis\n",
            "Spiral Model": concept("Spiral Model", thinkers=["Glenn Snyder", "Robert Jervis"]),
            "Island": concept("Island", thinkers=["Nobody Else"]),
        },
    )


def test_the_known_shortest_path_with_directions(vault: Path) -> None:
    project = shared_thinkers(vault)
    out = explain_path(project, "Security Dilemma", "Deterrence", all_paths=False)
    assert out == "Security Dilemma —key thinker→ Robert Jervis ←key thinker— Deterrence\n"
    assert explain_path(project, "Jervis", "Robert Jervis", all_paths=True) == "Robert Jervis\n"
    back = explain_path(project, "deterrence", "security dilemma", all_paths=False)
    assert back == "Deterrence —key thinker→ Robert Jervis ←key thinker— Security Dilemma\n"


def test_all_shortest_paths_and_names_without_notes(vault: Path) -> None:
    project = shared_thinkers(vault)
    out = explain_path(project, "Spiral Model", "Deterrence", all_paths=True)
    assert out.splitlines() == [
        "Spiral Model —key thinker→ Glenn Snyder ←key thinker— Deterrence",
        "Spiral Model —key thinker→ Robert Jervis ←key thinker— Deterrence",
    ]
    # thinkers without a note, by label; thinkers with one, by alias
    assert explain_path(project, "glenn snyder", "Jervis", False) == (
        "Glenn Snyder ←key thinker— Deterrence —key thinker→ Robert Jervis\n"
    )


def test_unknown_names_and_missing_paths_are_clear_errors(vault: Path) -> None:
    project = shared_thinkers(vault)
    with pytest.raises(PathError, match="no note or entity named 'Deterence'; did you mean 'Deterrence'"):
        explain_path(project, "Deterence", "Island", False)
    with pytest.raises(PathError, match="no path between 'Island' and 'Deterrence'"):
        explain_path(project, "Island", "Deterrence", False)
    result = CliRunner().invoke(main, ["path", "Island", "Nowhere", "--content", str(vault)])
    assert result.exit_code == 1
    assert "no note or entity named 'Nowhere'" in result.stderr


def test_related_through_shared_neighbours(vault: Path) -> None:
    a = analyse(shared_thinkers(vault))
    ranked = a.related(iri("concept", "deterrence"), kind="concept")
    # Spiral Model shares two thinkers with Deterrence, Security Dilemma one
    assert labels(a, [n for n, _ in ranked]) == ["Spiral Model", "Security Dilemma"]
    assert ranked[0][1] > ranked[1][1] > 0
    assert iri("concept", "island") not in dict(a.related(iri("concept", "deterrence"), k=50))


def test_orphans_gaps_and_spirals(vault: Path) -> None:
    notes = {
        "Fear": concept("Fear", thinkers=["Herz"], causes=["Arming"]),
        "Arming": concept("Arming", thinkers=["Herz"], causes=["Rivalry"]),
        "Rivalry": concept("Rivalry", thinkers=["Herz"], causes=["Fear"]),
        "Quiet": concept("Quiet", definition=False, related=["Fear"]),
        "Alone": "---\ntype: concept\n---\n# Alone\n\n## Definition\nBy itself.\n",
    }
    a = analyse(vault_of(vault, notes))
    assert labels(a, a.orphans) == ["Alone"]
    assert labels(a, a.missing_definition) == ["Quiet"]
    assert labels(a, a.missing_thinker) == ["Alone", "Quiet"]
    # Fear has cause Arming, which has cause Rivalry, which has cause Fear: a spiral
    assert [labels(a, c) for c in a.cycles] == [["Arming", "Fear", "Rivalry"]]
    report = stats_report(load_project(vault), "text")
    assert "Arming → Fear → Rivalry → Arming" in report
    assert "Alone (Alone.md)" in report


def test_layout_is_in_the_unit_square_and_fast_enough_for_thousands() -> None:
    g = nx.powerlaw_cluster_graph(2000, 3, 0.1, seed=1)
    pos = layout(g)
    assert len(pos) == 2000
    assert all(0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 for x, y in pos.values())
    assert len(set(pos.values())) > 1990
    assert layout(g) == pos
    assert layout(nx.Graph()) == {}


# -- the bundled content ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> Project:
    return load_project(CONTENT)


@pytest.fixture(scope="module")
def bundled_analysis(bundled: Project) -> Analysis:
    return analyse(bundled)


def test_security_dilemma_is_among_the_three_most_central_concepts(bundled_analysis: Analysis) -> None:
    top = [iri for iri, _ in bundled_analysis.central_concepts(3)]
    assert iri("concept", "security-dilemma") in top


def test_cli_path_finds_security_dilemma_to_deterrence() -> None:
    result = CliRunner().invoke(main, ["path", "Security Dilemma", "Deterrence", "--content", str(CONTENT)])
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert line.startswith("Security Dilemma ") and line.endswith(" Deterrence")
    assert "→" in line


def test_cli_stats_text_and_json() -> None:
    runner = CliRunner()
    text = runner.invoke(main, ["stats", str(CONTENT)])
    assert text.exit_code == 0, text.output
    for heading in ("Nodes by kind", "Most central concepts", "Most central thinkers", "Communities"):
        assert heading in text.stdout
    data = json.loads(runner.invoke(main, ["stats", str(CONTENT), "--format", "json"]).stdout)
    assert set(data) >= {
        "counts",
        "central_concepts",
        "central_thinkers",
        "communities",
        "orphans",
        "missing_definition",
        "missing_key_thinker",
        "cycles",
    }
    assert data["counts"]["concept"] == 26
    assert {"Security Dilemma"} <= {c["label"] for c in data["central_concepts"][:3]}
    members = [m["iri"] for c in data["communities"] for m in c["members"]]
    assert len(members) == len(set(members)) == data["nodes"]


def test_the_analytics_graph_answers_sparql_order_by(bundled: Project, bundled_analysis: Analysis) -> None:
    measures = NoteGraph(
        RelPath("analytics"),
        analytics_graph_iri(BASE),
        URIRef(BASE),
        tuple(analytics_triples(bundled_analysis, BASE)),
        (),
    )
    for engine in ("oxigraph", "rdflib"):
        ds = build_dataset([*bundled.ordered_graphs(), measures], engine)
        answer = run(
            ds,
            "SELECT ?c ?rank WHERE { ?c sd:pageRank ?rank } ORDER BY DESC(?rank) LIMIT 3",
            engine=engine,
        )
        ranks = [float(str(r[1])) for r in answer.rows]
        assert len(ranks) == 3 and ranks == sorted(ranks, reverse=True)
        assert URIRef(iri("concept", "security-dilemma")) in [r[0] for r in answer.rows]
        graph = run(
            ds,
            "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?c sd:community ?n } }",
            engine=engine,
        )
        assert [r[0] for r in graph.rows] == [analytics_graph_iri(BASE)]


def test_the_ontology_declares_the_measures(bundled: Project) -> None:
    for prop in (SD.pageRank, SD.betweenness, SD.community):
        assert prop in bundled.ontology.datatype_props
        assert prop in bundled.ontology.labels


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_network_exports_parse_back(bundled: Project, bundled_analysis: Analysis, fmt: str) -> None:
    text = export_network(bundled, fmt)
    read = nx.read_graphml if fmt == "graphml" else nx.read_gexf
    g = read(io.BytesIO(text.encode("utf-8")))
    assert g.number_of_nodes() == len(bundled_analysis.labels)
    assert g.number_of_edges() == len(bundled_analysis.edges)
    node = g.nodes[iri("concept", "security-dilemma")]
    assert node["label"] == "Security Dilemma" and node["kind"] == "concept"
    assert float(node["pagerank"]) == pytest.approx(bundled_analysis.pagerank[iri("concept", "security-dilemma")])
    assert export_network(bundled, fmt) == text


def test_two_runs_give_identical_results() -> None:
    first, second = load_project(CONTENT), load_project(CONTENT)
    a, b = analyse(first), analyse(second)
    assert a.communities == b.communities
    assert a.layout == b.layout
    assert analytics_triples(a, BASE) == analytics_triples(b, BASE)
    assert stats_report(first, "json") == stats_report(second, "json")
    assert export_network(first, "gexf") == export_network(second, "gexf")


@settings(max_examples=60, deadline=None)
@given(
    edges=st.lists(st.tuples(st.integers(0, 24), st.integers(0, 24)), max_size=80),
    isolated=st.integers(0, 3),
    k=st.one_of(st.none(), st.integers(1, 30)),
)
def test_betweenness_is_networkx_betweenness(edges: list[tuple[int, int]], isolated: int, k: int | None) -> None:
    g = nx.Graph()
    g.add_nodes_from(f"n{i}" for i in range(25 + isolated))
    g.add_edges_from((f"n{a}", f"n{b}") for a, b in edges)
    ours = betweenness(g, k, seed=7)
    theirs = nx.betweenness_centrality(g, k=k if k is None or k < len(g) else None, normalized=True, seed=7)
    assert ours.keys() == {str(v) for v in theirs}
    for v, value in theirs.items():
        assert ours[str(v)] == pytest.approx(value, abs=1e-12, nan_ok=True)


def adamic_adar(
    neighbours: dict[str, tuple[str, ...]], kinds: dict[str, str], iri: str, k: int, kind: str | None
) -> list[tuple[str, float]]:
    """The score as defined: a loop over the shared neighbours, every candidate sorted."""
    scores: dict[str, float] = defaultdict(float)
    for w in neighbours.get(iri, ()):
        if len(neighbours[w]) >= 2:
            for v in neighbours[w]:
                if v != iri and (kind is None or kinds[v] == kind):
                    scores[v] += 1 / math.log(len(neighbours[w]))
    ranked = sorted((-round(s, 9), v) for v, s in scores.items())
    return [(v, -s) for s, v in ranked[:k]]


@settings(max_examples=80, deadline=None)
@given(
    size=st.integers(2, 150) | st.integers(100, 150),
    edges=st.lists(st.tuples(st.integers(0, 149), st.integers(0, 149)), max_size=300),
    hubs=st.lists(st.tuples(st.integers(0, 149), st.integers(0, 40), st.integers(1, 3)), min_size=1, max_size=4),
    kinds=st.lists(st.sampled_from(["concept", "thinker", "era"]), min_size=150, max_size=150),
    k=st.integers(0, 90),
    ask=st.sampled_from([None, "concept", "thinker", "era", "work"]),
)
def test_relatedness_ranks_as_the_plain_loop(
    size: int,
    edges: list[tuple[int, int]],
    hubs: list[tuple[int, int, int]],
    kinds: list[str],
    k: int,
    ask: str | None,
) -> None:
    # hubs (a node linked to every ``step``-th node) give the many near-equal scores that
    # only the exact sort may order
    g = nx.Graph()
    g.add_nodes_from(f"n{i:03}" for i in range(size))
    g.add_edges_from((f"n{a % size:03}", f"n{b % size:03}") for a, b in edges if a % size != b % size)
    for hub, start, step in hubs:
        g.add_edges_from((f"n{hub % size:03}", f"n{v:03}") for v in range(start % size, size, step) if v != hub % size)
    neighbours = {n: tuple(sorted(g.adj[n])) for n in sorted(g.nodes)}
    kind_of = {n: kinds[i] for i, n in enumerate(sorted(g.nodes))}
    ranker = Relatedness(neighbours, kind_of)
    for iri in [*neighbours, "absent"]:
        assert ranker(iri, k, ask) == adamic_adar(neighbours, kind_of, iri, k, ask)


def test_the_network_key_after_a_save_looks_at_the_changed_graphs_only_and_is_the_key_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``serve`` asks for the network's key at every save: a graph replaced by one with the same
    part in the network (prose) gives the last key without the others looked at again; one with
    a relation more gives the key a fresh memo finds."""
    from dataclasses import replace

    from rdflib import Literal

    from sdwiki import analytics
    from sdwiki.analytics import AnalysisMemo, network_key
    from sdwiki.terms import SKOS

    project = load_project(CONTENT)
    memo = AnalysisMemo()
    key = network_key(project, memo)
    path = sorted(project.note_graphs)[0]
    graph = project.note_graphs[path]
    prose = replace(graph, triples=(*graph.triples, (graph.subject, SKOS.scopeNote, Literal("More prose."))))
    edited = replace(project, note_graphs={**project.note_graphs, path: prose})
    looked: list[NoteGraph] = []
    real = analytics._signature
    monkeypatch.setattr(analytics, "_signature", lambda g: looked.append(g) or real(g))
    assert network_key(edited, memo) == key
    assert looked == [prose]  # the one graph that changed, no other
    monkeypatch.undo()
    assert memo.signatures[id(prose)][0] is prose and id(graph) not in memo.signatures
    other = next(iri for p, iri in sorted(project.registry.note_iri.items()) if p != path)
    linked = replace(prose, triples=(*prose.triples, (graph.subject, SD.hasExample, other)))
    related = replace(project, note_graphs={**project.note_graphs, path: linked})
    assert network_key(related, memo) == network_key(related, AnalysisMemo()) != key
