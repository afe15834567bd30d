"""Scale-out: ``sdwiki publish`` into real SPARQL stores, ``sdwiki query --endpoint`` against them.

Oxigraph's server (PyPI ``oxigraph``) and a private Virtuoso (Debian ``virtuoso-opensource``, digest
authentication) are started on 127.0.0.1 for this module. The bundled content is published through
the Graph Store Protocol, and the six competency questions must get the same answers from the
remote stores as from the local notes. The remote default graph is the union of the named graphs
(with repetitions, unlike the local RDF merge), so the questions ask for DISTINCT rows.
"""

from __future__ import annotations

import base64
import http.server
import shutil
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner, Result
from rdflib import XSD, Graph, Literal
from rdflib.term import Node

from sdwiki.cli import main
from sdwiki.extract import NoteGraph
from sdwiki.pipeline import Project, analytics_graph, load_project
from sdwiki.remote import RemoteError, remote_query
from tests.conftest import CONTENT
from tests.servers import Oxigraph, Virtuoso, free_port, oxigraph_server, virtuoso_server

SD = '?sd rdfs:label "Security Dilemma" ; a sd:Concept .'
COMPETENCY = {
    "cq1-coined": f"SELECT DISTINCT ?who ?year WHERE {{ {SD} ?sd sd:coinedBy/rdfs:label ?who ; sd:coinedIn ?year }}",
    "cq2-thinkers": f"SELECT DISTINCT ?name WHERE {{ {SD} ?sd sd:keyThinker/rdfs:label ?name }} ORDER BY ?name",
    "cq3-mechanism": f"""SELECT DISTINCT ?position ?step WHERE {{ {SD} ?sd sd:hasMechanism/sd:step ?s .
        ?s sd:position ?position ; rdfs:label ?step }} ORDER BY ?position""",
    "cq4-mitigation": f"""SELECT DISTINCT ?strategy ?measure WHERE {{ {SD} ?sd sd:mitigatedBy ?s .
        ?s rdfs:label ?strategy ; sd:measure/rdfs:label ?measure }} ORDER BY ?strategy ?measure""",
    "cq5-cold-war": f"""SELECT DISTINCT ?example WHERE {{ {SD} ?sd sd:hasExample ?e .
        ?e sd:era/rdfs:label "Cold War" ; rdfs:label ?example }} ORDER BY ?example""",
    "cq6-related": f"""SELECT DISTINCT ?concept ?definition WHERE {{ {SD} ?sd skos:related ?c .
        ?c rdfs:label ?concept ; skos:definition ?definition }} ORDER BY ?concept""",
}
EXPECTED = {
    "cq1-coined": ["John Herz", "1950"],
    "cq2-thinkers": ["John Herz", "Robert Jervis", "Charles Glaser"],
    "cq3-mechanism": ["State A feels insecure", "Arms race / spiral of hostility"],
    "cq4-mitigation": ["Transparency", "Track II diplomacy", "No first-use pledges"],
    "cq5-cold-war": ["Cuban Missile Crisis"],
    "cq6-related": ["Realism", "Deterrence", "Arms Race", "Anarchy", "Balance of Power"],
}
COUNT_NOTE_TRIPLES = (
    "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } FILTER(STRSTARTS(STR(?g), 'https://w3id.org/sdwiki/id/')"
    " && ?g != <https://w3id.org/sdwiki/id/published>) }"
)


@cache
def project() -> Project:
    return load_project(CONTENT)


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


@cache
def local(query: str, fmt: str) -> str:
    r = cli("query", query, "--content", str(CONTENT), "--format", fmt)
    assert r.exit_code == 0, r.output
    return r.output


def remote(endpoint: str, query: str, fmt: str, env: dict[str, str] | None = None) -> str:
    r = cli("query", query, "--endpoint", endpoint, "--format", fmt, env=env)
    assert r.exit_code == 0, r.output
    return r.output


def published() -> list[NoteGraph]:
    """What publish writes: every note's graph and the analytics graph."""
    return [*project().ordered_graphs(), analytics_graph(project())]


