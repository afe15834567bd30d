"""Query worker processes: each holds the graph and answers protocol requests, one at a time.

Oxigraph cannot interrupt a running query, so a query that outlives its time limit is stopped by
killing its worker, which is then replaced; the other workers keep answering.

The server and a worker talk over a socket pair in frames: a 4-byte length, a 4-byte job number,
and a pickled tuple of plain values. A job is the raw request (method, query string, content type,
body, Accept) and the graph version it must see; the worker parses, checks, evaluates and
serialises it, and answers with the finished reply (status, media type, body, headers). Jobs are
pipelined: a worker has up to :data:`DEPTH` jobs queued in its socket, so it never waits for the
server between two queries; it answers them in order. Frames with job number 0 are notices: the
worker is ready, or is loading a new graph (loading time is not query time).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdflib import Dataset

from sdwiki.graph import Engine
from sdwiki.protocol import (
    Header,
    ProtocolError,
    QueryRequest,
    Reply,
    check_dataset,
    error_reply,
    negotiate,
    not_acceptable,
    parse_request,
    text_reply,
)
from sdwiki.query import (
    QueryError,
    check,
    evaluate_oxigraph,
    json_results,
    oxigraph_answer,
    result_kind,
    results_json,
    run,
    serialize,
)

WORKER_MEMORY = 2 * 1024**3
"""The address space a query worker may use beyond what its graph needs (see :func:`memory_cap`)."""
MEMORY_PER_BYTE = 4
"""Address space per byte of the graph's N-Quads file: the loaded store, indexes and headroom."""
DEPTH = 2
"""Jobs queued in one worker at a time."""
STALL = 0.25
"""Seconds after which the jobs queued behind a slow query move to another worker."""
TICK = 0.05
"""Seconds between two checks of the time limits."""

_FRAME = struct.Struct("<II")
_NOTICE = 0


def memory_cap(graph_bytes: int, base: int = WORKER_MEMORY) -> int:
    """The address space a worker holding a graph of ``graph_bytes`` (N-Quads) may use."""
    return base + MEMORY_PER_BYTE * graph_bytes


DELTAS = 8
"""How many versions' changes are kept for workers to catch up with (see :func:`delta_path`)."""


