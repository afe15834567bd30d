"""The SPARQL 1.1 Protocol endpoint served at ``/sparql``: read-only, time-limited, cached.

A request (GET ``?query=``, POST form, POST ``application/sparql-query``) is handed as it came to
a pool of worker processes (:mod:`sdwiki.workers`) that each hold the graph: a worker reads it
(:mod:`sdwiki.protocol`), checks it, evaluates it with :mod:`sdwiki.query` and returns the finished
reply, so the server's event loop only moves bytes. A query that outlives its time limit is stopped
by killing its worker, which is then replaced; the other workers keep answering. Replies are
cached per raw request and graph version, so a repeated question is answered without leaving the
event loop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from starlette.types import Receive, Scope, Send

from sdwiki.extract import NoteGraph
from sdwiki.graph import Engine, GraphText, nquads_parts
from sdwiki.parallel import run_forked
from sdwiki.protocol import (
    MAX_BODY,
    Header,
    ProtocolError,
    QueryRequest,
    Reply,
    error_reply,
    negotiate,
    parse_request,
    read_body,
    send_reply,
    text_reply,
)
from sdwiki.workers import DELTAS, WORKER_MEMORY, QueryPool, Snapshot, delta_path

__all__ = [
    "MAX_BODY",
    "WORKER_MEMORY",
    "Endpoint",
    "Header",
    "ProtocolError",
    "QueryPool",
    "QueryRequest",
    "Reply",
    "Snapshot",
    "error_reply",
    "negotiate",
    "parse_request",
    "read_body",
    "send_reply",
    "text_reply",
]

CACHE_ENTRIES = 4096
CACHE_BYTES = 64 * 1024**2


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
        memory: int | None = None,
    ) -> None:
        """``memory`` caps each worker's address space; None scales the cap with the graph
        (:func:`sdwiki.workers.memory_cap`), 0 sets none."""
        self.engine = engine
        self.timeout = timeout
        self.limit = limit
        size = workers or max(2, min(8, os.cpu_count() or 2))
        self.pool = QueryPool(size, engine, limit, memory, timeout)
        self.cache = _Cache()
        self._inflight: dict[object, asyncio.Future[Reply]] = {}
        self._folder: Path | None = None
        self.snapshot = Snapshot(0, Path(), frozenset())
        self._graphs: dict[str, NoteGraph] = {}
        """The note graphs of the last version, by graph IRI."""

    def update(self, note_graphs: Sequence[NoteGraph]) -> Snapshot:
        """Make ``note_graphs`` the graph queries see (workers load it before their next query).

        Call it from the event loop's thread, or before the server runs; :meth:`load` does the
        same without blocking the loop.
        """
        snapshot = self._write(note_graphs)
        self._activate(snapshot, note_graphs)
        return snapshot

    async def load(
        self, note_graphs: Sequence[NoteGraph], text: GraphText | None = None, stop: Callable[[], bool] | None = None
    ) -> Snapshot | None:
        """:meth:`update`, writing the graph's file in a thread. ``text``: graphs already written
        out as N-Quads lines (the site builder keeps them; see :func:`sdwiki.graph.nquads_parts`).

        With ``stop``, the file is written in a copy of this process that is killed as soon as
        ``stop`` says yes (a newer graph is coming): queries then keep the current graph, and
        the answer is None."""
        if stop is None:
            snapshot: Snapshot | None = await asyncio.to_thread(self._write, note_graphs, text)
        else:
            self._files()  # made here: the copy's own changes stay in the copy
            snapshot = await asyncio.to_thread(run_forked, partial(self._write, note_graphs, text), stop)
        if snapshot is not None:
            self._activate(snapshot, note_graphs)
        return snapshot

    def _write(self, note_graphs: Sequence[NoteGraph], text: GraphText | None = None) -> Snapshot:
        """Write the files of the next version (changing nothing else: see :meth:`_activate`)."""
        version = self.snapshot.version + 1
        folder = self._files()
        path = folder / f"graph-{version}.nq"
        graphs = {str(g.graph): g for g in note_graphs}
        if version > 1:  # what changed since the last version: a worker holding it applies just that
            dropped = [iri for iri, g in self._graphs.items() if graphs.get(iri) is not g]
            added = [g for iri, g in graphs.items() if self._graphs.get(iri) is not g]
            delta_path(folder, version, ".nq").write_text(nquads_parts(added, False, known=text)[0], "utf-8")
            delta_path(folder, version, ".drop").write_text("".join(f"{iri}\n" for iri in dropped), "utf-8")
        tmp = path.with_suffix(".tmp")
        # the named graphs only: the workers add the default graph (the merge)
        tmp.write_text(nquads_parts(note_graphs, False, known=text)[0], "utf-8")
        tmp.replace(path)
        return Snapshot(version, path, frozenset(graphs))

    def _activate(self, snapshot: Snapshot, note_graphs: Sequence[NoteGraph]) -> None:
        old, self.snapshot = self.snapshot, snapshot
        self._graphs = {str(g.graph): g for g in note_graphs}
        self.pool.snapshot = snapshot
        self.cache.clear()
        if old.version > 1:  # a worker may still be reading the previous two
            stale = self._files() / f"graph-{old.version - 2}.nq"
            stale.unlink(missing_ok=True)
            for suffix in (".nq", ".drop"):  # workers further behind than this load the whole graph
                delta_path(self._files(), old.version - DELTAS, suffix).unlink(missing_ok=True)

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
        """The reply to one protocol request (cached per request and graph version).

        Identical requests arriving together are evaluated once.
        """
        snapshot = self.snapshot
        key = (snapshot.version, method, query_string, content_type, body, accept)
        reply = self.cache.get(key)
        if reply is not None:
            return reply
        shared = self._inflight.get(key)
        if shared is not None:
            return await asyncio.shield(shared)
        shared = asyncio.get_running_loop().create_future()
        self._inflight[key] = shared
        try:
            job = (snapshot.version, str(snapshot.path), method, query_string, content_type, body, accept)
            reply = await self.pool.run(job)
        except BaseException:
            shared.set_result(text_reply(503, "the request was abandoned; send it again", cacheable=False))
            raise
        finally:
            del self._inflight[key]
        shared.set_result(reply)
        if reply.cacheable and self.snapshot.version == snapshot.version:
            self.cache.put(key, reply)
        return reply

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