def note_triples() -> int:
    return sum(len(g.triples) for g in published())


def plain(graph: Graph) -> set[tuple[Node, Node, Node]]:
    """The triples with xsd:string literals written as plain ones (the same RDF 1.1 term)."""
    return {
        (s, p, Literal(str(o), lang=o.language) if isinstance(o, Literal) and o.datatype == XSD.string else o)
        for s, p, o in graph
    }


@pytest.fixture(scope="module")
def oxigraph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oxigraph]:
    with oxigraph_server(tmp_path_factory.mktemp("oxigraph")) as server:
        r = cli("publish", str(CONTENT), "--endpoint", server.store)
        assert r.exit_code == 0, r.output
        assert f"published {len(published())} graphs" in r.output
        yield server


@pytest.fixture(scope="module")
def virtuoso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Virtuoso]:
    with virtuoso_server(tmp_path_factory.mktemp("virtuoso")) as server:
        r = cli("publish", str(CONTENT), "--endpoint", server.store, "--user", "dba", "--password", "dba")
        assert r.exit_code == 0, r.output
        yield server


def endpoints(oxigraph: Oxigraph, virtuoso: Virtuoso) -> dict[str, str]:
    return {"oxigraph": oxigraph.query, "virtuoso": virtuoso.query}


# -- the round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(COMPETENCY))
@pytest.mark.parametrize("store", ["oxigraph", "virtuoso"])
def test_competency_questions_remote_equal_local(oxigraph: Oxigraph, virtuoso: Virtuoso, store: str, name: str) -> None:
    query = COMPETENCY[name]
    endpoint = endpoints(oxigraph, virtuoso)[store]
    expected = local(query, "csv")
    for word in EXPECTED[name]:
        assert word in expected
    if "ORDER BY" in query:
        assert remote(endpoint, query, "csv") == expected
        assert remote(endpoint, query, "table") == local(query, "table")
    else:
        assert sorted(remote(endpoint, query, "csv").splitlines()) == sorted(expected.splitlines())
    assert (
        remote(endpoint, query + " LIMIT 0" if "ORDER" in query else query, "tsv").splitlines()[0]
        == (local(query, "tsv").splitlines()[0])
    )


@pytest.mark.parametrize("store", ["oxigraph", "virtuoso"])
def test_every_note_graph_is_there(oxigraph: Oxigraph, virtuoso: Virtuoso, store: str) -> None:
    endpoint = endpoints(oxigraph, virtuoso)[store]
    out = remote(endpoint, COUNT_NOTE_TRIPLES, "csv")
    assert out.splitlines()[1] == str(note_triples())
    graphs = remote(endpoint, "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s sd:sourcePath ?p } } ORDER BY ?g", "csv")
    assert graphs.splitlines()[1:] == sorted(str(g.graph) for g in project().ordered_graphs())
    measures = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <https://w3id.org/sdwiki/id/analytics> { ?s ?p ?o } }"
    assert remote(endpoint, measures, "csv") == local(measures, "csv")


@pytest.mark.parametrize("store", ["oxigraph", "virtuoso"])
def test_other_formats_remote(oxigraph: Oxigraph, virtuoso: Virtuoso, store: str) -> None:
    endpoint = endpoints(oxigraph, virtuoso)[store]
    ask = 'ASK { ?t rdfs:label "John Herz" ; a sd:Thinker }'
    assert remote(endpoint, ask, "json") == local(ask, "json")
    assert remote(endpoint, ask, "table") == "yes\n"
    construct = "CONSTRUCT { ?e a sd:Era ; rdfs:label ?l } WHERE { ?e a sd:Era ; rdfs:label ?l }"
    for fmt, parser in (("nt", "nt"), ("ttl", "turtle"), ("jsonld", "json-ld")):
        there = Graph().parse(data=remote(endpoint, construct, fmt), format=parser)
        here = Graph().parse(data=local(construct, fmt), format=parser)
        assert len(here) >= 10 and plain(there) == plain(here)
    query = COMPETENCY["cq3-mechanism"]
    assert remote(endpoint, query, "json") == local(query, "json")
    assert remote(endpoint, query, "xml") == local(query, "xml")


