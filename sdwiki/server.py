"""``sdwiki serve``: the authoring server.

It builds the site into a private folder, serves it with pretty addresses together with the SPARQL
endpoint (:mod:`sdwiki.endpoint`), watches the notes, rebuilds on every save and tells open pages to
reload over server-sent events. A failed rebuild never stops the server: its problems are shown on
every page until the notes are fixed. Only requests naming this server (Host header) are answered,
and no file outside the site folder is ever read.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import html
import json
import mimetypes
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

from sdwiki import parallel
from sdwiki.build import SiteBuilder, cache_dir
from sdwiki.endpoint import Endpoint, Header, Reply, send_reply, text_reply
from sdwiki.extract import NoteGraph
from sdwiki.graph import Engine
from sdwiki.pipeline import ContentError, Project, analytics_graph, load_project
from sdwiki.settings import Settings

Builder = Callable[[Path, Path, Settings], str]
"""Builds the site: ``(content, output, settings) -> report`` (see :func:`sdwiki.build.build_site`)."""

EVENTS = "/_sdwiki/events"
SCRIPT = "/_sdwiki/live.js"
STYLE = "/_sdwiki/live.css"
STATUS = "/_sdwiki/status"
"""JSON: the site's generation, and whether a rebuild or its follow-up work is under way."""
HEARTBEAT = 15.0
"""Seconds between keep-alive comments on the reload channel."""
QUIET = 2.0
"""Seconds without a save before the work that follows a rebuild (the whole-graph files, the
endpoint's graph) starts: while an author saves again and again, the pages alone are made."""
SWITCH = 0.0005
"""Seconds the event loop waits for the interpreter's lock while a rebuild's thread holds it
(Python's switch interval during rebuilds; 5 ms otherwise)."""
MAX_PROBLEMS = 50

_LIVE_JS = rb"""(() => {
  const me = document.currentScript;
  let shown = me ? me.dataset.generation : null;
  const here = decodeURIComponent(location.pathname).replace(/index\.html$/, "");
  const events = new EventSource("/_sdwiki/events");
  const reload = () => { events.close(); location.reload(); };
  const check = (e) => { if (e.data !== shown) reload(); };
  events.addEventListener("hello", check);
  events.addEventListener("reload", check);
  events.addEventListener("update", (e) => {
    const { generation, pages } = JSON.parse(e.data);
    const mine = (p) => (p.endsWith("*") ? here.startsWith(p.slice(0, -1)) : here === p);
    if (pages.some(mine)) reload(); else shown = String(generation);
  });
})();
"""
_LIVE_CSS = b"""#sdwiki-problems { position: fixed; inset: auto 0 0 0; max-height: 45vh; overflow: auto;
  margin: 0; padding: .75rem 1rem; background: #fff4f4; color: #5c0000; border-top: 3px solid #b00020;
  font: 14px/1.4 system-ui, sans-serif; z-index: 2147483647; }
#sdwiki-problems h2 { font-size: 1rem; margin: 0 0 .5rem; }
#sdwiki-problems pre { margin: 0; white-space: pre-wrap; font: 13px/1.4 ui-monospace, monospace; }
"""
_MEDIA = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".ttl": "text/turtle; charset=utf-8",
    ".nt": "application/n-triples",
    ".nq": "application/n-quads",
    ".trig": "application/trig",
    ".jsonld": "application/ld+json",
    ".rq": "application/sparql-query",
    ".graphml": "application/graphml+xml",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}


def media_type(path: Path) -> str:
    suffix = path.suffix.lower()
    return _MEDIA.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


# -- static files ----------------------------------------------------------------------------


class Redirect(str):
    """A site address that must be requested with a trailing slash."""


def resolve(root: str, raw_path: bytes) -> Path | Redirect | None:
    """The file under ``root`` (a resolved folder) that ``raw_path`` names, or None.

    The path is percent-decoded exactly once; NUL bytes, backslashes, invalid UTF-8, ``.``/``..``
    and hidden segments are refused, and the real path (symlinks followed) must lie inside
    ``root``. A folder answers with its ``index.html``.
    """
    try:
        decoded = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in decoded or "\\" in decoded or not decoded.startswith("/"):
        return None
    segments = [s for s in decoded.split("/") if s]
    if any(s in (".", "..") or (s.startswith(".") and s != ".well-known") for s in segments):
        return None
    real = os.path.realpath(os.path.join(root, *segments))
    if not _inside(root, real):
        return None
    if os.path.isdir(real):
        if not decoded.endswith("/"):
            return Redirect("/" + "".join(quote(s, safe="") + "/" for s in segments))
        real = os.path.realpath(os.path.join(real, "index.html"))
        if not _inside(root, real):
            return None
    return Path(real) if os.path.isfile(real) else None