def delta_path(folder: Path, version: int, suffix: str) -> Path:
    """What changed from version ``version - 1`` to ``version``: the N-Quads of the note graphs
    added or replaced (``.nq``) and the IRIs of the graphs removed or replaced (``.drop``)."""
    return folder / f"delta-{version}{suffix}"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One version of the graph, saved as an N-Quads file (one named graph per note)."""

    version: int
    path: Path
    graphs: frozenset[str]


Job = tuple[int, str, str, bytes, str, bytes, str]
"""(graph version, graph file, method, query string, content type, body, Accept)."""


def frame(number: int, message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _FRAME.pack(len(data), number) + data


# -- in the worker process -------------------------------------------------------------------


class _Graph:
    """The graph a worker answers from, and how it evaluates one request."""

    def __init__(self, engine: Engine, limit: int, memory: int | None) -> None:
        self.engine = engine
        self.limit = limit
        self.memory = memory
        self.version = 0
        self.names: frozenset[str] = frozenset()
        self.store: object = None
        self.ds: object = None
        self.prefixes: dict[str, str] = {}
        self._merged: dict[tuple[tuple[str, ...], tuple[str, ...]], object] = {}

    def load(self, version: int, path: Path) -> None:
        self.store = self.ds = None
        self._merged.clear()
        if self.memory != 0:
            import resource

            cap = self.memory or memory_cap(path.stat().st_size)
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_AS, (cap, resource.RLIM_INFINITY))
        from sdwiki.graph import new_dataset
        from sdwiki.query import prefixes_of

        ds = new_dataset(self.engine)
        self.prefixes = prefixes_of(ds)
        if self.engine == "oxigraph":
            import pyoxigraph as ox

            store = ds.store._inner  # type: ignore[attr-defined]
            store.load(path=str(path), format=ox.RdfFormat.N_QUADS)
            # the default graph is the merge of the notes' graphs: each distinct triple once
            store.update("INSERT { ?s ?p ?o } WHERE { GRAPH ?g { ?s ?p ?o } }")
            self.store = store
            self.names = frozenset(g.value for g in store.named_graphs() if hasattr(g, "value"))
        else:
            ds.parse(path, format="nquads")
            default = ds.default_graph
            for g in list(ds.graphs()):
                if g.identifier != default.identifier:
                    for t in g:
                        default.add(t)
            self.names = frozenset(str(g.identifier) for g in ds.graphs() if g.identifier != default.identifier)
        self.ds = ds
        self.version = version

    def catch_up(self, version: int, folder: Path) -> bool:
        """Apply the changes from the version held to ``version`` (False if some are gone, or
        the engine is not Oxigraph: then the whole graph is loaded)."""
        steps = range(self.version + 1, version + 1)
        if self.engine != "oxigraph" or self.store is None or not steps:
            return False
        paths = [(delta_path(folder, k, ".drop"), delta_path(folder, k, ".nq")) for k in steps]
        try:
            changes = [(drop.read_text("utf-8").split(), added) for drop, added in paths]
        except OSError:
            return False
        import pyoxigraph as ox

        store: ox.Store = self.store  # type: ignore[assignment]
        default = ox.DefaultGraph()
        names = set(self.names)
        for dropped, added in changes:
            gone: set[tuple[Any, Any, Any]] = set()
            for iri in dropped:
                graph = ox.NamedNode(iri)
                stated = store.quads_for_pattern(None, None, None, graph)
                gone.update((q.subject, q.predicate, q.object) for q in stated)
                store.remove_graph(graph)
                names.discard(iri)
            quads = list(ox.parse(path=str(added), format=ox.RdfFormat.N_QUADS))
            store.extend(quads)
            store.extend(ox.Quad(q.subject, q.predicate, q.object, default) for q in quads)
            names.update(q.graph_name.value for q in quads if isinstance(q.graph_name, ox.NamedNode))
            # the merge keeps a triple while some note graph still states it
            for s, p, o in gone:
                if not any(q.graph_name != default for q in store.quads_for_pattern(s, p, o, None)):
                    store.remove(ox.Quad(s, p, o, default))
        self.names = frozenset(names)
        self._merged.clear()
        self.version = version
        return True

    def answer(self, job: Job, notify: Callable[[str], None]) -> Reply:
        version, path, method, query_string, content_type, body, accept = job
        try:
            if version != self.version and not self.catch_up(version, Path(path).parent):
                notify("loading")
                self.load(version, Path(path))
                notify("loaded")
            request = parse_request(method, query_string, content_type, body, accept)
            check_dataset(request, self.names)
            return self.evaluate(request)
        except ProtocolError as exc:
            return text_reply(exc.status, exc.message)
        except QueryError as exc:
            return error_reply(exc)
        except MemoryError:
            return text_reply(503, "query stopped: it needed more memory than a query may use")
        except Exception as exc:  # a bug, reported to the client rather than killing the worker
            return text_reply(500, f"internal error: {type(exc).__name__}: {exc}", cacheable=False)

    def evaluate(self, request: QueryRequest) -> Reply:
        if self.engine != "oxigraph":
            return self._evaluate_rdflib(request)
        check(request.text, self.names)
        store, default, named = self.store, None, None
        if request.has_dataset:
            default = tuple(dict.fromkeys(request.default_graphs))
            named = tuple(dict.fromkeys(request.named_graphs))
            if len(default) > 1:  # Oxigraph would repeat a triple stated in two of them: merge
                store, default, named = self._merge(default, named), None, None
        result = evaluate_oxigraph(store, request.text, self.prefixes, default, named)  # type: ignore[arg-type]
        kind = result_kind(result)
        chosen = negotiate(kind, request.accept, request.override)
        if chosen is None:
            return not_acceptable(kind)
        fmt, media = chosen
        truncated = False
        if fmt == "json" and kind != "GRAPH":
            written = json_results(result, self.limit)
            if written is None:  # a term the direct writer leaves to rdflib: evaluate again
                result = evaluate_oxigraph(store, request.text, self.prefixes, default, named)  # type: ignore[arg-type]
                answer = oxigraph_answer(result, self.limit)
                doc = json.dumps(results_json(answer), ensure_ascii=False, separators=(",", ":"))
                written = doc.encode("utf-8"), answer.truncated
            data, truncated = written
        else:
            answer = oxigraph_answer(result, self.limit)
            data, truncated = serialize(answer, fmt).encode("utf-8"), answer.truncated
        headers: tuple[Header, ...] = ((b"sdwiki-truncated", b"true"),) if truncated else ()
        return Reply(200, media, data, headers)

    def _merge(self, default: tuple[str, ...], named: tuple[str, ...]) -> object:
        """A store whose default graph is the merge of ``default`` and whose named graphs are ``named``."""
        key = (default, named)
        if key not in self._merged:
            import pyoxigraph as ox

            if len(self._merged) > 32:
                self._merged.clear()
            source = self.store
            merged = ox.Store()
            for iri in default:
                merged.extend(
                    ox.Quad(q.subject, q.predicate, q.object, ox.DefaultGraph())
                    for q in source.quads_for_pattern(None, None, None, ox.NamedNode(iri))  # type: ignore[attr-defined]
                )
            for iri in named:
                merged.extend(source.quads_for_pattern(None, None, None, ox.NamedNode(iri)))  # type: ignore[attr-defined]
            self._merged[key] = merged
        return self._merged[key]

    def _evaluate_rdflib(self, request: QueryRequest) -> Reply:
        ds = self.ds
        assert isinstance(ds, Dataset)
        if request.has_dataset:
            ds = self._restricted(ds, request)
        answer = run(ds, request.text, engine=self.engine, limit=self.limit, graphs=self.names)
        chosen = negotiate(answer.kind, request.accept, request.override)
        if chosen is None:
            return not_acceptable(answer.kind)
        fmt, media = chosen
        if fmt == "json" and answer.kind != "GRAPH":
            doc = json.dumps(results_json(answer), ensure_ascii=False, separators=(",", ":"))
        else:
            doc = serialize(answer, fmt)
        headers: tuple[Header, ...] = ((b"sdwiki-truncated", b"true"),) if answer.truncated else ()
        return Reply(200, media, doc.encode("utf-8"), headers)

    def _restricted(self, ds: Dataset, request: QueryRequest) -> Dataset:
        from rdflib import Graph, URIRef

        from sdwiki.graph import new_dataset

        key = (request.default_graphs, request.named_graphs)
        if key not in self._merged:
            if len(self._merged) > 32:
                self._merged.clear()
            out = new_dataset(self.engine)
            default = out.default_graph
            for iri in dict.fromkeys(request.default_graphs):
                default.addN((s, p, o, default) for s, p, o in ds.graph(URIRef(iri)))
            for iri in dict.fromkeys(request.named_graphs):
                g = Graph(store=out.store, identifier=URIRef(iri))
                out.addN((s, p, o, g) for s, p, o in ds.graph(URIRef(iri)))
            self._merged[key] = out
        merged = self._merged[key]
        assert isinstance(merged, Dataset)
        return merged


def worker_main(sock: socket.socket, parent: int) -> None:
    """A query worker: loads the graph, then answers jobs until its socket closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when workers stop
    _die_with_parent(parent)
    buffer = bytearray()

    def messages() -> tuple[int, Any] | None:
        """The next frame's number and message (blocking); None once the server hung up."""
        while True:
            if len(buffer) >= _FRAME.size:
                size, number = _FRAME.unpack_from(buffer)
                end = _FRAME.size + size
                if len(buffer) >= end:
                    message = pickle.loads(buffer[_FRAME.size : end])
                    del buffer[:end]
                    return number, message
            try:
                data = sock.recv(1 << 16)
            except OSError:
                return None
            if not data:
                return None
            buffer.extend(data)

    def notify(what: str) -> None:
        sock.sendall(frame(_NOTICE, (what,)))

    first = messages()
    if first is None:
        return
    _, (version, path, engine, limit, memory) = first
    graph = _Graph(engine, limit, memory)
    graph.load(version, Path(path))
    notify("ready")
    while True:
        received = messages()
        if received is None:
            return
        number, job = received
        reply = graph.answer(job, notify)
        try:
            sock.sendall(frame(number, (reply.status, reply.media_type, reply.body, reply.headers, reply.cacheable)))
        except OSError:
            return


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
    worker_main(socket.socket(fileno=int(sys.argv[1])), int(sys.argv[2]))


