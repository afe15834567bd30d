"""The SPARQL 1.1 Protocol endpoint at /sparql, against a real server on 127.0.0.1.

Every request form and result format; the negative cases (updates, wrong media types, two queries,
non-UTF-8, oversized bodies, malformed and refused queries, foreign datasets); the time limit on a
runaway query; and a bounded load test.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner
from rdflib import Dataset, Graph
from rdflib.compare import isomorphic

from sdwiki.cli import main
from sdwiki.pipeline import Project, analytics_graph, load_project
from sdwiki.query import QueryError, run
from sdwiki.settings import Settings
from tests.conftest import CONTENT
from tests.servers import ThreadedServer, app_server

TIMEOUT = 1.5
LIMIT = 1000
SELECT = "SELECT ?label WHERE { ?c a sd:Concept ; rdfs:label ?label } ORDER BY ?label"
ASK = 'ASK { ?t rdfs:label "John Herz" ; a sd:Thinker }'
CONSTRUCT = "CONSTRUCT { ?e a sd:Era ; rdfs:label ?l } WHERE { ?e a sd:Era ; rdfs:label ?l }"
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
RESULTS_NS = "{http://www.w3.org/2005/sparql-results#}"


@cache
def project() -> Project:
    return load_project(CONTENT)


@cache
def dataset() -> Dataset:
    """The dataset `sdwiki query` asks: the notes' graphs and the analytics graph."""
    return project().dataset("oxigraph", [analytics_graph(project())])


@cache
def local_cli(text: str, fmt: str) -> str:
    """What `sdwiki query TEXT --format FMT` prints for the bundled content."""
    result = CliRunner().invoke(main, ["query", text, "--content", str(CONTENT), "--format", fmt])
    assert result.exit_code == 0, result.output
    return result.output


def local_labels() -> list[str]:
    return [str(r[0]) for r in run(dataset(), SELECT).rows]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    site = tmp_path_factory.mktemp("site")
    (site / "index.html").write_text("<!doctype html><title>t</title><body>home</body>")
    settings = Settings(query_timeout=TIMEOUT, result_limit=LIMIT)
    threaded = app_server(CONTENT, site, settings)
    with threaded:
        yield threaded


@pytest.fixture(scope="module")
def server(running: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running.url, timeout=30) as client:
        yield client


def get(client: httpx.Client, query: str, accept: str = "", **params: str) -> httpx.Response:
    headers = {"Accept": accept} if accept else {}
    return client.get("/sparql", params={"query": query, **params}, headers=headers)


# -- the three request forms -------------------------------------------------------------------


def json_labels(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/sparql-results+json"
    doc = response.json()
    assert doc["head"]["vars"] == ["label"]
    return [b["label"]["value"] for b in doc["results"]["bindings"]]


def test_get(server: httpx.Client) -> None:
    assert json_labels(get(server, SELECT)) == local_labels()


def test_post_form(server: httpx.Client) -> None:
    r = server.post("/sparql", data={"query": SELECT})
    assert json_labels(r) == local_labels()


def test_post_direct(server: httpx.Client) -> None:
    r = server.post("/sparql", content=SELECT.encode(), headers={"Content-Type": "application/sparql-query"})
    assert json_labels(r) == local_labels()
    charset = {"Content-Type": "application/sparql-query; charset=UTF-8"}
    assert json_labels(server.post("/sparql", content=SELECT.encode(), headers=charset)) == local_labels()


def test_head_and_options(server: httpx.Client) -> None:
    r = server.head("/sparql", params={"query": SELECT})
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) > 0
    r = server.options("/sparql")
    assert r.status_code == 204 and "POST" in r.headers["allow"]


def test_answers_like_the_command_line(server: httpx.Client) -> None:
    """HTTP and `sdwiki query` share one path: the same query gives the same document."""
    for fmt in ("json", "csv", "tsv", "xml"):
        cli = local_cli(SELECT, fmt)
        http = get(server, SELECT, format=fmt)
        assert http.status_code == 200
        if fmt == "json":
            assert http.json() == json.loads(cli)
        else:  # click's test runner turns \r\n into \n
            assert http.text.replace("\r\n", "\n") == cli.replace("\r\n", "\n")


