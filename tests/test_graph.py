"""The seed note's graph (golden Turtle), SHACL shapes, exports, refusals, per-note replacement.

After an intended change to extraction, regenerate the golden file with::

    SDWIKI_REGEN=1 python -m pytest tests/test_graph.py -k golden
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from rdflib import Dataset, Graph, Literal
from rdflib.compare import graph_diff, isomorphic, to_isomorphic

from sdwiki.export import RDF_FORMATS, export
from sdwiki.graph import build_dataset, replace_note
from sdwiki.notes import read_note
from sdwiki.pipeline import analyse, load_project, read_notes
from sdwiki.query import QueryError, run
from sdwiki.shapes import validate
from sdwiki.types import RelPath
from tests.conftest import SEED_NOTE

GOLDEN = Path(__file__).parent / "data" / "seed" / "expected.ttl"


def seed_vault(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    folder.mkdir()
    shutil.copy(SEED_NOTE, folder / "Security Dilemma.md")
    return folder


def readable_diff(got: Graph, want: Graph) -> str:
    _, only_got, only_want = graph_diff(to_isomorphic(got), to_isomorphic(want))
    lines = ["only in the extracted graph:"]
    lines += sorted(f"  {s.n3()} {p.n3()} {o.n3()}" for s, p, o in only_got)[:40]
    lines += ["only in the golden file:"]
    lines += sorted(f"  {s.n3()} {p.n3()} {o.n3()}" for s, p, o in only_want)[:40]
    return "\n".join(lines)


def test_seed_note_matches_golden_turtle(tmp_path: Path) -> None:
    project = load_project(seed_vault(tmp_path))
    got = Graph()
    got.parse(data=export(project.ordered_graphs(), "ttl"), format="turtle")
    if os.environ.get("SDWIKI_REGEN"):
        GOLDEN.write_text(export(project.ordered_graphs(), "ttl"), "utf-8")
    want = Graph().parse(GOLDEN, format="turtle")
    assert isomorphic(got, want), readable_diff(got, want)


def test_export_round_trips(tmp_path: Path) -> None:
    project = load_project(seed_vault(tmp_path))
    graphs = project.ordered_graphs()
    union = Graph()
    union.parse(data=export(graphs, "nt"), format="nt")
    for fmt, parser in {"ttl": "turtle", "nt": "nt", "jsonld": "json-ld"}.items():
        text = export(graphs, fmt)
        assert isomorphic(Graph().parse(data=text, format=parser), union), fmt
        assert export(graphs, fmt) == text  # deterministic
    for fmt, parser in {"nq": "nquads", "trig": "trig"}.items():
        ds = Dataset()
        ds.parse(data=export(graphs, fmt), format=parser)
        names = {str(c.identifier) for c in ds.graphs() if len(c)}
        assert str(graphs[0].graph) in names
        assert isomorphic(ds.graph(graphs[0].graph), Graph().parse(data=export(graphs, "nt"), format="nt"))
    assert set(RDF_FORMATS) == {"ttl", "nt", "nq", "trig", "jsonld"}


def test_odd_titles_cannot_corrupt_exports(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "a.md").write_text(
        '---\ntitle: "A> <b> \\"q\\" \\n line"\naliases: ["x\\"y", "<z>"]\n---\n'
        '## Definition\nText with "quotes" and \\ backslash and\nnewline.\n',
        "utf-8",
    )
    graphs = load_project(folder).ordered_graphs()
    for fmt, parser in {"ttl": "turtle", "nt": "nt", "jsonld": "json-ld"}.items():
        g = Graph().parse(data=export(graphs, fmt), format=parser)
        assert Literal('A> <b> "q" line') in set(g.objects())


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("SELECT * WHERE { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }", "SERVICE"),
        ("SELECT * FROM <file:///etc/passwd> WHERE { ?s ?p ?o }", "FROM"),
        ("SELECT * FROM NAMED <http://example.org/x> WHERE { GRAPH ?g { ?s ?p ?o } }", "FROM"),
        ("LOAD <http://example.org/data.ttl>", "LOAD"),
        ("INSERT DATA { <urn:a> <urn:b> <urn:c> }", "INSERT"),
        ("DELETE WHERE { ?s ?p ?o }", "DELETE"),
        ("DROP ALL", "DROP"),
        ("# comment\nPREFIX ex: <urn:x>\nselect * where { service ex:x { ?s ?p ?o } }", "SERVICE"),
    ],
)
def test_refusals(tmp_path: Path, engine: str, query: str, needle: str) -> None:
    project = load_project(seed_vault(tmp_path))
    ds = project.dataset(engine)  # type: ignore[arg-type]
    with pytest.raises(QueryError) as info:
        run(ds, query, engine=engine)
    assert info.value.kind == "refused"
    assert needle in info.value.message
    assert info.value.line >= 1


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_keywords_inside_strings_and_iris_are_not_refused(tmp_path: Path, engine: str) -> None:
    project = load_project(seed_vault(tmp_path))
    ds = project.dataset(engine)  # type: ignore[arg-type]
    q = 'SELECT ?x WHERE { ?x rdfs:label ?l FILTER(?l != "SERVICE LOAD INSERT" && ?x != <urn:from:drop>) }'
    assert run(ds, q, engine=engine).rows
    own = str(project.ordered_graphs()[0].graph)
    assert run(ds, f"SELECT ?s FROM <{own}> WHERE {{ ?s sd:coinedBy ?t }}", engine="oxigraph").rows or (
        engine == "rdflib"
    )


def test_syntax_error_position(tmp_path: Path) -> None:
    ds = load_project(seed_vault(tmp_path)).dataset()
    with pytest.raises(QueryError) as info:
        run(ds, "SELECT ?x\nWHERE { ?x ?y }")
    assert (info.value.kind, info.value.line) == ("syntax", 2)
    assert info.value.column > 1


def test_prefixes_the_dataset_binds_need_no_declaration(tmp_path: Path) -> None:
    """The common prefixes are predeclared; a prefix the dataset binds works too, and one nobody
    declared is a syntax error at its place."""
    ds = load_project(seed_vault(tmp_path)).dataset()
    ds.bind("mine", "https://w3id.org/sdwiki/ontology#")
    common = run(ds, "SELECT ?c WHERE { ?c a sd:Concept }").rows
    assert common and run(ds, "SELECT ?c WHERE { ?c a mine:Concept }").rows == common
    with pytest.raises(QueryError) as info:
        run(ds, "SELECT ?c WHERE {\n  ?c a nobody:Concept }")
    assert (info.value.kind, info.value.line) == ("syntax", 2)


SHAPE_CASES = {
    "no definition": ("---\ntype: concept\n---\n# A\n\n## Related Concepts\n- [[B]]\n", "definition"),
    "mechanism of one step": ("# A\n## Definition\nx\n## Core Mechanism\n```\nOnly step\n```\n", "two steps"),
    "condition without effect": (
        "# A\n## Definition\nx\n## Severity Factors\n### Factor\n- **Condition only**\n",
        "effect",
    ),
    "factor without conditions": (
        "# A\n## Definition\nx\n## Severity Factors\n### Empty Factor\n",
        "condition",
    ),
    "two coinage years": (
        "---\ncoined_in: [1950, 1951]\n---\n# A\n## Definition\nx\n",
        "at most one year",
    ),
}


@pytest.mark.parametrize("case", sorted(SHAPE_CASES))
def test_shape_violations_are_reported_at_their_note_and_line(tmp_path: Path, case: str) -> None:
    text, message = SHAPE_CASES[case]
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "a.md").write_text(text, "utf-8")
    (folder / "b.md").write_text("# B\n## Definition\nfine\n## Related Concepts\n- [[A]]\n", "utf-8")
    diags = validate(load_project(folder))
    hits = [d for d in diags if d.code == "shape-violation" and message in d.message]
    assert hits, [d.format() for d in diags]
    assert all(d.file == "a.md" and d.line >= 1 for d in hits)


def test_replacing_one_note_replaces_only_its_graph(tmp_path: Path) -> None:
    folder = seed_vault(tmp_path)
    (folder / "Realism.md").write_text("# Realism\n## Definition\nA theory.\n", "utf-8")
    notes, att, problems = read_notes(folder)
    before = analyse(notes, att, problems, folder)
    for engine in ("oxigraph", "rdflib"):
        ds = build_dataset(before.ordered_graphs(), engine)  # type: ignore[arg-type]
        (folder / "Realism.md").write_text("# Realism\n## Definition\nA changed theory.\n", "utf-8")
        changed = read_note(folder, RelPath("Realism.md"))
        after = analyse([n for n in notes if n.path != "Realism.md"] + [changed], att, problems, folder)
        replace_note(ds, before.note_graphs[RelPath("Realism.md")], after.note_graphs[RelPath("Realism.md")])
        fresh = build_dataset(after.ordered_graphs(), engine)  # type: ignore[arg-type]
        q = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"
        assert sorted(run(ds, q).rows) == sorted(run(fresh, q).rows)
        defs = run(ds, 'SELECT ?d WHERE { ?c rdfs:label "Realism" ; skos:definition ?d }').rows
        assert [str(d[0]) for d in defs] == ["A changed theory."]
        (folder / "Realism.md").write_text("# Realism\n## Definition\nA theory.\n", "utf-8")


def test_typed_frontmatter_keys_give_the_same_triples_as_sections(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "herz.md").write_text("---\ntype: thinker\n---\n# John Herz\n", "utf-8")
    (folder / "a.md").write_text(
        "---\ncoined_by: '[[John Herz]]'\ncoined_in: 1950\n---\n# A\n## Definition\nx\n", "utf-8"
    )
    (folder / "b.md").write_text(
        "# B\n## Definition\nx\n## Key Thinkers\n- [[John Herz]] (coined term, 1950)\n", "utf-8"
    )
    ds = load_project(folder).dataset()
    q = """SELECT ?p ?o WHERE {{ ?c rdfs:label "{}" ; ?p ?o
           FILTER(?p IN (sd:coinedBy, sd:coinedIn, sd:keyThinker)) }} ORDER BY ?p ?o"""
    assert run(ds, q.format("A")).rows == run(ds, q.format("B")).rows
    assert len(run(ds, q.format("A")).rows) == 3


def test_from_names_one_note_graph_on_both_engines(tmp_path: Path) -> None:
    folder = seed_vault(tmp_path)
    (folder / "Realism.md").write_text("# Realism\n## Definition\nA theory.\n", "utf-8")
    project = load_project(folder)
    own = next(str(g.graph) for g in project.ordered_graphs() if g.path == "Realism.md")
    q = f"SELECT ?s ?p ?o FROM <{own}> WHERE {{ ?s ?p ?o }}"
    counts = {e: len(run(project.dataset(e), q, engine=e).rows) for e in ("oxigraph", "rdflib")}  # type: ignore[arg-type]
    assert counts["oxigraph"] == counts["rdflib"] == len(project.note_graphs["Realism.md"].triples)  # type: ignore[index]


def test_loading_in_steps_and_from_files_gives_the_store_loading_at_once_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large texts are loaded in steps of whole lines, and the build writes the whole graph to
    files a note graph at a time and loads the store from them (never the whole text in
    memory), stopping between steps when a new save comes: the store, and so every file
    Oxigraph writes from it, must be the one loading the N-Quads text at once makes."""
    import pyoxigraph as ox

    from sdwiki import graph
    from sdwiki.graph import load_files_until, load_nquads, nquads, nquads_parts, write_nquads

    project = load_project(Path(__file__).parent.parent / "content", "https://w3id.org/sdwiki/id/")
    graphs = project.ordered_graphs()
    text = nquads(graphs, with_default=True)
    whole = ox.Store()
    whole.load(text.encode("utf-8"), format=ox.RdfFormat.N_QUADS)
    named, triples = tmp_path / "graph.nq", tmp_path / "triples.nt"
    with named.open("wb") as a, triples.open("wb") as b:
        write_nquads(graphs, a, b)
    assert named.read_text("utf-8") == nquads_parts(graphs, with_default=False)[0]
    repeated = triples.read_text("utf-8").splitlines()
    assert len(repeated) > len(set(repeated))  # notes state some triples twice: the store keeps one
    monkeypatch.setattr(graph, "CHUNK", 4096)
    stepped = load_nquads(text).store._inner  # type: ignore[attr-defined]
    assert len(text) // 4096 > 10 and len(stepped) == len(whole)
    asked: list[int] = []
    assert load_files_until([(named, "nq")], lambda: len(asked) > 3 or bool(asked.append(1))) is None
    assert len(asked) == 4  # stopped between steps
    loaded = load_files_until([(named, "nq"), (triples, "nt")], lambda: False)
    assert loaded is not None
    store = loaded.store._inner  # type: ignore[attr-defined]
    assert len(store) == len(whole)
    for got in (store, stepped):  # every graph, default included, in the store's order
        assert got.dump(format=ox.RdfFormat.TRIG) == whole.dump(format=ox.RdfFormat.TRIG)