def _inside(root: str, real: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def inject(page: bytes, generation: int, problems: Sequence[str]) -> bytes:
    """``page`` with the reload script (and the problems panel, if any) before ``</body>``."""
    snippet = f'<script src="{SCRIPT}" data-generation="{generation}" defer></script>'
    if problems:
        snippet = problems_panel(problems) + snippet
    data = snippet.encode()
    at = page.lower().rfind(b"</body>")
    return page + data if at < 0 else page[:at] + data + page[at:]


def problems_panel(problems: Sequence[str]) -> str:
    shown = list(problems[:MAX_PROBLEMS])
    if len(problems) > MAX_PROBLEMS:
        shown.append(f"… and {len(problems) - MAX_PROBLEMS} more (run sdwiki check)")
    n = len(problems)
    return (
        f'<link rel="stylesheet" href="{STYLE}">'
        f'<aside id="sdwiki-problems" role="alert"><h2>{n} problem{"s" if n != 1 else ""} in the notes</h2>'
        f"<pre>{html.escape(chr(10).join(shown))}</pre></aside>"
    )


_FALLBACK = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><main><h1>{title}</h1><p>{text}</p></main></body></html>
"""


# -- the live site ---------------------------------------------------------------------------


class LiveSite:
    """The site folder being served, rebuilt whenever a note changes."""

    def __init__(
        self,
        content: Path,
        site: Path,
        settings: Settings,
        builder: Builder | None = None,
        endpoint: Endpoint | None = None,
        watch: bool = True,
        prebuilt: bool = False,
        quiet: float = QUIET,
    ) -> None:
        self.content = content
        self.quiet = quiet
        """Seconds without a save before the work that follows a rebuild starts (see :data:`QUIET`)."""
        self.prebuilt = prebuilt
        """The builder has just built the site: the first rebuild only loads what it made."""
        self.site = site
        self.root = os.path.realpath(site)
        self.settings = settings
        self.builder = builder
        self.endpoint = endpoint
        self.watch_enabled = watch
        self.generation = 0
        self.reloads: dict[int, frozenset[str] | None] = {}
        """For recent generations, the addresses of the pages that changed (None: any page)."""
        self.problems: tuple[str, ...] = ()
        self.rebuilds = 0
        self._changed = asyncio.Event()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._saved: set[Path] = set()
        """Files changed since the rebuild in progress started (read from its thread too)."""
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ahead: set[str] = set()
        """The pages the rebuild in progress announced ahead of the rest (see :meth:`_shown_ahead`)."""
        if isinstance(builder, SiteBuilder):
            builder.ahead = self._shown_ahead

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        await self.rebuild((), quiet=0.0)
        if self.endpoint is not None:
            await self.endpoint.start()
        if self.watch_enabled:
            self._tasks = [asyncio.create_task(self._watch()), asyncio.create_task(self._rebuilds())]

    async def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        self._wake.set()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.endpoint is not None:
            await self.endpoint.close()

    @property
    def busy(self) -> bool:
        """Whether a rebuild, or the work that follows one, is under way or waiting (down to making
        the server's memory writable again after the forked copy doing that work: see
        :func:`sdwiki.parallel.own_pages`)."""
        return self._lock.locked() or bool(self._saved) or parallel.owning()

    def _outdated(self) -> bool:
        """Whether a note was saved since the rebuild in progress started: its remaining work is stale."""
        return bool(self._saved) or self.stopping

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def wait_change(self, seen: int, timeout: float) -> int:
        """The generation once it differs from ``seen`` (or after ``timeout`` seconds)."""
        if self.generation == seen and not self.stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        return self.generation

    async def rebuild(self, changed: Iterable[Path], quiet: float | None = None) -> None:
        """Rebuild the site and the graph; what goes wrong becomes the problems shown in pages.

        Open pages are told to reload as soon as the pages and the notes' graphs are ready; the
        files that follow from the whole graph (saved queries, ``data/graph.*``) come next, once
        no note has been saved for ``quiet`` seconds (:attr:`quiet`), then the network measures (the analytics
        graph, as ``sdwiki query`` has it). (That work runs in a copy of this process: every
        object a later rebuild changes is then copied once more, a cost paid only after a pause.)
        """
        async with self._lock:
            gc.disable()  # see set_aside_memory: no collection pauses the rebuild before pages reload
            self._ahead = set()
            # the event loop tells pages to reload, and serves them, while the rebuild's thread runs:
            # it takes the interpreter's lock within SWITCH of asking, not the default 5 ms, each time
            interval = sys.getswitchinterval()
            sys.setswitchinterval(min(interval, SWITCH))
            try:
                problems, project, written = await asyncio.to_thread(self._rebuild, tuple(changed))
                graphs = project.ordered_graphs() if project is not None else None
                # the builder made this project (not a fallback reading): its measures and later work apply
                built = project is not None and getattr(self.builder, "project", None) is project
                text = getattr(self.builder, "graph_text", None)
                measures = getattr(self.builder, "measures", None) if built else None
                if measures is None and graphs is not None and self.endpoint is not None:
                    await self.endpoint.load(graphs, text)  # the notes' graphs first; the measures follow
                self.rebuilds += 1
                pages, shown = pages_changed(written), tuple(problems)
                told = bool(self._ahead) and pages is not None and shown == self.problems
                if pages is not None and told:
                    pages -= self._ahead  # the saved notes' pages, told already
                if not told or pages:
                    self._announce(shown, pages)  # pages reload while the rest is made
            finally:
                sys.setswitchinterval(interval)
                gc.enable()
            # what follows from the whole graph is made in a copy of this process: a note saved
            # meanwhile stops it at once, and the next rebuild does it for both
            finish = getattr(self.builder, "finish", None)
            if finish is not None and built:
                wait = self.quiet if quiet is None else quiet
                if wait > 0 and not self._outdated():
                    with contextlib.suppress(TimeoutError):  # woken by a save (or by stopping)
                        await asyncio.wait_for(self._wake.wait(), wait)
                if self._outdated():
                    return
                try:
                    later = await asyncio.to_thread(finish, self._outdated, forked=True)
                except Exception as exc:
                    self._announce((*problems, f"the site could not be rebuilt: {exc}"))
                else:
                    if later is None:
                        return
                    pages = pages_changed(later)
                    if pages:
                        self._announce(tuple(problems), pages)
            if self._outdated():
                return
            if project is not None and graphs is not None and self.endpoint is not None:
                if measures is None:
                    measures = await asyncio.to_thread(_analytics, project)
                if measures is not None:
                    await self.endpoint.load([*graphs, measures], text, stop=self._outdated)

    def _shown_ahead(self, files: tuple[str, ...]) -> None:
        """Told by the builder, from the rebuild's thread, that the saved notes' pages are on disk
        while it makes the rest: open pages showing them reload now."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._announce_ahead, files)

    def _announce_ahead(self, files: tuple[str, ...]) -> None:
        pages = pages_changed(files)
        if pages:
            self._ahead |= pages
            self._announce(self.problems, pages)

    def _announce(self, problems: tuple[str, ...], pages: frozenset[str] | None = None) -> None:
        """A new generation of the site: open pages showing one of ``pages`` reload (all of them
        when ``pages`` is None or the problems changed)."""
        full = pages is None or problems != self.problems
        self.problems = problems
        self.generation += 1
        self.reloads[self.generation] = None if full else pages
        self.reloads.pop(self.generation - 64, None)
        old, self._changed = self._changed, asyncio.Event()
        old.set()

    def reload_since(self, seen: int) -> frozenset[str] | None:
        """The pages changed after generation ``seen`` (None: any page may have)."""
        out: set[str] = set()
        for generation in range(seen + 1, self.generation + 1):
            pages = self.reloads.get(generation)
            if pages is None:
                return None
            out |= pages
        return frozenset(out)

    def _rebuild(self, changed: Sequence[Path]) -> tuple[list[str], Project | None, tuple[str, ...] | None]:
        """Build; the problems to show, the project, and the files written (None: unknown)."""
        problems: list[str] = []
        written: tuple[str, ...] | None = None
        prebuilt, self.prebuilt = self.prebuilt, False
        if self.builder is not None and not prebuilt:
            try:
                if isinstance(self.builder, SiteBuilder):  # told what was saved: it looks at those notes only
                    self.builder(self.content, self.site, self.settings, saved=changed)
                else:
                    self.builder(self.content, self.site, self.settings)
                written = getattr(self.builder, "changed", None)
            except Exception as exc:  # a failed build is shown in the page, never fatal
                problems.append(f"the site could not be rebuilt: {exc}")
        try:
            built = getattr(self.builder, "project", None) if not problems else None
            project = built if isinstance(built, Project) else None
            if project is None:
                project = load_project(self.content, self.settings.base_iri, cache_dir(self.site))
        except ContentError as exc:
            problems.append(str(exc))
            return problems, None, None
        except Exception as exc:  # a bug meeting odd content: shown, and the last graph stays served
            problems.append(f"the notes could not be read: {type(exc).__name__}: {exc}")
            return problems, None, None
        touched = set()
        for p in changed:
            with contextlib.suppress(ValueError):
                touched.add(p.resolve().relative_to(self.content.resolve()).as_posix())
        problems.extend(d.format() for d in project.diagnostics if d.severity == "error" or d.file in touched)
        return problems, project, written

    async def _watch(self) -> None:
        """Note every change for :meth:`_rebuilds`, even while one runs; if watching fails (the
        folder vanished…), say so and retry."""
        from watchfiles import awatch

        while not self.stopping:
            try:
                # an editor's save raises its events within a millisecond or two: 10 ms of quiet
                # takes them as one change (a longer burst is picked up by the next rebuild)
                async for changes in awatch(self.content, stop_event=self._stop, step=10, rust_timeout=1000):
                    self._saved.update(Path(p) for _, p in changes)
                    self._wake.set()
            except Exception as exc:
                self._announce((*self.problems, f"watching {self.content} failed: {exc}"))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 1.0)
                self._wake.set()  # read the folder again

    async def _rebuilds(self) -> None:
        """Rebuild for the changes noted since the last rebuild started, one rebuild at a time."""
        while not self.stopping:
            await self._wake.wait()
            self._wake.clear()
            if self.stopping:
                break
            changed, self._saved = self._saved, set()
            await self.rebuild(changed)


