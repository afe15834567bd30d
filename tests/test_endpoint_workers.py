"""The endpoint's worker pool and its fast paths, against real worker processes and servers.

- SPARQL JSON written straight from Oxigraph's terms is the document the rdflib path writes.
- ``check`` skipping the blanking when no refused keyword occurs refuses exactly what it did.
- Query strings and forms are read as ``urllib.parse.parse_qsl`` reads them.
- Oxigraph is handed only the predeclared prefixes a query names, and every one still works.
- Under ``sdwiki serve`` (uvloop), large replies cross the worker pipe whole.
- Queries queued behind a runaway query are answered by other workers, within the time limit.
- The workers' memory cap is applied (a cap too small for the graph stops the worker).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, quote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdflib import Dataset

from sdwiki.endpoint import Endpoint
from sdwiki.graph import nquads
from sdwiki.ontology import PREFIXES
from sdwiki.pipeline import Project, load_project
from sdwiki.protocol import ProtocolError, _params, parse_request
from sdwiki.query import (
    _FROM,
    _SERVICE,
    _UPDATE,
    QueryError,
    _answer,
    blank_out,
    check,
    evaluate_oxigraph,
    json_results,
    prefixes_of,
    results_json,
    used_prefixes,
)
from sdwiki.settings import Settings
from sdwiki.workers import QueryPool, Snapshot, _Graph, delta_path, memory_cap
from tests.conftest import CONTENT
from tests.servers import app_server, free_port, sdwiki_serve


@cache
def project() -> Project:
    return load_project(CONTENT)


@cache
def dataset() -> Dataset:
    return project().dataset("oxigraph")


# -- SPARQL JSON without rdflib terms --------------------------------------------------------

QUERIES = [
    "SELECT ?c ?label WHERE { ?c a sd:Concept ; rdfs:label ?label } ORDER BY ?label",
    "SELECT ?w ?year WHERE { ?w a sd:Work ; dcterms:date ?year } ORDER BY ?w",
    "SELECT ?s ?n WHERE { ?s sd:position ?n } ORDER BY ?s ?n",
    "SELECT ?p (COUNT(*) AS ?n) (AVG(?n0) AS ?avg) WHERE { ?s ?p ?o BIND(1 AS ?n0) } GROUP BY ?p ORDER BY ?p",
    'SELECT ?x ?y WHERE { VALUES (?x ?y) { ("a"@EN-gb UNDEF) ("01"^^xsd:integer "1.50"^^xsd:decimal) '
    '("true"^^xsd:boolean "x"^^xsd:string) (<http://example.org/a> "1e0"^^xsd:double) } }',
    "SELECT ?b WHERE { BIND(BNODE() AS ?b) }",
    'SELECT ?t WHERE { ?t rdfs:label "John Herz" }',
    "SELECT * WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o",
    'ASK { ?t rdfs:label "John Herz" }',
    'ASK { ?t rdfs:label "nobody at all" }',
]


def reference_json(text: str, limit: int) -> bytes:
    """The document the rdflib path writes (oxrdflib's term conversion, then results_json)."""
    answer = _answer(dataset().query(text, initNs=PREFIXES), limit)
    doc = json.dumps(results_json(answer), ensure_ascii=False, separators=(",", ":"))
    return doc.encode("utf-8")


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("limit", [3, 10_000])
def test_direct_json_is_the_rdflib_document(text: str, limit: int) -> None:
    store = dataset().store._inner  # type: ignore[attr-defined]
    written = json_results(evaluate_oxigraph(store, text, prefixes_of(dataset())), limit)
    assert written is not None
    body, truncated = written
    reference = reference_json(text, limit)
    if "BNODE()" in text:  # fresh blank nodes differ between two evaluations; the shape may not
        assert json.loads(body)["results"]["bindings"][0]["b"]["type"] == "bnode"
        return
    assert body == reference
    assert truncated == ('"truncated"' in reference.decode())


def test_truncation_is_signalled_in_the_document() -> None:
    store = dataset().store._inner  # type: ignore[attr-defined]
    written = json_results(evaluate_oxigraph(store, QUERIES[-3], prefixes_of(dataset())), 5)
    assert written is not None
    body, truncated = written
    doc = json.loads(body)
    assert truncated and doc["head"]["link"] == ["truncated"] and len(doc["results"]["bindings"]) == 5


# -- check: the keyword pre-filter -----------------------------------------------------------


def reference_check(text: str, graphs: frozenset[str]) -> str | None:
    """What ``check`` refused before the pre-filter: always on the blanked text."""
    blanked = blank_out(text)
    if m := _UPDATE.search(blanked):
        return m.group(1).upper()
    if _SERVICE.search(blanked):
        return "SERVICE"
    for m in _FROM.finditer(blanked):
        raw = text[m.start(2) : m.end(2)]
        if not raw.startswith("<") or raw[1:-1] not in graphs:
            return "FROM"
    return None


_PIECES = st.sampled_from(
    [
        "SELECT * WHERE { ?s ?p ?o }",
        " ",
        "\n",
        "insert",
        "DELETE",
        "load",
        "Service",
        "FROM",
        "from named",
        "<http://g/1>",
        "<file:///x>",
        "ex:g",
        '"a string with INSERT"',
        "'Service'",
        '"""long\nFROM"""',
        "# a comment with LOAD\n",
        "?insert",
        "sd:create",
        ":copy",
        "x-move",
        "add-on",
        "_",
        "{",
        "}",
        '"',
        "<",
        ">",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_check_refuses_what_it_refused_before(text: str) -> None:
    graphs = frozenset({"http://g/1"})
    expected = reference_check(text, graphs)
    try:
        check(text, graphs)
        got = None
    except QueryError as exc:
        got = exc.message.split()[0]
        got = "FROM" if got == "FROM" else got
    assert (got is None) == (expected is None), text
    if expected is not None and expected != "FROM":
        assert got == expected


_QUERY_STRING = st.lists(
    st.sampled_from(
        ["query", "=", "&", "+", "%", "%2", "%2B", "%3d", "%26", "%C3%A9", "%C3", "%A9", "%e2%82%ac", "%zz"]
    )
    | st.text(alphabet='aZ09 ?{}<>:"é€\x00', max_size=4),
    max_size=16,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(_QUERY_STRING)
def test_request_fields_are_read_as_parse_qsl_reads_them(text: str) -> None:
    """The protocol's own reader of query strings and forms against the standard library's."""
    raw = text.encode("utf-8")
    try:
        expected: list[tuple[str, str]] | None = parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict"
        )
    except UnicodeDecodeError:
        expected = None
    try:
        got: list[tuple[str, str]] | None = _params(raw, "query string")
    except ProtocolError as exc:
        assert exc.status == 400
        got = None
    assert got == expected, text
    queries = [value for name, value in got or () if name == "query"]
    single = len(queries) == 1 and "\x00" not in queries[0] and all(name != "update" for name, _ in got or ())
    if got is not None and raw.isascii() and single:
        form = parse_request("POST", b"", "application/x-www-form-urlencoded", raw, "")  # read the same way
        assert form.text == queries[0]


def test_request_fields_refuse_what_is_not_utf8() -> None:
    for raw in (b"query=%C3", b"query=%C3%28", b"query=\xff", b"query=%C3\xa9"):
        with pytest.raises(ProtocolError) as caught:
            _params(raw, "query string")
        assert caught.value.status == 400, raw
    assert _params(b"query=%C3%A9+%E2%82%AC&x&&format=json", "query string") == [
        ("query", "é €"),
        ("x", ""),
        ("format", "json"),
    ]


def test_every_predeclared_prefix_still_works_when_only_the_named_ones_are_handed_over() -> None:
    store = dataset().store._inner  # type: ignore[attr-defined]
    prefixes = prefixes_of(dataset())
    assert {"sd", "xsd", "schema", "rdfs"} <= prefixes.keys()
    for name, namespace in prefixes.items():
        text = f"SELECT ?x WHERE {{ BIND({name}:thing AS ?x) }}"
        assert set(used_prefixes(text, prefixes)) >= {name}
        rows = list(evaluate_oxigraph(store, text, prefixes))  # type: ignore[call-overload]
        assert rows[0][0].value == namespace + "thing", name
    # "xsd:" holds "sd:": both are handed over, and each keeps its own namespace
    text = "SELECT ?c WHERE { ?c a sd:Concept ; rdfs:label ?l FILTER(datatype(?l) = xsd:string) } LIMIT 1"
    assert set(used_prefixes(text, prefixes)) == {"sd", "xsd", "rdfs"}
    assert len(list(evaluate_oxigraph(store, text, prefixes))) == 1  # type: ignore[call-overload]
    # a query naming none is handed none, and one that declares its own keeps it
    assert used_prefixes("SELECT * WHERE { ?s ?p ?o } LIMIT 1", prefixes) == {}
    own = "PREFIX sd: <http://example.org/own#> SELECT ?x WHERE { BIND(sd:thing AS ?x) }"
    assert next(iter(evaluate_oxigraph(store, own, prefixes)))[0].value == "http://example.org/own#thing"  # type: ignore[call-overload]


# -- under sdwiki serve (uvloop) -------------------------------------------------------------


@pytest.fixture(scope="module")
def serve_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with sdwiki_serve(CONTENT, free_port(), cwd=tmp_path_factory.mktemp("serve")) as url:
        yield url


def test_large_replies_cross_the_pipe_whole(serve_url: str) -> None:
    """Distinct queries with answers of tens of kilobytes, from parallel clients: all whole."""
    failures: list[str] = []

    def client(i: int) -> None:
        with httpx.Client(base_url=serve_url, timeout=30) as c:
            for k in range(10):
                limit = 1000 + i * 100 + k
                text = f"SELECT ?s ?l WHERE {{ ?s rdfs:label ?l }} ORDER BY ?s ?l LIMIT {limit}"
                r = c.get(f"/sparql?query={quote(text)}", headers={"Accept": "application/sparql-results+json"})
                if r.status_code != 200 or len(r.json()["results"]["bindings"]) == 0:
                    failures.append(f"{r.status_code} {r.text[:80]}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []


# -- the pool: time limits with pipelined jobs ------------------------------------------------

TIMEOUT = 2.0
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n0 ?o }"


def test_queries_queued_behind_a_runaway_are_answered_in_time(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>t</title><body>home</body>")
    settings = Settings(query_timeout=TIMEOUT, result_limit=100)
    with app_server(CONTENT, site, settings, workers=2) as url, httpx.Client(timeout=30) as c:
        answers: list[tuple[int, float]] = []
        stopped: list[int] = []

        def runaway() -> None:
            stopped.append(c.get(f"{url}/sparql", params={"query": RUNAWAY}).status_code)

        def simple(i: int) -> None:
            with httpx.Client(timeout=30) as own:
                for k in range(15):
                    start = time.monotonic()
                    text = f'SELECT ?s WHERE {{ ?s rdfs:label "label {i} {k}" }}'
                    r = own.get(f"{url}/sparql", params={"query": text})
                    answers.append((r.status_code, time.monotonic() - start))

        threads = [threading.Thread(target=runaway)] + [threading.Thread(target=simple, args=(i,)) for i in range(6)]
        threads[0].start()
        time.sleep(0.3)  # the runaway is running
        for t in threads[1:]:
            t.start()
        for t in threads:
            t.join(60)
        assert stopped == [503]
        assert len(answers) == 90
        assert all(status == 200 for status, _ in answers), answers
        # moved to the other worker soon after it was seen to be stuck, not when the runaway was stopped
        assert max(seconds for _, seconds in answers) < TIMEOUT / 2


# -- the memory cap --------------------------------------------------------------------------


def test_memory_cap_scales_with_the_graph() -> None:
    assert memory_cap(0) == memory_cap(0, 2 * 1024**3) == 2 * 1024**3
    assert memory_cap(10**9) >= 4 * 10**9 + 2 * 1024**3


def test_memory_cap_is_applied(tmp_path: Path) -> None:
    """A worker capped below what Python and the graph need cannot start; uncapped, it can."""
    graph = tmp_path / "graph.nq"
    graph.write_text(nquads(project().ordered_graphs()), "utf-8")
    snapshot = Snapshot(1, graph, frozenset(str(g.graph) for g in project().ordered_graphs()))

    async def start(memory: int | None) -> str:
        pool = QueryPool(1, "oxigraph", 100, memory, timeout=5)
        try:
            await pool.start(snapshot)
            reply = await pool.run((1, str(graph), "GET", b"query=ASK%7B%7D", "", b"", ""))
            return reply.body.decode()
        except RuntimeError as exc:
            return str(exc)
        finally:
            await pool.close()

    assert "could not load the graph" in asyncio.run(start(64 * 1024**2))
    assert asyncio.run(start(None)) == '{"head":{},"boolean":true}'


# -- catching up with an edit ----------------------------------------------------------------


def test_a_worker_catches_up_with_what_changed(tmp_path: Path) -> None:
    """After an edit, a worker applies just the changed note graphs, and then holds what a
    worker loading the whole new graph holds: the same named graphs, and the same merge (a triple
    a removed note shared with others stays)."""
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    before = {g.path: g for g in load_project(content).ordered_graphs()}
    note = content / "concepts" / "Anarchy.md"
    note.write_text(note.read_text("utf-8").replace("The absence of", "The total absence of", 1), "utf-8")
    (content / "concepts" / "Spiral Model.md").unlink()  # shares thinkers and examples with others
    (content / "concepts" / "Fresh Idea.md").write_text("# Fresh Idea\n\n## Definition\nNew [[Anarchy]].\n", "utf-8")
    fresh = {g.path: g for g in load_project(content).ordered_graphs()}
    # unchanged notes keep their graph objects, as serve's builder keeps them
    after = [before[p] if p in before and before[p].triples == g.triples else g for p, g in sorted(fresh.items())]
    assert 2 <= sum(g is not before.get(g.path) for g in after) < len(after) // 2

    endpoint = Endpoint(workers=1)
    first = endpoint.update(list(before.values()))
    second = endpoint.update(after)
    changed = delta_path(second.path.parent, second.version, ".nq").read_text("utf-8")
    assert 0 < len(changed) < second.path.stat().st_size // 2
    caught_up = _Graph("oxigraph", 10_000, 0)
    caught_up.load(first.version, first.path)
    assert caught_up.catch_up(second.version, second.path.parent)
    loaded = _Graph("oxigraph", 10_000, 0)
    loaded.load(second.version, second.path)
    assert caught_up.names == loaded.names == second.graphs
    for query in ("SELECT * WHERE { ?s ?p ?o }", "SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }"):
        got, want = (sorted(map(str, g.store.query(query))) for g in (caught_up, loaded))  # type: ignore[attr-defined]
        assert got == want, query
    assert not caught_up.catch_up(second.version + 1, second.path.parent)  # no such change: load it all


def test_a_graph_stopped_while_written_is_never_seen_and_written_whole_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve`` writes the endpoint's next graph in a copy of its process, killed when a newer
    note is saved. Queries keep the current graph; the next write takes the same version and
    replaces the half-written files, so a worker catching up from the current graph holds what a
    worker loading the new graph whole holds."""
    from sdwiki import endpoint as endpoint_module

    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    before = load_project(content).ordered_graphs()
    note = content / "concepts" / "Anarchy.md"
    note.write_text(note.read_text("utf-8").replace("The absence of", "The total absence of", 1), "utf-8")
    after = [
        g if g.path != "concepts/Anarchy.md" else n
        for g, n in zip(before, load_project(content).ordered_graphs(), strict=True)
    ]
    endpoint = Endpoint(workers=1)
    first = endpoint.update(before)
    real_parts = endpoint_module.nquads_parts
    stalled = tmp_path / "stalled"

    def stalls_on_the_whole_graph(graphs: list[object], *args: object, **kwargs: object) -> tuple[str, str]:
        if len(graphs) > 1:  # the delta is written; the whole graph never is
            delta_path(first.path.parent, first.version + 1, ".nq").write_text("<a> <b> ", "utf-8")
            stalled.touch()
            time.sleep(60)
        return real_parts(graphs, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(endpoint_module, "nquads_parts", stalls_on_the_whole_graph)
    assert asyncio.run(endpoint.load(after, stop=stalled.exists)) is None
    assert endpoint.snapshot == first and endpoint.pool.snapshot == first

    monkeypatch.setattr(endpoint_module, "nquads_parts", real_parts)
    second = asyncio.run(endpoint.load(after, stop=lambda: False))
    assert second is not None and second.version == first.version + 1 and endpoint.snapshot == second
    caught_up = _Graph("oxigraph", 10_000, 0)
    caught_up.load(first.version, first.path)
    assert caught_up.catch_up(second.version, second.path.parent)
    loaded = _Graph("oxigraph", 10_000, 0)
    loaded.load(second.version, second.path)
    query = "SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }"
    got, want = (sorted(map(str, g.store.query(query))) for g in (caught_up, loaded))  # type: ignore[attr-defined]
    assert got == want and any("total absence" in row for row in got)