def test_publish_is_idempotent(oxigraph: Oxigraph, virtuoso: Virtuoso) -> None:
    for store, args in ((oxigraph, []), (virtuoso, ["--user", "dba", "--password", "dba"])):
        r = cli("publish", str(CONTENT), "--endpoint", store.store, *args)
        assert r.exit_code == 0, r.output
        assert remote(store.query, COUNT_NOTE_TRIPLES, "csv").splitlines()[1] == str(note_triples())


def test_republishing_a_changed_note_replaces_its_graph(oxigraph: Oxigraph, tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    note = content / "concepts" / "Anarchy.md"
    note.write_text(note.read_text("utf-8").replace("The absence of", "The total absence of", 1), "utf-8")
    ask = 'ASK { ?c rdfs:label "Anarchy" ; skos:definition ?d FILTER(STRSTARTS(?d, "The total absence")) }'
    old = 'ASK { ?c rdfs:label "Anarchy" ; skos:definition ?d FILTER(STRSTARTS(?d, "The absence")) }'
    try:
        assert cli("publish", str(content), "--endpoint", oxigraph.store).exit_code == 0
        assert remote(oxigraph.query, ask, "table") == "yes\n"
        assert remote(oxigraph.query, old, "table") == "no\n"
    finally:
        assert cli("publish", str(CONTENT), "--endpoint", oxigraph.store).exit_code == 0
    assert remote(oxigraph.query, old, "table") == "yes\n"


@pytest.mark.parametrize("store", ["oxigraph", "virtuoso"])
def test_republishing_removes_the_graphs_of_removed_notes_only(
    oxigraph: Oxigraph, virtuoso: Virtuoso, store: str, tmp_path: Path
) -> None:
    server = {"oxigraph": oxigraph, "virtuoso": virtuoso}[store]
    auth = ["--user", "dba", "--password", "dba"] if store == "virtuoso" else []
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    (content / "concepts" / "Anarchy.md").unlink()
    gone = "https://w3id.org/sdwiki/id/graph/concepts/anarchy"
    foreign = "https://example.org/not-ours"
    has = "ASK {{ GRAPH <{}> {{ ?s ?p ?o }} }}"
    put = urllib.request.Request(
        f"{server.store}?graph={urllib.parse.quote(foreign)}",
        data=b"<https://example.org/a> <https://example.org/b> <https://example.org/c> .",
        headers={"Content-Type": "text/turtle"},
        method="PUT",
    )
    if store == "virtuoso":
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, server.store, "dba", "dba")
        urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(manager)).open(put, timeout=30).close()
    else:
        urllib.request.urlopen(put, timeout=30).close()
    try:
        assert cli("publish", str(CONTENT), "--endpoint", server.store, *auth).exit_code == 0
        assert remote(server.query, has.format(gone), "table") == "yes\n"
        r = cli("publish", str(content), "--endpoint", server.store, *auth)
        assert r.exit_code == 0, r.output
        assert remote(server.query, has.format(gone), "table") == "no\n"
        assert remote(server.query, has.format(foreign), "table") == "yes\n"  # not ours: never removed
        listed = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <https://w3id.org/sdwiki/id/published> { ?s ?p ?g } }"
        assert remote(server.query, listed, "csv").splitlines()[1] == str(len(load_project(content).note_graphs) + 1)
    finally:
        assert cli("publish", str(CONTENT), "--endpoint", server.store, *auth).exit_code == 0
    assert remote(server.query, has.format(gone), "table") == "yes\n"


def test_publish_into_one_graph(oxigraph: Oxigraph) -> None:
    iri = "https://example.org/wiki/all"
    r = cli("publish", str(CONTENT), "--endpoint", oxigraph.store, "--graph", iri)
    assert r.exit_code == 0 and "published 1 graphs" in r.output
    count = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{iri}> {{ ?s ?p ?o }} }}"
    local_count = local("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", "csv").splitlines()[1]
    try:
        # check() refuses FROM/GRAPH IRIs only in dataset clauses; GRAPH <iri> in a pattern is fine
        assert remote(oxigraph.query, count, "csv").splitlines()[1] == local_count
    finally:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{oxigraph.store}?graph={iri}", method="DELETE"))