# -- in the server process -------------------------------------------------------------------


_WORKER_PROGRAM = "from sdwiki.workers import worker_entry; worker_entry()"
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class _Task:
    """One request on its way through the pool."""

    __slots__ = ("arrived", "future", "job")

    def __init__(self, job: Job, future: asyncio.Future[Reply] | None, arrived: float) -> None:
        self.job = job
        self.future = future
        """None once the task was handed to another worker (its answer here is then dropped)."""
        self.arrived = arrived


class _Worker(asyncio.Protocol):
    """The server's end of one worker: its process, its socket and the tasks queued in it."""

    def __init__(self, pool: QueryPool, process: subprocess.Popen[bytes]) -> None:
        self.pool = pool
        self.process = process
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.queued: deque[_Task] = deque()
        self.started = 0.0
        """When the task at the head of the queue started running."""
        self.loading = False
        self.alive = True
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.outbox: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer.extend(data)
        while len(buffer) >= _FRAME.size:
            size, number = _FRAME.unpack_from(buffer)
            end = _FRAME.size + size
            if len(buffer) < end:
                break
            message = pickle.loads(buffer[_FRAME.size : end])
            del buffer[:end]
            if number == _NOTICE:
                self._notice(message[0])
            elif self.queued:
                self.pool._answered(self, Reply(*message))
            else:  # an answer nobody asked for: the worker is confused
                self.pool._failed(self)
                return

    def _notice(self, what: str) -> None:
        loop = asyncio.get_running_loop()
        if what == "ready":
            self.started = loop.time()
            if not self.ready.done():
                self.ready.set_result(True)
        elif what == "loading":
            self.loading = True
        elif what == "loaded":
            self.loading = False
            self.started = loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():  # died while starting: the pool's start-up sees to it
            self.ready.set_result(False)
        elif self.alive:
            self.pool._failed(self)

    def send(self, task: _Task) -> None:
        """Queue ``task`` here; the jobs sent in one turn of the event loop go in one write."""
        if not self.queued:
            self.started = asyncio.get_running_loop().time()
        self.queued.append(task)
        if not self.outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self.outbox.append(frame(1, task.job))

    def _flush(self) -> None:
        if self.transport is not None and self.alive:
            self.transport.write(b"".join(self.outbox))
        self.outbox.clear()