# -- content negotiation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        ("", "application/sparql-results+json"),
        ("*/*", "application/sparql-results+json"),
        ("application/sparql-results+json", "application/sparql-results+json"),
        ("application/json", "application/sparql-results+json"),
        ("application/sparql-results+xml", "application/sparql-results+xml"),
        ("text/csv", "text/csv; charset=utf-8"),
        ("text/tab-separated-values", "text/tab-separated-values; charset=utf-8"),
        ("text/csv;q=0.5, application/sparql-results+xml", "application/sparql-results+xml"),
        ("text/html, application/xhtml+xml, */*;q=0.8", "application/sparql-results+json"),
    ],
)
def test_select_formats(server: httpx.Client, accept: str, media: str) -> None:
    r = get(server, SELECT, accept)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media
    assert "accept" in r.headers["vary"].lower()
    labels = local_labels()
    if "json" in media:
        assert json_labels(r) == labels
    elif "xml" in media:
        root = ET.fromstring(r.content)
        got = [e.text for e in root.iter(f"{RESULTS_NS}literal")]
        assert got == labels
    elif "csv" in media:
        rows = list(csv.reader(io.StringIO(r.text)))
        assert rows[0] == ["label"] and [row[0] for row in rows[1:]] == labels
    else:
        lines = r.text.splitlines()
        assert lines[0] == "?label" and len(lines) == len(labels) + 1


def test_format_parameter_overrides_accept(server: httpx.Client) -> None:
    r = get(server, SELECT, "application/sparql-results+json", format="csv")
    assert r.headers["content-type"].startswith("text/csv")
    r = get(server, SELECT, "", output="application/sparql-results+xml")
    assert r.headers["content-type"] == "application/sparql-results+xml"


def test_ask_formats(server: httpx.Client) -> None:
    assert get(server, ASK).json() == {"head": {}, "boolean": True}
    root = ET.fromstring(get(server, ASK, "application/sparql-results+xml").content)
    assert root.find(f"{RESULTS_NS}boolean") is not None
    assert root.find(f"{RESULTS_NS}boolean").text == "true"  # type: ignore[union-attr]
    assert get(server, 'ASK { ?x rdfs:label "nobody at all" }', "text/csv").text.strip() == "false"


@pytest.mark.parametrize(
    ("accept", "media", "rdflib_format"),
    [
        ("", "text/turtle; charset=utf-8", "turtle"),
        ("text/turtle", "text/turtle; charset=utf-8", "turtle"),
        ("application/n-triples", "application/n-triples", "nt"),
        ("application/ld+json", "application/ld+json", "json-ld"),
        ("application/rdf+xml", "application/rdf+xml", "xml"),
    ],
)
def test_construct_formats(server: httpx.Client, accept: str, media: str, rdflib_format: str) -> None:
    r = get(server, CONSTRUCT, accept)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media
    remote = Graph().parse(data=r.text, format=rdflib_format)
    local = run(dataset(), CONSTRUCT).graph
    assert local is not None and len(local) > 0
    assert isomorphic(remote, local)


def test_not_acceptable(server: httpx.Client) -> None:
    r = get(server, SELECT, "image/png")
    assert r.status_code == 406
    assert "application/sparql-results+json" in r.text


# -- the dataset -----------------------------------------------------------------------------


def test_default_and_named_graph_uri(server: httpx.Client) -> None:
    seed = next(str(g.graph) for g in project().ordered_graphs() if g.path.endswith("Security Dilemma.md"))
    triples = len(next(g for g in project().ordered_graphs() if str(g.graph) == seed).triples)
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    r = get(server, count, "text/csv", **{"default-graph-uri": seed})
    assert r.status_code == 200, r.text
    assert r.text.split()[1] == str(triples)
    named = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"
    r = get(server, named, "text/csv", **{"named-graph-uri": seed})
    assert r.text.split()[1:] == [seed]
    # a dataset clause naming one of the wiki's own graphs is allowed
    assert get(server, f"SELECT * FROM NAMED <{seed}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}").status_code == 200


