"""The SPARQL 1.1 Protocol endpoint served at ``/sparql``: read-only, time-limited, cached.

A request is read into a :class:`QueryRequest` (GET ``?query=``, POST form, POST
``application/sparql-query``), checked with :func:`sdwiki.query.check`, and evaluated by
:func:`sdwiki.query.run` in a pool of worker processes that each hold the graph. Oxigraph cannot
interrupt a running query, so a query that outlives its time limit is stopped by killing its
worker, which is then replaced; the other workers keep answering. Replies are cached per raw
request and graph version, so a repeated question is answered without leaving the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import parse_qsl

from rdflib import Dataset, Graph, URIRef
from starlette.types import Receive, Scope, Send

from sdwiki.extract import NoteGraph
from sdwiki.graph import Engine, build_dataset, new_dataset
from sdwiki.query import MEDIA_TYPES, Answer, QueryError, check, results_json, run, serialize

MAX_BODY = 64 * 1024
"""The largest request body accepted (413 beyond)."""
WORKER_MEMORY = 2 * 1024**3
"""The address space one query worker may use; a query that needs more fails, not the machine."""
CACHE_ENTRIES = 4096
CACHE_BYTES = 64 * 1024**2

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


_DATASET_PARAMS = ("default-graph-uri", "named-graph-uri")


def _params(raw: bytes | str, where: str) -> list[tuple[str, str]]:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
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
            try:
                form = body.decode("ascii")
            except UnicodeDecodeError:
                raise ProtocolError(400, "the form body is not URL-encoded ASCII") from None
            params = _params(form, "form body")
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


# -- evaluation (in a worker process) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One version of the graph, saved to a file the workers load from."""

    version: int
    path: Path
    graphs: frozenset[str]