class QueryPool:
    """Worker processes holding the graph; a query past its time limit kills its worker."""

    def __init__(
        self,
        size: int,
        engine: Engine,
        limit: int,
        memory: int | None = None,
        timeout: float = 10.0,
        depth: int = DEPTH,
    ) -> None:
        self.size = size
        self.engine = engine
        self.limit = limit
        self.memory = memory
        """The address space cap of a worker: None scales it with the graph, 0 sets none."""
        self.timeout = timeout
        self.depth = depth
        self._workers: list[_Worker] = []
        """The workers answering (started, holding the graph)."""
        self._all: set[_Worker] = set()
        """Every worker process not yet reaped."""
        self._waiting: deque[_Task] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self._closed = False
        self.restarts = 0
        self.snapshot = Snapshot(0, Path(), frozenset())
        """The graph a new worker loads (kept current by the endpoint)."""

    async def start(self, snapshot: Snapshot) -> None:
        """Start every worker and wait until each holds the graph."""
        self.snapshot = snapshot
        await asyncio.gather(*(self._spawn(snapshot) for _ in range(self.size)))
        self._watchdog = asyncio.create_task(self._watch())

    async def _spawn(self, snapshot: Snapshot) -> None:
        # started from the event loop's thread: a worker dies with the thread that started it
        loop = asyncio.get_running_loop()
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
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        worker = _Worker(self, process)
        self._all.add(worker)
        await loop.create_unix_connection(lambda: worker, sock=ours)
        config = (snapshot.version, str(snapshot.path), self.engine, self.limit, self.memory)
        assert worker.transport is not None
        worker.transport.write(frame(_NOTICE, config))
        size = snapshot.path.stat().st_size if snapshot.path.is_file() else 0
        ready = False
        with contextlib.suppress(TimeoutError):
            ready = await asyncio.wait_for(asyncio.shield(worker.ready), 60.0 + size / 2e6)
        if not ready or self._closed:
            self._retire(worker)
            await self._reap(worker)
            if not self._closed:
                raise RuntimeError("a query worker could not load the graph")
            return
        self._workers.append(worker)
        self._dispatch()

    def _retire(self, worker: _Worker) -> None:
        """Stop ``worker`` at once; its queued tasks go to the other workers."""
        if not worker.alive:
            return
        worker.alive = False
        with contextlib.suppress(ValueError):
            self._workers.remove(worker)
        with contextlib.suppress(OSError, ValueError):
            worker.process.kill()
        if worker.transport is not None:
            worker.transport.abort()
        requeue = [t for t in worker.queued if t.future is not None and not t.future.done()]
        worker.queued.clear()
        self._waiting.extendleft(reversed(requeue))

    async def _reap(self, worker: _Worker) -> None:
        await asyncio.get_running_loop().run_in_executor(None, worker.process.wait)
        self._all.discard(worker)

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and start another on the current graph (retrying if that fails)."""
        self.restarts += 1
        self._retire(worker)

        async def replace_it() -> None:
            await self._reap(worker)
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
        self._dispatch()

    def _answered(self, worker: _Worker, reply: Reply) -> None:
        task = worker.queued.popleft()
        worker.started = asyncio.get_running_loop().time()
        if task.future is not None and not task.future.done():
            task.future.set_result(reply)
        self._dispatch()

    def _failed(self, worker: _Worker) -> None:
        """The worker died or broke the protocol: its running task fails, the others move."""
        if not worker.alive:
            return
        head = worker.queued[0] if worker.queued else None
        if head is not None and head.future is not None and not head.future.done():
            head.future.set_result(text_reply(503, "query stopped: the query worker failed (too much memory?)"))
        self._replace(worker)

    def _dispatch(self) -> None:
        """Hand waiting tasks to the least busy workers, up to :attr:`depth` each."""
        waiting = self._waiting
        while waiting:
            task = waiting[0]
            if task.future is None or task.future.done():
                waiting.popleft()
                continue
            # the least busy worker; between equals, the one whose query started last (the
            # others' may be long ones)
            best = None
            for w in self._workers:
                if not w.loading and (
                    best is None
                    or len(w.queued) < len(best.queued)
                    or (len(w.queued) == len(best.queued) and w.started > best.started)
                ):
                    best = w
            if best is None or len(best.queued) >= self.depth:
                return
            waiting.popleft()
            best.send(task)

    async def _watch(self) -> None:
        """Enforce the time limits: kill a worker whose query ran too long; give up on tasks
        that waited too long; move tasks queued behind a slow query to other workers."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.sleep(TICK)
            now = loop.time()
            for w in list(self._workers):
                if not w.queued or w.loading:
                    continue
                if now - w.started >= self.timeout:
                    head = w.queued[0]
                    if head.future is not None and not head.future.done():
                        limit = QueryError(f"the time limit ({self.timeout:g} s) was reached", kind="timeout")
                        head.future.set_result(error_reply(limit))
                    self._replace(w)
                elif now - w.started >= STALL and len(w.queued) > 1:
                    for task in itertools.islice(w.queued, 1, None):
                        if task.future is not None:
                            self._waiting.appendleft(_Task(task.job, task.future, task.arrived))
                            task.future = None
            while self._waiting and now - self._waiting[0].arrived >= self.timeout:
                task = self._waiting.popleft()
                if task.future is not None and not task.future.done():
                    task.future.set_result(
                        text_reply(503, "the server is busy: every query worker is occupied", cacheable=False)
                    )
            self._dispatch()

    async def run(self, job: Job) -> Reply:
        """The reply to ``job``, within the time limit (the wait for a worker included)."""
        loop = asyncio.get_running_loop()
        task = _Task(job, loop.create_future(), loop.time())
        self._waiting.append(task)
        self._dispatch()
        assert task.future is not None
        return await task.future

    async def close(self) -> None:
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        for task in list(self._tasks):
            task.cancel()
        workers = list(self._all)
        for w in workers:
            self._retire(w)
        for waiting in self._waiting:
            if waiting.future is not None and not waiting.future.done():
                waiting.future.set_result(text_reply(503, "the server is stopping", cacheable=False))
        self._waiting.clear()
        await asyncio.gather(*(self._reap(w) for w in workers), return_exceptions=True)