@pytest.mark.parametrize("param", ["default-graph-uri", "named-graph-uri"])
@pytest.mark.parametrize("iri", ["file:///etc/passwd", "http://example.org/graph", "urn:x"])
def test_foreign_dataset_is_refused(server: httpx.Client, param: str, iri: str) -> None:
    r = get(server, SELECT, **{param: iri})
    assert r.status_code == 400
    assert "refused" in r.text and iri in r.text


# -- what the protocol forbids ---------------------------------------------------------------


def test_updates_are_refused(server: httpx.Client) -> None:
    update = 'INSERT DATA { <urn:a> <urn:b> "c" }'
    assert server.get("/sparql", params={"update": update}).status_code == 403
    assert server.post("/sparql", data={"update": update}).status_code == 403
    r = server.post("/sparql", content=update, headers={"Content-Type": "application/sparql-update"})
    assert r.status_code == 403 and "read-only" in r.text
    # an update sent as a query is refused by the query layer
    r = get(server, update)
    assert r.status_code == 400 and "INSERT is refused" in r.text
    assert get(server, 'ASK { <urn:a> <urn:b> "c" }').json()["boolean"] is False


def test_wrong_media_type(server: httpx.Client) -> None:
    r = server.post("/sparql", content=SELECT, headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = server.post("/sparql", content=SELECT, headers={"Content-Type": "application/sparql-query; charset=latin-1"})
    assert r.status_code == 415


def test_wrong_method(server: httpx.Client) -> None:
    r = server.put("/sparql", content=SELECT)
    assert r.status_code == 405
    assert server.delete("/sparql").status_code == 405


def test_two_queries(server: httpx.Client) -> None:
    r = server.get(f"/sparql?query={quote(SELECT)}&query={quote(ASK)}")
    assert r.status_code == 400 and "two queries" in r.text
    r = server.post("/sparql", params={"query": ASK}, data={"query": SELECT})
    assert r.status_code == 400
    r = server.post(
        "/sparql", params={"query": ASK}, content=SELECT, headers={"Content-Type": "application/sparql-query"}
    )
    assert r.status_code == 400


def test_missing_query(server: httpx.Client) -> None:
    assert server.get("/sparql").status_code == 400
    assert server.post("/sparql", data={"format": "json"}).status_code == 400


def test_non_utf8(server: httpx.Client) -> None:
    r = server.get("/sparql?query=SELECT%20%FF%FE")
    assert r.status_code == 400 and "UTF-8" in r.text
    r = server.post(
        "/sparql", content=b"SELECT * WHERE { ?s ?p \xff }", headers={"Content-Type": "application/sparql-query"}
    )
    assert r.status_code == 400 and "UTF-8" in r.text
    form = b"query=SELECT%20%E9"
    r = server.post("/sparql", content=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400


def test_nul_in_query(server: httpx.Client) -> None:
    assert get(server, "SELECT * WHERE { ?s ?p ?o }\x00").status_code == 400


def test_body_too_large(server: httpx.Client) -> None:
    big = "SELECT * WHERE { ?s ?p ?o } #" + "x" * (70 * 1024)
    r = server.post("/sparql", content=big, headers={"Content-Type": "application/sparql-query"})
    assert r.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
        for _ in range(80):
            yield b"#" + b"x" * 1023

    r = server.post("/sparql", content=chunks(), headers={"Content-Type": "application/sparql-query"})
    assert r.status_code == 413


@pytest.mark.parametrize(
    "query",
    [
        "SELECT ?s WHERE { ?s ?p }",
        "SELECT ?s\nWHERE {\n  ?s a sd:Concept .\n  FILTER(\n}",
        "SELECT ?s WHERE { ?s nope:thing ?o }",
        "",
    ],
)
def test_malformed_query(server: httpx.Client, query: str) -> None:
    """400 with the parser's message and position, exactly as the query layer reports them."""
    with pytest.raises(QueryError) as local:
        run(dataset(), query)
    r = get(server, query)
    assert r.status_code == 400, r.text
    assert r.headers["sdwiki-error"] == "syntax"
    assert local.value.line >= 1
    assert (int(r.headers["sdwiki-error-line"]), int(r.headers["sdwiki-error-column"])) == (
        local.value.line,
        local.value.column,
    )
    assert r.text == f"malformed query: line {local.value.line}, column {local.value.column}: {local.value.message}\n"


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }", "SERVICE"),
        ("LOAD <http://example.org/data.ttl>", "LOAD"),
        ("SELECT * FROM <file:///etc/passwd> WHERE { ?s ?p ?o }", "FROM"),
        ("SELECT * FROM NAMED <http://example.org/g> WHERE { GRAPH ?g { ?s ?p ?o } }", "FROM"),
        ("CLEAR ALL", "CLEAR"),
        ("DROP GRAPH <urn:g>", "DROP"),
    ],
)
def test_refused_constructs(server: httpx.Client, query: str, word: str) -> None:
    for r in (get(server, query), server.post("/sparql", data={"query": query})):
        assert r.status_code == 400
        assert r.text.startswith("query refused: ") and word in r.text
        assert r.headers["sdwiki-error"] == "refused"