def set_aside_memory() -> None:
    """After the first build, set every object aside from the cyclic collector: its full
    collections then walk only what later builds allocate, not the whole wiki in memory. (A full
    collection during a rebuild takes longer than the rest of a one-note rebuild; rebuilds also
    pause the collector until open pages are told to reload.)"""
    gc.collect()
    gc.freeze()


def pages_changed(files: Sequence[str] | None) -> frozenset[str] | None:
    """The addresses of the pages that show what changed in these site files (None: any page).
    An address ending in ``*`` stands for every address it begins."""
    if files is None:
        return None
    out: set[str] = set()
    for rel in files:
        if rel.startswith("assets/"):
            return None
        if rel.endswith("index.html"):
            out.add("/" + rel[: -len("index.html")])
        elif rel.endswith(".html"):
            out.add("/" + rel)
        elif rel in ("data/graph.json", "data/graph-data.js"):
            out.add("/graph/")
        elif rel == "data/graph.nq":  # what the in-browser SPARQL editor loads
            out.update(("/sparql/", "/queries/*"))
    return frozenset(out)


# -- the application -------------------------------------------------------------------------


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The Host header values this server answers (anything else may be DNS rebinding)."""
    names = {host.lower(), "localhost", "127.0.0.1", "[::1]"}
    if ":" in host and not host.startswith("["):
        names.add(f"[{host.lower()}]")
    if host in ("0.0.0.0", "::"):
        names.update({socket.gethostname().lower(), socket.getfqdn().lower()})
    values = {f"{n}:{port}" for n in names}
    if port == 80:
        values |= names
    return frozenset(values)


class App:
    """The ASGI application of ``sdwiki serve``: site, ``/sparql`` and the reload channel."""

    def __init__(self, live: LiveSite, endpoint: Endpoint, host: str, port: int, cors: bool = False) -> None:
        self.live = live
        self.endpoint = endpoint
        self.hosts = allowed_hosts(host, port)
        self.origins = frozenset(f"http://{h}" for h in self.hosts)
        self.cors = cors
        self._cors_headers: tuple[Header, ...] = (
            (
                (b"access-control-allow-origin", b"*"),
                (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                (b"access-control-allow-headers", b"Accept, Content-Type"),
                (b"access-control-expose-headers", b"SDwiki-Truncated, SDwiki-Error"),
                (b"access-control-max-age", b"600"),
            )
            if cors
            else ()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        host = origin = b""
        cross_site = False
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                cross_site = value == b"cross-site"
        if host.decode("latin-1").lower() not in self.hosts:
            await send_reply(send, text_reply(400, "unknown Host: this server answers only its own address"))
            return
        same_origin = not origin or origin.decode("latin-1").lower() in self.origins
        path: str = scope["path"]
        if path == "/sparql" or (path == "/sparql/" and b"query=" in scope["query_string"]):
            if not self.cors and (not same_origin or cross_site):
                await send_reply(send, text_reply(403, "cross-origin requests are refused (see --cors)"))
            elif self._editor_redirect(scope):
                await send_reply(send, Reply(303, "text/plain", b""), [(b"location", b"/sparql/")])
            else:
                await self.endpoint.handle(scope, receive, send, self._cors_headers)
        elif path.startswith("/_sdwiki/"):
            await self._internal(path, scope, receive, send, same_origin and not cross_site)
        else:
            await self._static(scope, receive, send)

    def _editor_redirect(self, scope: Scope) -> bool:
        """A browser asking for ``/sparql`` without a query gets the site's query editor, if built."""
        if scope["path"] != "/sparql" or scope["method"] not in ("GET", "HEAD"):
            return False
        if b"query=" in scope["query_string"]:
            return False
        accept = next((v for k, v in scope["headers"] if k == b"accept"), b"")
        return b"text/html" in accept and os.path.isfile(os.path.join(self.live.root, "sparql", "index.html"))

    async def _internal(self, path: str, scope: Scope, receive: Receive, send: Send, allowed: bool) -> None:
        head = scope["method"] == "HEAD"
        if path == SCRIPT:
            await send_reply(send, Reply(200, "text/javascript; charset=utf-8", _LIVE_JS), head=head)
        elif path == STYLE:
            await send_reply(send, Reply(200, "text/css; charset=utf-8", _LIVE_CSS), head=head)
        elif path == STATUS:
            status = json.dumps({"generation": self.live.generation, "busy": self.live.busy}).encode()
            await send_reply(send, Reply(200, "application/json", status, cacheable=False), head=head)
        elif path == EVENTS:
            if not allowed:
                await send_reply(send, text_reply(403, "the reload channel refuses other origins"))
            else:
                await self._events(receive, send)
        else:
            await send_reply(send, text_reply(404, "not found"))

    async def _events(self, receive: Receive, send: Send) -> None:
        """Server-sent events: ``hello`` with the current generation, then ``reload`` on each rebuild."""
        live = self.live
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        seen = live.generation
        first = f"retry: 1000\nevent: hello\ndata: {seen}\n\n".encode()
        await send({"type": "http.response.body", "body": first, "more_body": True})
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            while not gone.done() and not live.stopping:
                waiting = asyncio.ensure_future(live.wait_change(seen, HEARTBEAT))
                await asyncio.wait({gone, waiting}, return_when=asyncio.FIRST_COMPLETED)
                if gone.done():
                    waiting.cancel()
                    break
                generation = waiting.result()
                if generation != seen:
                    pages = live.reload_since(seen)
                    seen = generation
                    if pages is None:
                        message = f"event: reload\ndata: {seen}\n\n".encode()
                    else:
                        update = json.dumps({"generation": seen, "pages": sorted(pages)}, separators=(",", ":"))
                        message = f"event: update\ndata: {update}\n\n".encode()
                else:
                    message = b": keep-alive\n\n"
                await send({"type": "http.response.body", "body": message, "more_body": True})
            if not gone.done():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()

    async def _static(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await send_reply(send, text_reply(405, "the site is read-only"), [(b"allow", b"GET, HEAD")])
            return
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        target = resolve(self.live.root, raw.split(b"?", 1)[0])
        head = method == "HEAD"
        if isinstance(target, Redirect):
            location = target + ("?" + scope["query_string"].decode("latin-1") if scope["query_string"] else "")
            await send_reply(send, Reply(301, "text/plain", b""), [(b"location", location.encode())], head=head)
        elif target is None:
            await self._not_found(send, head)
        elif target.suffix.lower() in (".html", ".htm"):
            try:
                page = await asyncio.to_thread(target.read_bytes)
            except OSError:
                await self._not_found(send, head)
                return
            body = inject(page, self.live.generation, self.live.problems)
            await send_reply(send, Reply(200, "text/html; charset=utf-8", body), head=head)
        else:
            response = FileResponse(target, media_type=media_type(target), headers={"cache-control": "no-cache"})
            await response(scope, receive, send)

    async def _not_found(self, send: Send, head: bool) -> None:
        page = os.path.join(self.live.root, "404.html")
        if os.path.isfile(page) and _inside(self.live.root, os.path.realpath(page)):
            body = await asyncio.to_thread(Path(page).read_bytes)
        elif self.live.problems:
            text = "The site could not be built; the problems are listed below."
            body = _FALLBACK.format(title="sdwiki: build problems", text=text).encode()
        else:
            body = _FALLBACK.format(title="Not found", text="No page has this address.").encode()
        body = inject(body, self.live.generation, self.live.problems)
        await send_reply(send, Reply(404, "text/html; charset=utf-8", body), head=head)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.live.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.live.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _analytics(project: Project) -> NoteGraph | None:
    try:
        return analytics_graph(project)
    except Exception:  # the measures are a bonus; the notes' graphs are already served
        return None


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


# -- the command -----------------------------------------------------------------------------


def create_app(
    content: Path,
    site: Path,
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8000,
    cors: bool = False,
    builder: Builder | None = None,
    watch: bool = True,
    workers: int | None = None,
    prebuilt: bool = False,
    quiet: float = QUIET,
) -> App:
    """The whole server as one ASGI app (the initial build runs at startup, unless ``prebuilt``:
    the builder has built the site already). ``quiet``: see :data:`QUIET`."""
    engine: Engine = "rdflib" if settings.engine == "rdflib" else "oxigraph"
    endpoint = Endpoint(engine, settings.query_timeout, settings.result_limit, workers)
    live = LiveSite(content, site, settings, builder, endpoint, watch, prebuilt, quiet)
    return App(live, endpoint, host, port, cors)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket (IPv6 if ``host`` is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def serve(content: Path, host: str, port: int, cors: bool, settings: Settings) -> None:
    """Build, serve and watch until interrupted (Ctrl-C)."""
    import uvicorn

    if not content.is_dir():
        print(f"sdwiki: {content}: content folder not found", file=sys.stderr)
        sys.exit(2)
    try:
        sock = listen(host, port)
    except OSError as exc:
        print(f"sdwiki: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(2)
    work = Path(tempfile.mkdtemp(prefix="sdwiki-serve-"))  # the site, and whatever the builder keeps beside it
    site = work / "site"
    try:
        builder = SiteBuilder(search="first", in_place=True, pages_first=True)  # keeps what it can between saves
        # the first build, before any thread starts, so that its workers can be forked; if it
        # fails it runs again at startup, where what went wrong is shown in the pages
        with contextlib.suppress(Exception):
            builder(content, site, settings)
        prebuilt = builder.project is not None
        set_aside_memory()
        app = create_app(content, site, settings, host, sock.getsockname()[1], cors, builder, prebuilt=prebuilt)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
            proxy_headers=False,  # no proxy is trusted: every request is answered as it came
        )
        shown = f"[{host}]" if ":" in host else host
        print(f"sdwiki: serving {content} at http://{shown}:{sock.getsockname()[1]}/ (SPARQL at /sparql)")
        # uvicorn stops gracefully on SIGINT/SIGTERM, then raises the signal again under the
        # handlers it found: make those quiet, so that the cleanup below runs and we exit with 0
        quiet = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            for sig, handler in quiet.items():
                signal.signal(sig, handler)
    finally:
        sock.close()
        shutil.rmtree(work, ignore_errors=True)
    print("sdwiki: stopped")


def _ignore(signum: int, frame: object) -> None:
    pass
