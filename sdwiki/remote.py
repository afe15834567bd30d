"""Remote SPARQL stores: publishing through the Graph Store Protocol, and remote queries.

:func:`publish` PUTs each note's named graph to a SPARQL 1.1 Graph Store HTTP Protocol address
(``PUT …?graph=IRI`` replaces the graph, so publishing twice changes nothing). :func:`remote_query`
sends a query, after the same refusals as a local one, to a SPARQL 1.1 Protocol endpoint and prints
the answer in any of the local formats: the endpoint's SPARQL JSON (or RDF, for graphs) is read
back into an :class:`~sdwiki.query.Answer` and serialised exactly as a local answer is.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Identifier

from sdwiki.extract import NoteGraph
from sdwiki.graph import nt_term
from sdwiki.ontology import PREFIXES, SD
from sdwiki.pipeline import Project, analytics_graph
from sdwiki.query import Answer, QueryError, blank_out, check, serialize

TIMEOUT = 60.0
"""Seconds to wait for a remote store before giving up."""
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_RDF_FORMATS = {
    "text/turtle": "turtle",
    "application/x-turtle": "turtle",
    "text/rdf+n3": "turtle",
    "application/n-triples": "nt",
    "text/plain": "nt",
    "application/rdf+xml": "xml",
    "application/ld+json": "json-ld",
}


class RemoteError(Exception):
    """The remote store refused or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status the store answered with, if it answered."""


# -- HTTP ------------------------------------------------------------------------------------


class _Client:
    """urllib with HTTP basic and digest authentication, and errors as :class:`RemoteError`."""

    def __init__(self, endpoint: str, user: str | None, password: str | None) -> None:
        parts = urlsplit(endpoint)
        try:
            parts.port  # noqa: B018 - raises for a malformed port
        except ValueError as exc:
            raise RemoteError(f"{endpoint}: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteError(f"{endpoint}: not an http:// or https:// address")
        self.endpoint = endpoint
        self.user = user
        handlers: list[urllib.request.BaseHandler] = []
        if user is not None:
            passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
            passwords.add_password(None, endpoint, user, password or "")
            handlers += [
                urllib.request.HTTPDigestAuthHandler(passwords),
                urllib.request.HTTPBasicAuthHandler(passwords),
            ]
        self.opener = urllib.request.build_opener(*handlers)

    def request(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> tuple[str, bytes]:
        """The response's media type and body; any failure becomes a :class:`RemoteError`."""
        req = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
        try:
            with self.opener.open(req, timeout=TIMEOUT) as response:
                return response.headers.get_content_type(), response.read()
        except urllib.error.HTTPError as exc:
            raise RemoteError(self._http_error(exc), exc.code) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectionRefusedError):
                raise RemoteError(f"cannot connect to {self.endpoint}: connection refused") from None
            if isinstance(reason, TimeoutError):
                raise RemoteError(f"{self.endpoint} did not answer within {TIMEOUT:g} s") from None
            raise RemoteError(f"cannot reach {self.endpoint}: {reason}") from None
        except TimeoutError:
            raise RemoteError(f"{self.endpoint} did not answer within {TIMEOUT:g} s") from None
        except (OSError, ValueError, http.client.HTTPException) as exc:  # resets, bad answers, bad URLs
            raise RemoteError(f"{self.endpoint}: {exc}") from None

    def _http_error(self, exc: urllib.error.HTTPError) -> str:
        try:
            detail = exc.read(2000).decode("utf-8", "replace")
        except OSError:
            detail = ""
        detail = " ".join(re.sub(r"<[^>]*>", " ", detail).split())[:300]
        where = f"{self.endpoint} answered {exc.code} {exc.reason}"
        if exc.code == 401:
            if self.user is None:
                return f"{where}: it needs a user name and password (--user/--password, SDWIKI_USER/SDWIKI_PASSWORD)"
            return f"{where}: the user name or password was not accepted"
        return f"{where}: {detail}" if detail else where


def _with_params(url: str, params: Iterable[tuple[str, str]]) -> str:
    """``url`` with ``params`` added to whatever query string it already has."""
    parts = urlsplit(url)
    extra = urlencode(list(params))
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


# -- publishing ------------------------------------------------------------------------------


def _ntriples(note_graphs: Iterable[NoteGraph]) -> bytes:
    return "".join(
        f"{nt_term(s)} {nt_term(p)} {nt_term(o)} .\n" for ng in note_graphs for s, p, o in ng.triples
    ).encode("utf-8")


def publish(project: Project, endpoint: str, graph: str | None, user: str | None, password: str | None) -> int:
    """PUT every note's named graph and the analytics graph (or all of them into ``graph``).

    Returns the number of graphs written. The store then holds what ``sdwiki query`` queries.
    """
    client = _Client(endpoint, user, password)
    ordered = [*project.ordered_graphs(), analytics_graph(project)]
    if graph is not None:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*", graph):
            raise RemoteError(f"--graph {graph!r} is not an absolute IRI")
        payloads = [(graph, _ntriples(ordered))]
    else:
        payloads = [(str(ng.graph), _ntriples([ng])) for ng in ordered]
    headers = {"Content-Type": "text/turtle; charset=utf-8"}  # N-Triples is Turtle
    record = f"{project.registry.base}published"
    before = _published(client, endpoint, record, project.registry.base) if graph is None else set()
    for iri, body in payloads:
        client.request("PUT", _with_params(endpoint, [("graph", iri)]), body, headers)
    if graph is None:
        now = {iri for iri, _ in payloads}
        for gone in sorted(before - now):  # the graphs of notes removed since the last publish
            try:
                client.request("DELETE", _with_params(endpoint, [("graph", gone)]), None, {})
            except RemoteError as exc:
                if exc.status != 404:
                    raise
        lines = "".join(f"<{record}> <{SD.publishedGraph}> <{iri}> .\n" for iri in sorted(now))
        client.request("PUT", _with_params(endpoint, [("graph", record)]), lines.encode("utf-8"), headers)
    return len(payloads)