# -- limits ----------------------------------------------------------------------------------


def test_row_cap_is_signalled(server: httpx.Client) -> None:
    r = get(server, "SELECT * WHERE { ?s ?p ?o }")
    assert r.status_code == 200
    assert r.headers["sdwiki-truncated"] == "true"
    assert len(r.json()["results"]["bindings"]) == LIMIT
    r = get(server, SELECT)
    assert "sdwiki-truncated" not in r.headers


def test_runaway_query_is_stopped(server: httpx.Client) -> None:
    start = time.monotonic()
    r = get(server, RUNAWAY)
    elapsed = time.monotonic() - start
    assert r.status_code == 503, r.text
    assert "time limit" in r.text and r.headers["sdwiki-error"] == "timeout"
    assert TIMEOUT <= elapsed < TIMEOUT + 2
    # the server still answers, at once, while the stopped worker is replaced
    start = time.monotonic()
    assert json_labels(get(server, SELECT + " LIMIT 3")) == local_labels()[:3]
    assert time.monotonic() - start < 1
    # a second runaway, different text (not the cached answer), is stopped too
    r = get(server, RUNAWAY.replace("?l }", "?l . ?m ?n ?o }"))
    assert r.status_code == 503
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the replacements come up; every query answers again
        if all(get(server, f"{SELECT} LIMIT {n}").status_code == 200 for n in range(4, 8)):
            break
        time.sleep(0.1)
    else:
        pytest.fail("the endpoint did not recover after stopping runaway queries")


def test_keep_alive_and_tcp_nodelay(running: ThreadedServer) -> None:
    def open_sockets() -> list[socket.socket]:
        connections = list(running.server.server_state.connections)
        return [c.transport.get_extra_info("socket") for c in connections if c.transport]  # type: ignore[attr-defined]

    before = len(open_sockets())
    with httpx.Client(base_url=running.url) as c:
        for _ in range(5):
            assert get(c, SELECT).status_code == 200
        sockets = open_sockets()
        assert len(sockets) == before + 1  # five requests, one connection
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets)


def test_repeated_queries_are_cached(server: httpx.Client) -> None:
    text = SELECT + " LIMIT 7"
    first = get(server, text)
    assert all(get(server, text).content == first.content for _ in range(20))


# -- load ------------------------------------------------------------------------------------


