"""The competency questions, asked of the bundled content, with both engines."""

from __future__ import annotations

import itertools
import re
from functools import cache
from pathlib import Path

import pytest
from rdflib import Dataset

from sdwiki.pipeline import Project, load_project
from sdwiki.query import Answer, run
from tests.conftest import CONTENT

ENGINES = ["oxigraph", "rdflib"]


@cache
def project() -> Project:
    return load_project(CONTENT)


@cache
def dataset(engine: str) -> Dataset:
    return project().dataset(engine)  # type: ignore[arg-type]


def ask(engine: str, text: str) -> Answer:
    return run(dataset(engine), text, engine=engine)


def column(answer: Answer, var: str = "") -> list[str]:
    i = answer.variables.index(var) if var else 0
    return [str(r[i]) for r in answer.rows]


SD = '?sd rdfs:label "Security Dilemma" ; a sd:Concept .'


@pytest.mark.parametrize("engine", ENGINES)
def test_cq1_who_coined_the_term_and_when(engine: str) -> None:
    a = ask(engine, f"SELECT ?who ?year WHERE {{ {SD} ?sd sd:coinedBy/rdfs:label ?who ; sd:coinedIn ?year }}")
    assert [(str(w), str(y)) for w, y in a.rows] == [("John Herz", "1950")]


@pytest.mark.parametrize("engine", ENGINES)
def test_cq2_key_thinkers(engine: str) -> None:
    a = ask(engine, f"SELECT DISTINCT ?name WHERE {{ {SD} ?sd sd:keyThinker/rdfs:label ?name }}")
    names = set(column(a))
    assert {"John Herz", "Robert Jervis", "Charles Glaser"} <= names
    # every scholar the encyclopedia entry names is a key thinker
    assert {
        "Herbert Butterfield",
        "Barry Posen",
        "Ken Booth",
        "Nicholas Wheeler",
        "Stephen Van Evera",
        "Charles Lipson",
        "Brian Job",
    } <= names


SEED_STEPS = [
    "State A feels insecure",
    "State A builds military/defenses",
    "State B perceives threat",
    "State B responds with own buildup",
    "State A feels even less secure",
    "Arms race / spiral of hostility",
]


@pytest.mark.parametrize("engine", ENGINES)
def test_cq3_mechanism_steps_in_order(engine: str) -> None:
    a = ask(
        engine,
        f"""SELECT ?label WHERE {{ {SD} ?sd sd:hasMechanism ?m . ?m sd:step ?s .
            ?s sd:position ?p ; rdfs:label ?label }} ORDER BY ?p""",
    )
    assert column(a) == SEED_STEPS
    chain = ask(
        engine,
        f"""SELECT ?a ?b WHERE {{ {SD} ?sd sd:hasMechanism/sd:step ?x . ?x sd:leadsTo ?y .
            ?x rdfs:label ?a . ?y rdfs:label ?b }}""",
    )
    assert sorted((str(a), str(b)) for a, b in chain.rows) == sorted(itertools.pairwise(SEED_STEPS))


SEED_STRATEGIES = {
    "Transparency": {"Arms control verification", "Military exchanges", "Confidence-building measures"},
    "Defensive Postures": {"Clearly defensive deployments", "No first-use pledges", "Arms limitations"},
    "Institutions": {"Security regimes", "Communication channels", "Crisis management mechanisms"},
    "Signaling": {"Restraint", "Unilateral gestures", "Track II diplomacy"},
}


@pytest.mark.parametrize("engine", ENGINES)
def test_cq4_mitigation_strategies_and_measures(engine: str) -> None:
    a = ask(
        engine,
        f"""SELECT ?strategy ?measure WHERE {{ {SD} ?sd sd:mitigatedBy ?s . ?s rdfs:label ?strategy ;
            sd:measure/rdfs:label ?measure }}""",
    )
    got: dict[str, set[str]] = {}
    for s, m in a.rows:
        got.setdefault(str(s), set()).add(str(m))
    assert set(got) == set(SEED_STRATEGIES)
    for strategy, measures in SEED_STRATEGIES.items():
        assert measures <= got[strategy]
    # the measures are linked back: a strategy's side is as queryable as the concept's
    back = ask(engine, 'SELECT ?c WHERE { ?s rdfs:label "Signaling" ; sd:mitigates/rdfs:label ?c }')
    assert "Security Dilemma" in column(back)