def evaluate(ds: Dataset, graphs: frozenset[str], request: QueryRequest, limit: int, engine: Engine) -> Reply:
    """Run a request on ``ds`` through :func:`sdwiki.query.run` and serialise the answer."""
    try:
        answer = run(ds, request.text, engine=engine, limit=limit, graphs=graphs)
    except QueryError as exc:
        return error_reply(exc)
    chosen = negotiate(answer.kind, request.accept, request.override)
    if chosen is None:
        return _not_acceptable(answer)
    fmt, media = chosen
    if fmt == "json" and answer.kind != "GRAPH":
        # the same document as serialize(answer, "json"), without indentation: json's C encoder
        body = json.dumps(results_json(answer), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    else:
        body = serialize(answer, fmt).encode("utf-8")
    headers: tuple[Header, ...] = ((b"sdwiki-truncated", b"true"),) if answer.truncated else ()
    return Reply(200, media, body, headers)


def _not_acceptable(answer: Answer) -> Reply:
    offers = _GRAPH if answer.kind == "GRAPH" else _TABULAR
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


def _load(path: Path, engine: Engine) -> tuple[tuple[NoteGraph, ...], Dataset]:
    graphs: tuple[NoteGraph, ...] = pickle.loads(path.read_bytes())
    return graphs, build_dataset(graphs, engine)


def _restricted(graphs: Iterable[NoteGraph], request: QueryRequest, engine: Engine) -> Dataset:
    """The dataset a request names: the merge of its default graphs, and its named graphs."""
    by_iri = {str(g.graph): g for g in graphs}
    ds = new_dataset(engine)
    ds.default_union = False
    default = ds.default_graph
    for iri in dict.fromkeys(request.default_graphs):
        default.addN((s, p, o, default) for s, p, o in by_iri[iri].triples)
    for iri in dict.fromkeys(request.named_graphs):
        g = Graph(store=ds.store, identifier=URIRef(iri))
        ds.addN((s, p, o, g) for s, p, o in by_iri[iri].triples)
    return ds


def worker_main(conn: Connection, parent: int) -> None:
    """A query worker: loads the graph, then answers jobs until its connection closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when workers stop
    _die_with_parent(parent)
    snapshot: Snapshot
    engine: Engine
    limit: int
    memory: int
    snapshot, engine, limit, memory = conn.recv()
    if memory:
        import resource

        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    graphs, ds = _load(snapshot.path, engine)
    names = frozenset(str(g.graph) for g in graphs)
    version = snapshot.version
    restricted: dict[tuple[tuple[str, ...], tuple[str, ...]], Dataset] = {}
    conn.send(("ready", version))
    while True:
        try:
            job: tuple[int, str, QueryRequest] = conn.recv()
        except (EOFError, OSError):
            return
        wanted, path, request = job
        try:
            if wanted != version:
                graphs, ds = _load(Path(path), engine)
                names = frozenset(str(g.graph) for g in graphs)
                version = wanted
                restricted.clear()
            target = ds
            if request.has_dataset:
                key = (request.default_graphs, request.named_graphs)
                if key not in restricted:
                    if len(restricted) > 32:
                        restricted.clear()
                    restricted[key] = _restricted(graphs, request, engine)
                target = restricted[key]
            reply = evaluate(target, names, request, limit, engine)
        except MemoryError:
            reply = text_reply(503, "query stopped: it needed more memory than a query may use")
        except Exception as exc:  # a bug, reported to the client rather than killing the worker
            reply = text_reply(500, f"internal error: {type(exc).__name__}: {exc}", cacheable=False)
        conn.send(reply)


def _die_with_parent(parent: int) -> None:
    """On Linux, have the kernel kill this worker if the server dies (even in a long query)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the server is already gone
        os._exit(0)


def worker_entry() -> None:  # pragma: no cover - runs in the worker process
    """The worker's program: ``python -c '…worker_entry()' FD PARENT-PID``."""
    worker_main(Connection(int(sys.argv[1])), int(sys.argv[2]))


# -- the worker pool (in the server process) -------------------------------------------------


class _Worker:
    __slots__ = ("conn", "process")

    def __init__(self, process: subprocess.Popen[bytes], conn: Connection) -> None:
        self.process = process
        self.conn = conn


_WORKER_PROGRAM = "from sdwiki.endpoint import worker_entry; worker_entry()"
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


def _start_worker() -> tuple[subprocess.Popen[bytes], Connection]:
    """A fresh interpreter running :func:`worker_main`, connected by a socket pair."""
    ours, theirs = socket.socketpair()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_PROGRAM, str(theirs.fileno()), str(os.getpid())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    finally:
        theirs.close()
    return process, Connection(ours.detach())


class QueryPool:
    """Worker processes holding the graph; a query past its time limit kills its worker."""

    def __init__(self, size: int, engine: Engine, limit: int, memory: int = WORKER_MEMORY) -> None:
        self.size = size
        self.engine = engine
        self.limit = limit
        self.memory = memory
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._all: set[_Worker] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.restarts = 0
        self.snapshot = Snapshot(0, Path(), frozenset())
        """The graph a new worker loads (kept current by the endpoint)."""

    async def start(self, snapshot: Snapshot) -> None:
        """Start every worker and wait until each holds the graph."""
        self.snapshot = snapshot
        starting = [self._spawn(snapshot) for _ in range(self.size)]
        await asyncio.gather(*starting)

    async def _spawn(self, snapshot: Snapshot) -> None:
        # started from the event loop's thread: a worker dies with the thread that started it
        process, conn = _start_worker()
        worker = _Worker(process, conn)
        self._all.add(worker)
        conn.send((snapshot, self.engine, self.limit, self.memory))
        ready = await self._receive(worker, 60.0)
        if ready is None or self._closed:
            await self._discard(worker)
            if not self._closed:
                raise RuntimeError("a query worker could not load the graph")
            return
        self._idle.put_nowait(worker)

    async def _receive(self, worker: _Worker, timeout: float | None) -> object | None:
        """The worker's next message; None if it died or the time ran out (then it is killed)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[object | None] = loop.create_future()
        fd = worker.conn.fileno()

        def readable() -> None:
            loop.remove_reader(fd)
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                message = None
            if not fut.done():
                fut.set_result(message)

        loop.add_reader(fd, readable)
        try:
            await asyncio.wait({fut}, timeout=timeout)
        finally:
            if not fut.done():
                loop.remove_reader(fd)
        return fut.result() if fut.done() else None

    async def _discard(self, worker: _Worker) -> None:
        self._all.discard(worker)
        with contextlib.suppress(OSError, ValueError):
            worker.process.kill()
        worker.conn.close()
        await asyncio.get_running_loop().run_in_executor(None, worker.process.wait)

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and start another on the current graph (retrying if that fails)."""
        self.restarts += 1

        async def replace_it() -> None:
            await self._discard(worker)
            for attempt in range(5):
                if self._closed:
                    return
                try:
                    await self._spawn(self.snapshot)
                    return
                except (RuntimeError, OSError):
                    await asyncio.sleep(0.5 * 2**attempt)

        task = asyncio.create_task(replace_it())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, snapshot: Snapshot, request: QueryRequest, timeout: float) -> Reply:
        """Evaluate ``request`` in a worker within ``timeout`` seconds (waiting for one included)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            worker = await asyncio.wait_for(self._idle.get(), timeout)
        except TimeoutError:
            return text_reply(503, "the server is busy: every query worker is occupied", cacheable=False)
        try:
            worker.conn.send((snapshot.version, str(snapshot.path), request))
        except OSError:
            self._replace(worker)
            return text_reply(503, "a query worker failed; it is being restarted", cacheable=False)
        message = await self._receive(worker, max(0.0, deadline - loop.time()))
        if isinstance(message, Reply):
            self._idle.put_nowait(worker)
            return message
        self._replace(worker)
        if message is None and worker.process.poll() is None:
            return error_reply(QueryError(f"the time limit ({timeout:g} s) was reached", kind="timeout"))
        return text_reply(503, "query stopped: the query worker failed (too much memory?)")

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*(self._discard(w) for w in list(self._all)), return_exceptions=True)


# -- the endpoint ----------------------------------------------------------------------------


class _Cache:
    """Least-recently-used replies, bounded in entries and bytes."""

    def __init__(self, entries: int = CACHE_ENTRIES, size: int = CACHE_BYTES) -> None:
        self._data: OrderedDict[object, Reply] = OrderedDict()
        self._entries = entries
        self._size = size
        self._bytes = 0

    def get(self, key: object) -> Reply | None:
        reply = self._data.get(key)
        if reply is not None:
            self._data.move_to_end(key)
        return reply

    def put(self, key: object, reply: Reply) -> None:
        if len(reply.body) > self._size // 8 or key in self._data:
            return
        self._data[key] = reply
        self._bytes += len(reply.body)
        while len(self._data) > self._entries or self._bytes > self._size:
            _, old = self._data.popitem(last=False)
            self._bytes -= len(old.body)

    def clear(self) -> None:
        self._data.clear()
        self._bytes = 0


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SPARQL endpoint</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>SPARQL endpoint</h1>
<p>This address answers SPARQL 1.1 Protocol requests (read-only). The prefixes sd, rdf, rdfs, owl,
xsd, skos, dcterms, foaf and prov are predeclared.</p>
<form method="post" action="sparql">
<p><label for="query">Query</label><br>
<textarea id="query" name="query" rows="12" cols="80">SELECT ?concept ?label
WHERE { ?concept a sd:Concept ; rdfs:label ?label }
ORDER BY ?label
LIMIT 20</textarea></p>
<p><label for="format">Results as</label>
<select id="format" name="format"><option>table</option><option>json</option><option>xml</option>
<option>csv</option><option>tsv</option><option>ttl</option><option>nt</option><option>jsonld</option>
</select> <button type="submit">Run</button></p></form></main></body></html>
"""