# -- credentials and failures ------------------------------------------------------------------


def test_credentials_from_the_environment(virtuoso: Virtuoso) -> None:
    env = {"SDWIKI_USER": "dba", "SDWIKI_PASSWORD": "dba"}
    r = cli("publish", str(CONTENT), "--endpoint", virtuoso.store, env=env)
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "needs a user name and password"),
        (["--user", "dba", "--password", "wrong"], "not accepted"),
    ],
)
def test_publish_without_valid_credentials(virtuoso: Virtuoso, args: list[str], message: str) -> None:
    r = cli(
        "publish", str(CONTENT), "--endpoint", virtuoso.store, *args, env={"SDWIKI_USER": "", "SDWIKI_PASSWORD": ""}
    )
    assert r.exit_code == 2
    assert "401" in r.output and message in r.output
    assert "Traceback" not in r.output


def test_publish_to_nothing() -> None:
    port = free_port()
    r = cli("publish", str(CONTENT), "--endpoint", f"http://127.0.0.1:{port}/store")
    assert r.exit_code == 2
    assert f"cannot connect to http://127.0.0.1:{port}/store: connection refused" in r.output
    assert "Traceback" not in r.output
    r = cli("query", "ASK {}", "--endpoint", f"http://127.0.0.1:{port}/sparql")
    assert r.exit_code == 2 and "connection refused" in r.output


def test_remote_errors_are_reported(oxigraph: Oxigraph) -> None:
    r = cli("publish", str(CONTENT), "--endpoint", f"{oxigraph.url}/no-such-path")
    assert r.exit_code == 2 and "answered 404" in r.output and "Traceback" not in r.output
    r = cli("query", "SELECT * WHERE { ?s ?p }", "--endpoint", oxigraph.query)
    assert r.exit_code == 2 and "answered 400" in r.output
    r = cli("publish", str(CONTENT), "--endpoint", "file:///etc/passwd")
    assert r.exit_code == 2 and "not an http" in r.output


def test_remote_query_refuses_before_sending() -> None:
    """The same refusals as a local query, checked before any connection is made."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.3)
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}/sparql"
    for query in (
        "SELECT * WHERE { SERVICE <http://example.org/> { ?s ?p ?o } }",
        "LOAD <http://example.org/x>",
        "SELECT * FROM <file:///etc/passwd> WHERE { ?s ?p ?o }",
        'INSERT DATA { <urn:a> <urn:b> "c" }',
    ):
        with pytest.raises(RemoteError, match="refused"):
            remote_query(endpoint, query, "json")
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()


class _BasicStore(http.server.BaseHTTPRequestHandler):
    """A Graph Store stand-in that wants HTTP basic authentication and records what it gets."""

    received: ClassVar[list[tuple[str, str, str, int]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = "Basic " + base64.b64encode(b"ann:s3cret").decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="store"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        Graph().parse(data=body.decode(), format="turtle")  # what we send is Turtle
        self.received.append((self.path.split("?")[0], query["graph"], self.headers["Content-Type"], len(body)))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_publish_with_basic_authentication() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BasicStore)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/gsp?x=1"
        r = cli("publish", str(CONTENT), "--endpoint", url, "--user", "ann", "--password", "wrong")
        assert r.exit_code == 2 and "401" in r.output
        _BasicStore.received.clear()
        r = cli("publish", str(CONTENT), "--endpoint", url, env={"SDWIKI_USER": "ann", "SDWIKI_PASSWORD": "s3cret"})
        assert r.exit_code == 0, r.output
        got = _BasicStore.received
        # every graph, then the record of what was published (for the next publish's removals)
        assert [g for _, g, _, _ in got] == [
            *(str(g.graph) for g in published()),
            "https://w3id.org/sdwiki/id/published",
        ]
        assert all(path == "/gsp" and media.startswith("text/turtle") and size > 0 for path, _, media, size in got)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