@pytest.mark.parametrize("engine", ENGINES)
def test_cq5_cold_war_examples(engine: str) -> None:
    a = ask(
        engine,
        f"""SELECT ?label WHERE {{ {SD} ?sd sd:hasExample ?e . ?e sd:era/rdfs:label "Cold War" ;
            rdfs:label ?label }}""",
    )
    labels = {x.casefold() for x in column(a)}
    assert {"nuclear arms race", "us-soviet buildup", "cuban missile crisis"} <= labels
    eras = ask(engine, f"SELECT DISTINCT ?era WHERE {{ {SD} ?sd sd:hasExample/sd:era/rdfs:label ?era }}")
    assert {"Pre-WWI", "Cold War", "Contemporary"} <= set(column(eras))


@pytest.mark.parametrize("engine", ENGINES)
def test_cq6_related_concepts_with_definitions(engine: str) -> None:
    a = ask(
        engine,
        f"""SELECT ?label ?definition WHERE {{ {SD} ?sd skos:related ?c .
            ?c rdfs:label ?label ; skos:definition ?definition }}""",
    )
    got = dict((str(label), str(d)) for label, d in a.rows)
    assert {"Realism", "Deterrence", "Arms Race", "Anarchy", "Balance of Power"} <= set(got)
    assert all(len(d) > 20 for d in got.values())


# -- reconciliation and the other sections -------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_surname_in_reading_list_reaches_the_full_thinker(engine: str) -> None:
    a = ask(
        engine,
        """SELECT ?author ?year WHERE { ?w dcterms:title "Cooperation Under the Security Dilemma" ;
           dcterms:creator ?t ; dcterms:date ?year . ?t rdfs:label ?author ; a sd:Thinker }""",
    )
    assert [(str(a), str(y)) for a, y in a.rows] == [("Robert Jervis", "1978")]
    same = ask(
        engine,
        f"""ASK {{ {SD} ?sd sd:keyThinker ?t . ?w dcterms:title "Cooperation Under the Security Dilemma" ;
            dcterms:creator ?t }}""",
    )
    assert same.boolean is True


@pytest.mark.parametrize("engine", ENGINES)
def test_alias_reaches_the_same_thinker(engine: str) -> None:
    a = ask(engine, 'SELECT DISTINCT ?t WHERE { ?t skos:altLabel "Hertz" }')
    b = ask(engine, f"SELECT DISTINCT ?t WHERE {{ {SD} ?sd sd:coinedBy ?t }}")
    assert column(a) == column(b) and len(column(a)) == 1
    assert project().corpus.resolve_name("hertz").title == "John Herz"  # type: ignore[union-attr]


@pytest.mark.parametrize("engine", ENGINES)
def test_cause_refers_to_the_concept_it_names(engine: str) -> None:
    a = ask(
        engine,
        f"""SELECT ?target WHERE {{ {SD} ?sd sd:hasCause ?c . ?c rdfs:label "Anarchy" ;
            sd:refersTo/rdfs:label ?target }}""",
    )
    assert column(a) == ["Anarchy"]


@pytest.mark.parametrize("engine", ENGINES)
def test_causes_severity_limitations_readings(engine: str) -> None:
    causes = ask(
        engine,
        f"SELECT ?l WHERE {{ {SD} ?sd sd:hasCause ?c . ?c rdfs:label ?l ; sd:position ?p }} ORDER BY ?p",
    )
    assert column(causes)[:4] == [
        "Anarchy",
        "Uncertainty",
        "Offense-defense ambiguity",
        "Worst-case thinking",
    ]
    factors = ask(
        engine,
        f"""SELECT ?factor ?cond ?effect WHERE {{ {SD} ?sd sd:hasSeverityFactor ?f .
            ?f rdfs:label ?factor ; sd:attributedTo/rdfs:label "Robert Jervis" ;
            sd:condition ?c . ?c rdfs:label ?cond ; sd:effect ?effect }}""",
    )
    rows = {(str(f), str(c)) for f, c, _ in factors.rows}
    assert {
        ("Offense-Defense Balance", "Offense-dominant world"),
        ("Offense-Defense Balance", "Defense-dominant world"),
        ("Offense-Defense Distinguishability", "Indistinguishable"),
        ("Offense-Defense Distinguishability", "Distinguishable"),
    } <= rows
    limits = ask(engine, f"SELECT ?l WHERE {{ {SD} ?sd sd:hasLimitation/rdfs:label ?l }}")
    # the seed's four limitations, in the note's own words
    text = " ".join(column(limits)).casefold()
    for fact in ("security rather than maximum power", "aggressive", "deterrence", "nuclear weapons"):
        assert fact in text
    readings = ask(
        engine,
        f"""SELECT ?title ?author ?year WHERE {{ {SD} ?sd sd:furtherReading ?w .
            ?w dcterms:title ?title ; dcterms:date ?year ; dcterms:creator/rdfs:label ?author }}""",
    )
    got = {(str(t), str(a), str(y)) for t, a, y in readings.rows}
    assert ("Rational Theory of International Politics", "Charles Glaser", "2010") in got