class Endpoint:
    """The state of ``/sparql``: the current graph, the worker pool, and the reply cache."""

    def __init__(
        self,
        engine: Engine = "oxigraph",
        timeout: float = 10.0,
        limit: int = 10_000,
        workers: int | None = None,
        memory: int = WORKER_MEMORY,
    ) -> None:
        self.engine = engine
        self.timeout = timeout
        self.limit = limit
        self.pool = QueryPool(workers or max(2, min(8, os.cpu_count() or 2)), engine, limit, memory)
        self.cache = _Cache()
        self._inflight: dict[object, asyncio.Task[Reply]] = {}
        self._folder: Path | None = None
        self.snapshot = Snapshot(0, Path(), frozenset())
        self._versions = itertools.count(1)

    def update(self, note_graphs: Sequence[NoteGraph]) -> Snapshot:
        """Make ``note_graphs`` the graph queries see (workers load it before their next query).

        Call it from the event loop's thread, or before the server runs; :meth:`load` does the
        same without blocking the loop.
        """
        snapshot = self._write(note_graphs)
        self._activate(snapshot)
        return snapshot

    async def load(self, note_graphs: Sequence[NoteGraph]) -> Snapshot:
        """:meth:`update`, writing the graph's file in a thread."""
        snapshot = await asyncio.to_thread(self._write, note_graphs)
        self._activate(snapshot)
        return snapshot

    def _write(self, note_graphs: Sequence[NoteGraph]) -> Snapshot:
        version = next(self._versions)
        path = self._files() / f"graph-{version}.pickle"
        slim = tuple(replace(g, diagnostics=()) for g in note_graphs)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(slim, protocol=pickle.HIGHEST_PROTOCOL))
        tmp.replace(path)
        return Snapshot(version, path, frozenset(str(g.graph) for g in note_graphs))

    def _activate(self, snapshot: Snapshot) -> None:
        old, self.snapshot = self.snapshot, snapshot
        self.pool.snapshot = snapshot
        self.cache.clear()
        if old.version > 1:  # a worker may still be reading the previous two
            stale = self._files() / f"graph-{old.version - 2}.pickle"
            stale.unlink(missing_ok=True)

    async def start(self) -> None:
        if self.snapshot.version == 0:
            self.update(())
        await self.pool.start(self.snapshot)

    async def close(self) -> None:
        await self.pool.close()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def _files(self) -> Path:
        """The private folder of graph files (removed by :meth:`close`, or at exit at the latest)."""
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="sdwiki-graph-"))
            weakref.finalize(self, shutil.rmtree, self._folder, True)
        return self._folder

    def human_page(self) -> Reply:
        return Reply(200, "text/html; charset=utf-8", _PAGE.encode())

    async def answer(self, method: str, query_string: bytes, content_type: str, body: bytes, accept: str) -> Reply:
        """The reply to one protocol request (cached per request and graph version)."""
        snapshot = self.snapshot
        key = (snapshot.version, method, query_string, content_type, body, accept)
        reply = self.cache.get(key)
        if reply is not None:
            return reply
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._compute(snapshot, method, query_string, content_type, body, accept))
            self._inflight[key] = task

            def done(t: asyncio.Task[Reply], key: object = key) -> None:
                self._inflight.pop(key, None)
                if (
                    not t.cancelled()
                    and t.exception() is None
                    and t.result().cacheable
                    and self.snapshot.version == snapshot.version
                ):
                    self.cache.put(key, t.result())

            task.add_done_callback(done)
        return await asyncio.shield(task)

    async def _compute(
        self,
        snapshot: Snapshot,
        method: str,
        query_string: bytes,
        content_type: str,
        body: bytes,
        accept: str,
    ) -> Reply:
        try:
            request = parse_request(method, query_string, content_type, body, accept)
            self._check_dataset(request, snapshot.graphs)
            check(request.text, snapshot.graphs)
        except ProtocolError as exc:
            return text_reply(exc.status, exc.message)
        except QueryError as exc:
            return error_reply(exc)
        return await self.pool.run(snapshot, request, self.timeout)

    async def handle(self, scope: Scope, receive: Receive, send: Send, extra: Sequence[Header] = ()) -> None:
        """Answer one HTTP request for ``/sparql`` (ASGI); ``extra`` headers go on every reply."""
        method: str = scope["method"]
        accept = content_type = ""
        length = -1
        for name, value in scope["headers"]:
            if name == b"accept":
                accept = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                length = int(value) if value.isdigit() else MAX_BODY + 1
        query_string: bytes = scope["query_string"]
        if method == "OPTIONS":
            await send_reply(send, Reply(204, "text/plain", b""), [(b"allow", b"GET, HEAD, POST, OPTIONS"), *extra])
            return
        if method in ("GET", "HEAD") and b"query=" not in query_string and "text/html" in accept:
            await send_reply(send, self.human_page(), extra, head=method == "HEAD")
            return
        body = b""
        if method == "POST":
            if length > MAX_BODY:
                await send_reply(send, text_reply(413, f"the request body exceeds {MAX_BODY} bytes"), extra)
                return
            try:
                body = await read_body(receive, MAX_BODY)
            except ProtocolError as exc:
                await send_reply(send, text_reply(exc.status, exc.message), extra)
                return
            except ConnectionError:
                return
        reply = await self.answer(method, query_string, content_type, body, accept)
        await send_reply(send, reply, extra, head=method == "HEAD")

    @staticmethod
    def _check_dataset(request: QueryRequest, graphs: frozenset[str]) -> None:
        for name, iris in zip(_DATASET_PARAMS, (request.default_graphs, request.named_graphs), strict=True):
            for iri in iris:
                if iri not in graphs:
                    raise ProtocolError(
                        400,
                        f"{name} <{iri}> is refused: only the wiki's own named graphs may be named "
                        "(nothing is read from files or URLs)",
                    )


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