def _published(client: _Client, endpoint: str, record: str, base: str) -> set[str]:
    """The graphs the last publish wrote, as it recorded them (none if it never did)."""
    accept = {"Accept": "application/n-triples, text/turtle;q=0.9, application/rdf+xml;q=0.5"}
    try:
        media, data = client.request("GET", _with_params(endpoint, [("graph", record)]), None, accept)
    except RemoteError as exc:
        if exc.status in (404, 405, 501):  # never published here, or cannot tell
            return set()
        raise
    g = Graph()
    try:
        g.parse(data=data, format=_RDF_FORMATS.get(media, "turtle"))
    except Exception as exc:  # a record we cannot read: say so rather than delete blindly
        raise RemoteError(f"{endpoint}: the record of published graphs cannot be read: {exc}") from None
    return {
        str(o)
        for o in g.objects(URIRef(record), SD.publishedGraph)
        if isinstance(o, URIRef) and str(o).startswith(f"{base}graph/")  # only note graphs are ever removed
    }


# -- querying --------------------------------------------------------------------------------

_FORM = re.compile(r"\b(SELECT|ASK|CONSTRUCT|DESCRIBE)\b", re.I)
_DECLARED = re.compile(r"\bPREFIX\s+([\w.-]*):", re.I)


def query_form(text: str) -> str:
    """SELECT, ASK, CONSTRUCT or DESCRIBE: the form of a (checked) query."""
    m = _FORM.search(blank_out(text))
    if m is None:
        raise QueryError("expected SELECT, ASK, CONSTRUCT or DESCRIBE", kind="syntax")
    return m.group(1).upper()


def with_prefixes(text: str) -> str:
    """``text`` with the common prefixes declared (a remote store does not predeclare ours)."""
    declared = {m.group(1) for m in _DECLARED.finditer(blank_out(text))}
    lines = [f"PREFIX {p}: <{ns}>\n" for p, ns in PREFIXES.items() if p not in declared]
    return "".join(lines) + text


def remote_query(endpoint: str, text: str, fmt: str) -> str:
    """Ask ``endpoint`` and return the answer in ``fmt``, as ``sdwiki query`` prints it locally."""
    try:
        check(text)
        form = query_form(text)
    except QueryError as exc:
        where = f"line {exc.line}, column {exc.column}: " if exc.line else ""
        label = "refused" if exc.kind == "refused" else "malformed"
        raise RemoteError(f"query {label}: {where}{exc.message}") from None
    graph = form in ("CONSTRUCT", "DESCRIBE")
    accept = (
        "text/turtle, application/n-triples;q=0.9, text/plain;q=0.5"
        if graph
        else "application/sparql-results+json, application/json;q=0.9"
    )
    client = _Client(endpoint, os.environ.get("SDWIKI_USER"), os.environ.get("SDWIKI_PASSWORD"))
    body = urlencode({"query": with_prefixes(text)}).encode("ascii")
    headers = {"Accept": accept, "Content-Type": "application/x-www-form-urlencoded"}
    media, data = client.request("POST", endpoint, body, headers)
    answer = _graph_answer(data, media, endpoint) if graph else _results_answer(data, endpoint)
    return serialize(answer, fmt)


def _graph_answer(data: bytes, media: str, endpoint: str) -> Answer:
    g = Graph()
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns)
    try:
        g.parse(data=data.decode("utf-8"), format=_RDF_FORMATS.get(media, "turtle"))
    except Exception as exc:  # rdflib raises many kinds of parse errors
        raise RemoteError(f"{endpoint} sent a graph that cannot be read ({media}): {exc}") from None
    return Answer("GRAPH", graph=g)


def _results_answer(data: bytes, endpoint: str) -> Answer:
    try:
        doc = json.loads(data)
        if "boolean" in doc:
            return Answer("ASK", boolean=bool(doc["boolean"]))
        variables = tuple(str(v) for v in doc["head"]["vars"])
        rows = tuple(tuple(_term(b[v]) if v in b else None for v in variables) for b in doc["results"]["bindings"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RemoteError(f"{endpoint} did not send SPARQL JSON results: {exc}") from None
    return Answer("SELECT", variables, rows)


def _term(binding: Mapping[str, str]) -> Identifier:
    kind, value = binding["type"], binding["value"]
    if kind == "uri":
        return URIRef(value)
    if kind == "bnode":
        return BNode(value)
    if kind not in ("literal", "typed-literal"):
        raise ValueError(f"unknown term type {kind!r}")
    if "xml:lang" in binding:
        return Literal(value, lang=binding["xml:lang"])
    datatype = binding.get("datatype")
    if datatype and datatype != _XSD_STRING:
        return Literal(value, datatype=URIRef(datatype))
    return Literal(value)