def test_concurrent_clients(server: httpx.Client) -> None:
    """8 clients × 150 requests (simple, aggregate, uncached, refused): no error, no mix-up."""
    base = str(server.base_url)
    queries = [
        (SELECT, 200),
        ("SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p ORDER BY DESC(?n)", 200),
        (ASK, 200),
        ("SELECT * WHERE { SERVICE <http://example.org/> { ?s ?p ?o } }", 400),
    ]
    expected = {q: get(server, q).content for q, status in queries if status == 200}
    failures: list[str] = []

    def client(i: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            for k in range(150):
                if k % 10 == 9:  # a query nobody asked before
                    text = f"SELECT ?s WHERE {{ ?s a sd:Thinker }} LIMIT {i * 1000 + k + 1}"
                    r = get(c, text)
                    if r.status_code != 200:
                        failures.append(f"{text}: {r.status_code}")
                    continue
                text, status = queries[k % len(queries)]
                r = get(c, text)
                if r.status_code != status or (status == 200 and r.content != expected[text]):
                    failures.append(f"{text}: {r.status_code}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert failures == []


def test_large_answers_are_not_cut(server: httpx.Client) -> None:
    r = get(server, "CONSTRUCT WHERE { ?s ?p ?o }", "application/n-triples")
    assert r.status_code == 200
    g = Graph().parse(data=r.text, format="nt")
    assert len(g) == len(set(dataset().triples((None, None, None))))


def test_helper_path_is_not_served_outside(server: httpx.Client) -> None:
    assert server.get("/_sdwiki/nothing").status_code == 404


def test_site_is_served_beside(server: httpx.Client, tmp_path: Path) -> None:
    r = server.get("/")
    assert r.status_code == 200 and "home" in r.text


# -- refusals reach no network and no file ---------------------------------------------------

AUDITED: list[str] = []
AUDIT_PATHS: list[str] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if not AUDIT_PATHS:
        return
    if event == "open" and any(p in str(args[0]) for p in AUDIT_PATHS):
        AUDITED.append(f"open {args[0]}")
    elif event in ("socket.connect", "socket.getaddrinfo") and any(p in str(args) for p in AUDIT_PATHS):
        AUDITED.append(f"{event} {args}")


sys.addaudithook(_audit)


def test_refusals_reach_no_network_and_no_file(server: httpx.Client, tmp_path: Path) -> None:
    """SERVICE, LOAD, FROM and dataset parameters aimed at a socket we listen on and at a FIFO:
    nothing connects, nothing opens the FIFO (a reader would be left blocked on it), and no
    open() of those paths happens in the server process (audit hook)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    fifo = tmp_path / "marker"
    os.mkfifo(fifo)
    url = f"http://127.0.0.1:{port}/sparql"
    file = fifo.as_uri()
    queries = [
        f"SELECT * WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ SERVICE SILENT <{url}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ ?s ?p ?o . SERVICE <{file}> {{ ?s ?p ?o }} }}",
        f"LOAD <{url}>",
        f"LOAD SILENT <{file}> INTO GRAPH <urn:g>",
        f"SELECT * FROM <{url}> WHERE {{ ?s ?p ?o }}",
        f"SELECT * FROM <{file}> WHERE {{ ?s ?p ?o }}",
        f"SELECT * FROM NAMED <{file}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}",
        f"ASK FROM <{file}> {{ ?s ?p ?o }}",
        f"CONSTRUCT {{ ?s ?p ?o }} FROM <{url}> WHERE {{ ?s ?p ?o }}",
        f"DESCRIBE <urn:x> FROM <{file}>",
    ]
    AUDIT_PATHS[:] = [str(fifo), str(port)]
    try:
        for q in queries:
            for r in (
                get(server, q),
                server.post("/sparql", data={"query": q}),
                server.post("/sparql", content=q.encode(), headers={"Content-Type": "application/sparql-query"}),
            ):
                assert r.status_code == 400, (q, r.text)
                assert r.text.startswith("query refused: "), r.text
        for param in ("default-graph-uri", "named-graph-uri"):
            for iri in (url, file):
                assert get(server, SELECT, **{param: iri}).status_code == 400
    finally:
        AUDIT_PATHS.clear()
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()
    with pytest.raises(OSError) as no_reader:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert no_reader.value.errno == errno.ENXIO
    assert AUDITED == []


@pytest.mark.parametrize("fmt", ["table", "csv", "tsv", "json", "xml"])
def test_query_endpoint_of_our_own_server(server: httpx.Client, fmt: str) -> None:
    """`sdwiki query --endpoint` against `sdwiki serve` prints what the local query prints."""
    for text in (SELECT, ASK, "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p ORDER BY ?p"):
        remote = CliRunner().invoke(main, ["query", text, "--endpoint", f"{server.base_url}/sparql", "--format", fmt])
        assert remote.exit_code == 0, remote.output
        assert remote.output == local_cli(text, fmt)
