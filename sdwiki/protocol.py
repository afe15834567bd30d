"""The SPARQL 1.1 Protocol: reading a request, choosing a result format, writing a reply.

Nothing here evaluates a query: :mod:`sdwiki.workers` does, in worker processes, and
:mod:`sdwiki.endpoint` ties both to ``/sparql``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import Receive, Send

from sdwiki.query import MEDIA_TYPES, QueryError

MAX_BODY = 64 * 1024
"""The largest request body accepted (413 beyond)."""

Header = tuple[bytes, bytes]

# -- replies -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete HTTP answer: status, media type, extra headers and body."""

    status: int
    media_type: str
    body: bytes
    headers: tuple[Header, ...] = ()
    cacheable: bool = True
    """False for answers that say nothing about the query (the server was busy, a worker died)."""


def text_reply(status: int, message: str, *, cacheable: bool = True, headers: tuple[Header, ...] = ()) -> Reply:
    return Reply(status, "text/plain; charset=utf-8", (message.rstrip("\n") + "\n").encode(), headers, cacheable)


class ProtocolError(Exception):
    """A request the SPARQL protocol does not allow; carries the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- the protocol ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryRequest:
    """What a protocol request asks: the query, the wanted format, and the dataset."""

    text: str
    accept: str
    """The Accept header (content negotiation)."""
    override: str | None = None
    """A ``format=``/``output=`` parameter (a short name or a media type), which wins over Accept."""
    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()

    @property
    def has_dataset(self) -> bool:
        return bool(self.default_graphs or self.named_graphs)


_ESCAPES = re.compile(rb"(?:%[0-9A-Fa-f]{2})+")


def _unescaped(run: re.Match[bytes]) -> bytes:
    return bytes.fromhex(run.group().replace(b"%", b"").decode("ascii"))


def _field(part: bytes) -> str:
    return _ESCAPES.sub(_unescaped, part.replace(b"+", b" ")).decode("utf-8")


def _params(raw: bytes, where: str) -> list[tuple[str, str]]:
    """The fields of a query string or form body, as ``urllib.parse.parse_qsl`` reads them (blank
    values kept, UTF-8, strict). Decoded here in runs of escapes: a query sent with every
    character escaped costs ``parse_qsl`` a Python step per character."""
    try:
        raw.decode("utf-8")  # as sent, before any escape is undone
        return [(_field(name), _field(value)) for name, _, value in (f.partition(b"=") for f in raw.split(b"&") if f)]
    except UnicodeDecodeError:
        raise ProtocolError(400, f"the {where} is not valid UTF-8") from None


def _media(content_type: str) -> tuple[str, dict[str, str]]:
    kind, _, rest = content_type.partition(";")
    params = {}
    for part in rest.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            params[name.strip().lower()] = value.strip().strip('"').lower()
    return kind.strip().lower(), params


def parse_request(method: str, query_string: bytes, content_type: str, body: bytes, accept: str) -> QueryRequest:
    """Read a protocol request; raises :class:`ProtocolError` for anything the protocol forbids."""
    url_params = _params(query_string, "query string")
    if method in ("GET", "HEAD"):
        params = url_params
        if any(k == "update" for k, _ in params):
            raise ProtocolError(403, "updates are refused: this endpoint is read-only")
    elif method == "POST":
        kind, ctparams = _media(content_type)
        charset = ctparams.get("charset", "utf-8")
        if charset not in ("utf-8", "utf8", "us-ascii"):
            raise ProtocolError(415, f"charset {charset} is not supported: send UTF-8")
        if kind == "application/sparql-update" or any(k == "update" for k, _ in url_params):
            raise ProtocolError(403, "updates are refused: this endpoint is read-only")
        if kind == "application/x-www-form-urlencoded":
            if not body.isascii():
                raise ProtocolError(400, "the form body is not URL-encoded ASCII")
            params = _params(body, "form body")
            if any(k == "update" for k, _ in params):
                raise ProtocolError(403, "updates are refused: this endpoint is read-only")
            if any(k == "query" for k, _ in url_params):
                raise ProtocolError(400, "two queries: send the query in the body or the URL, not both")
            params = url_params + params
        elif kind == "application/sparql-query":
            if any(k == "query" for k, _ in url_params):
                raise ProtocolError(400, "two queries: the body is the query, the URL may not hold another")
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(400, "the query is not valid UTF-8") from None
            params = [("query", text), *url_params]
        else:
            raise ProtocolError(
                415,
                f"unsupported media type {kind or '(none)'}: send application/sparql-query "
                "or application/x-www-form-urlencoded",
            )
    else:
        raise ProtocolError(405, f"method {method} is not allowed: use GET or POST")
    queries = [v for k, v in params if k == "query"]
    if not queries:
        raise ProtocolError(400, "missing query: send ?query=… (GET), a query= form field, or a query body")
    if len(queries) > 1:
        raise ProtocolError(400, "two queries in one request: send exactly one query parameter")
    if "\x00" in queries[0]:
        raise ProtocolError(400, "the query contains a NUL character")
    override = next((v for k, v in params if k in ("format", "output") and _known_override(v)), None)
    return QueryRequest(
        queries[0],
        accept,
        override,
        tuple(v for k, v in params if k == "default-graph-uri"),
        tuple(v for k, v in params if k == "named-graph-uri"),
    )


# -- content negotiation ---------------------------------------------------------------------

_TABULAR: tuple[tuple[str, str], ...] = (
    ("application/sparql-results+json", "json"),
    ("application/sparql-results+xml", "xml"),
    ("text/csv", "csv"),
    ("text/tab-separated-values", "tsv"),
    ("application/json", "json"),
    ("application/xml", "xml"),
    ("text/xml", "xml"),
    ("text/plain", "table"),
)
_GRAPH: tuple[tuple[str, str], ...] = (
    ("text/turtle", "ttl"),
    ("application/n-triples", "nt"),
    ("application/ld+json", "jsonld"),
    ("application/rdf+xml", "xml"),
    ("application/x-turtle", "ttl"),
    ("text/plain", "nt"),
    ("application/json", "jsonld"),
    ("application/xml", "xml"),
    ("text/xml", "xml"),
)
_SHORT_TABULAR = {"json": "json", "xml": "xml", "csv": "csv", "tsv": "tsv", "table": "table", "text": "table"}
_SHORT_GRAPH = {
    "ttl": "ttl",
    "turtle": "ttl",
    "n3": "ttl",
    "nt": "nt",
    "ntriples": "nt",
    "n-triples": "nt",
    "jsonld": "jsonld",
    "json-ld": "jsonld",
    "json": "jsonld",
    "xml": "xml",
    "rdf": "xml",
    "rdf+xml": "xml",
    "rdfxml": "xml",
}
_GRAPH_MEDIA = {"ttl": MEDIA_TYPES["ttl"], "nt": MEDIA_TYPES["nt"], "jsonld": MEDIA_TYPES["jsonld"]}
_GRAPH_MEDIA["xml"] = MEDIA_TYPES["rdfxml"]


def _known_override(value: str) -> bool:
    v = value.strip().lower()
    return v in _SHORT_TABULAR or v in _SHORT_GRAPH or any(v == m for m, _ in (*_TABULAR, *_GRAPH))


def _accept_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media, params = _media(part)
        if not media:
            continue
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 0.0
        ranges.append((media, q))
    return ranges


def _quality(media: str, ranges: Sequence[tuple[str, float]]) -> float:
    """The q-value of ``media`` under the most specific matching Accept range."""
    best, specificity = 0.0, -1
    major = media.split("/")[0]
    for pattern, q in ranges:
        s = 2 if pattern == media else 1 if pattern == f"{major}/*" else 0 if pattern == "*/*" else -1
        if s > specificity:
            best, specificity = q, s
    return best if specificity >= 0 else 0.0


@functools.lru_cache(maxsize=1024)
def negotiate(kind: str, accept: str, override: str | None = None) -> tuple[str, str] | None:
    """The serialisation format and media type for an answer of ``kind``; None if none is acceptable."""
    graph = kind == "GRAPH"
    offers = _GRAPH if graph else _TABULAR
    if override:
        v = override.strip().lower()
        short = (_SHORT_GRAPH if graph else _SHORT_TABULAR).get(v)
        if short is None:
            short = next((f for m, f in offers if m == v), None)
        if short is not None:
            return short, _GRAPH_MEDIA[short] if graph else MEDIA_TYPES[short]
    ranges = _accept_ranges(accept)
    if not ranges:
        fmt = offers[0][1]
        return fmt, _GRAPH_MEDIA[fmt] if graph else MEDIA_TYPES[fmt]
    best_q, best = 0.0, None
    for media, fmt in offers:
        q = _quality(media, ranges)
        if q > best_q:
            best_q, best = q, fmt
    if best is None:
        return None
    return best, _GRAPH_MEDIA[best] if graph else MEDIA_TYPES[best]


def not_acceptable(kind: str) -> Reply:
    """406: no format the client accepts is offered for an answer of ``kind``."""
    offers = _GRAPH if kind == "GRAPH" else _TABULAR
    return text_reply(406, "no acceptable format; this answer is offered as " + ", ".join(m for m, _ in offers))


def error_reply(exc: QueryError) -> Reply:
    label = {"refused": "query refused", "timeout": "query stopped"}.get(exc.kind, "malformed query")
    status = 503 if exc.kind == "timeout" else 400
    headers: tuple[Header, ...] = ((b"sdwiki-error", exc.kind.encode()),)
    if exc.line:
        headers += (
            (b"sdwiki-error-line", str(exc.line).encode()),
            (b"sdwiki-error-column", str(exc.column).encode()),
        )
    return text_reply(status, f"{label}: {exc}", headers=headers)


# -- HTTP plumbing ---------------------------------------------------------------------------


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request body; 413 once it grows past ``limit``; ConnectionError if the client left."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("client disconnected")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ProtocolError(413, f"the request body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_reply(send: Send, reply: Reply, extra: Sequence[Header] = (), head: bool = False) -> None:
    headers = [
        (b"content-type", reply.media_type.encode()),
        (b"content-length", str(len(reply.body)).encode()),
        (b"vary", b"accept"),
        (b"cache-control", b"no-cache"),
        (b"x-content-type-options", b"nosniff"),
        *reply.headers,
        *extra,
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head or reply.status == 204 else reply.body})


DATASET_PARAMS = ("default-graph-uri", "named-graph-uri")


def check_dataset(request: QueryRequest, graphs: frozenset[str]) -> None:
    """Refuse a protocol dataset naming anything but the wiki's own named graphs."""
    for name, iris in zip(DATASET_PARAMS, (request.default_graphs, request.named_graphs), strict=True):
        for iri in iris:
            if iri not in graphs:
                raise ProtocolError(
                    400,
                    f"{name} <{iri}> is refused: only the wiki's own named graphs may be named "
                    "(nothing is read from files or URLs)",
                )