@pytest.mark.parametrize("engine", ENGINES)
def test_provenance_of_a_fact(engine: str) -> None:
    a = ask(
        engine,
        """SELECT ?g ?path ?line WHERE { GRAPH ?g { ?c sd:coinedBy ?t ; sd:coinedIn "1950"^^xsd:gYear ;
           rdfs:label "Security Dilemma" } ?c sd:sourcePath ?path ; sd:sourceLine ?line }""",
    )
    assert len(a.rows) == 1
    g, path, line = a.rows[0]
    assert str(g).endswith("/graph/concepts/security-dilemma")
    assert str(path) == "concepts/Security Dilemma.md"
    text = (CONTENT / str(path)).read_text("utf-8").split("\n")
    assert text[int(str(line)) - 1] == "# Security Dilemma"


def test_saved_queries_run_and_engines_agree() -> None:
    queries = sorted((CONTENT / "queries").glob("*.rq"))
    assert len(queries) >= 8
    for q in queries:
        text = q.read_text("utf-8")
        assert text.startswith("# title: ") and "\n# description: " in text
        answers = [ask(engine, text) for engine in ENGINES]
        assert answers[0].rows, f"{q.name} returns no rows"
        # GROUP_CONCAT's order is unspecified by SPARQL: compare each value's words as a multiset
        norm = [
            sorted(tuple(" ".join(sorted(re.findall(r"\w+", str(v or "")))) for v in row) for row in a.rows)
            for a in answers
        ]
        assert norm[0] == norm[1], q.name


def test_content_is_clean_and_complete() -> None:
    from sdwiki.shapes import validate

    p = project()
    problems = [d.format() for d in (*p.diagnostics, *validate(p))]
    assert problems == []
    kinds = [n.kind for n in p.corpus.notes.values()]
    assert len(kinds) >= 30
    assert kinds.count("thinker") >= 10
    # no orphan: every note links or is linked
    for path in p.corpus.notes:
        linked = any(r.kind == "note" and r.target != path for r in p.corpus.resolved[path])
        assert linked or p.corpus.backlinks.get(path), f"{path} is an orphan"


def test_every_named_thinker_has_a_thinker_note() -> None:
    p = project()
    a = ask("oxigraph", "SELECT DISTINCT ?t ?name WHERE { ?t a sd:Thinker ; rdfs:label ?name }")
    for t, name in a.rows:
        assert t in p.registry.iri_note, f"{name} has no thinker note"


def test_required_notes_exist() -> None:
    titles = {n.title for n in project().corpus.notes.values()}
    for title in [
        "Security Dilemma", "Realism", "Structural Realism", "Defensive Realism", "Deterrence",
        "Arms Race", "Anarchy", "Balance of Power", "Security Spiral", "Offense-Defense Balance",
        "Democratic Peace", "Revisionist and Status Quo Powers", "Preemptive Attack",
        "Ethnic Security Dilemma", "Weak and Failed States", "Confidence-Building Measures",
        "Arms Control", "John Herz", "Herbert Butterfield", "Robert Jervis", "Charles Glaser",
        "Barry Posen", "Ken Booth", "Nicholas Wheeler", "Stephen Van Evera", "Charles Lipson",
        "Brian Job",
    ]:  # fmt: skip
        assert title in titles


def test_content_folder_path() -> None:
    assert Path(CONTENT).is_dir()
