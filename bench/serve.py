"""``sdwiki serve`` under load: edit-to-HTML latency in watch mode and ``/sparql`` throughput.

The server runs as a child process on a free loopback port with its own temporary folder, so the
site it builds (``sdwiki-site-*`` there) can be watched on disk. Every wait is bounded; whatever
cannot be measured is reported with its reason, never raised.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

CLIENTS = 8
ACCEPT = "application/sparql-results+json"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeError(Exception):
    """The server could not be started or stopped answering; the message is the reason."""


class Server:
    """``sdwiki serve CONTENT`` as a child process (a context manager)."""

    def __init__(self, content: Path, workdir: Path) -> None:
        self.content = content
        self.workdir = workdir
        self.port = free_port()
        self.tmp = workdir / "serve-tmp"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "serve.log"
        self.startup_seconds = 0.0

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float) -> None:
        """Start the server and wait until it answers (its first build included)."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        cwd = self.workdir / "cwd"
        cwd.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "sdwiki", "serve", str(self.content), "--port", str(self.port)]
        start = time.perf_counter()
        with open(self.log, "wb") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env={**os.environ, "TMPDIR": str(self.tmp)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = start + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise ServeError(f"sdwiki serve exited with {self.proc.returncode}: {self.log_tail()}")
            status = 0
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _ = self.get("/", timeout=min(5.0, max(0.1, deadline - time.perf_counter())))
            if status == 200:
                self.startup_seconds = time.perf_counter() - start
                if self.site_dir() is None:
                    raise ServeError(f"sdwiki serve answers, but no built site was found in {self.tmp}")
                return
            time.sleep(0.05)
        raise ServeError(f"sdwiki serve did not answer within {timeout:.0f} s")

    def log_tail(self) -> str:
        try:
            text = self.log.read_bytes()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""
        return " ".join(text.strip().splitlines()[-3:])[:300]

    def site_dir(self) -> Path | None:
        """The site the server built in its temporary folder (the first folder holding an index.html)."""
        for pattern in ("*/index.html", "*/*/index.html"):
            found = sorted(glob.glob(str(self.tmp / pattern)))  # glob skips hidden staging folders
            if found:
                return Path(found[0]).parent
        return None

    def connection(self, timeout: float | None = 30.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get(self, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
        conn = self.connection(timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# -- watch mode ------------------------------------------------------------------------------


@dataclass
class _Reloads:
    """What the reload channel said: for each ``reload`` event, when the page was fetched again."""

    marker: bytes = b""
    fetched: list[tuple[float, bool]] = field(default_factory=list)
    """(time the page was back, whether it showed the current marker)."""
    lock: threading.Lock = field(default_factory=threading.Lock)


def _listen(server: Server, page: str, state: _Reloads, conn: http.client.HTTPConnection) -> None:
    """Do what an open page does: fetch the page again on each ``reload`` event, and on each
    ``update`` event that lists it."""
    with contextlib.suppress(Exception):  # the connection is cut when measuring ends: that ends this thread
        conn.request("GET", "/_sdwiki/events", headers={"Accept": "text/event-stream"})
        resp = conn.getresponse()
        event = b""
        while True:
            line = resp.readline()
            if not line:
                return
            line = line.strip()
            if line.startswith(b"event: "):
                event = line[7:]
            elif line.startswith(b"data: ") and (event == b"reload" or (event == b"update" and _lists(line[6:], page))):
                _, body = server.get(page)
                with state.lock:
                    state.fetched.append((time.perf_counter(), state.marker in body))


def _lists(data: bytes, page: str) -> bool:
    """Whether an ``update`` event's pages include ``page`` (as the reload script decides)."""
    pages = json.loads(data)["pages"]
    return any(page.startswith(p[:-1]) if p.endswith("*") else page == p for p in pages)


def edit_note(note: Path, marker: str) -> None:
    """Add a sentence carrying ``marker`` to the end of the note's Definition."""
    text = note.read_text("utf-8")
    head, sep, tail = text.partition("\n\n## Key Thinkers")
    if not sep:
        raise ValueError(f"{note}: no Key Thinkers section to edit before")
    note.write_text(f"{head} Revised as {marker}.{sep}{tail}", "utf-8")


@dataclass(frozen=True, slots=True)
class WatchResult:
    disk_ms: list[float]
    """Save to the page's new HTML on disk, per edit."""
    browser_ms: list[float]
    """Save to the page fetched again after the ``reload`` event (what an open browser does, minus painting)."""
    problem: str | None = None


def watch_latency(server: Server, note: Path, page_rel: str, edits: int, timeout: float) -> WatchResult:
    """Edit ``note`` ``edits`` times; time each edit until the HTML shows it, on disk and over HTTP."""
    site = server.site_dir()
    if site is None:
        return WatchResult([], [], "the served site folder was not found")
    page_file = site / page_rel / "index.html"
    page_url = "/" + page_rel + "/"
    if not page_file.is_file():
        return WatchResult([], [], f"{page_rel}/index.html is not in the served site")
    state = _Reloads()
    conn = server.connection(timeout=None)
    listener = threading.Thread(target=_listen, args=(server, page_url, state, conn), daemon=True)
    listener.start()
    disk: list[float] = []
    browser: list[float] = []
    problem = None
    try:
        time.sleep(0.5)
        for k in range(edits):
            _settle(state)
            marker = f"edit-{os.getpid()}-{k}"
            with state.lock:
                state.marker = marker.encode()
                seen = len(state.fetched)
            start = time.perf_counter()
            edit_note(note, marker)
            deadline = start + timeout
            found = None
            while time.perf_counter() < deadline:
                with contextlib.suppress(OSError):
                    if marker.encode() in page_file.read_bytes():
                        found = time.perf_counter()
                        break
                time.sleep(0.001)
            if found is None:
                problem = f"the edit was not on disk within {timeout:.0f} s"
                break
            disk.append((found - start) * 1000)
            shown = None
            while time.perf_counter() < deadline and shown is None:
                with state.lock:
                    shown = next((t for t, ok in state.fetched[seen:] if ok), None)
                time.sleep(0.001)
            if shown is None:
                problem = f"no reload showed the edit within {timeout:.0f} s"
                break
            browser.append((shown - start) * 1000)
            if found - start > 30:  # one slow edit is enough to judge; do not spend an hour on it
                break
    finally:
        if conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        listener.join(2)
    return WatchResult(disk, browser, problem)


def _settle(state: _Reloads, quiet: float = 1.0, limit: float = 60.0) -> None:
    """Wait until no rebuild has finished for ``quiet`` seconds (bounded by ``limit``)."""
    end = time.perf_counter() + limit
    while time.perf_counter() < end:
        with state.lock:
            last = state.fetched[-1][0] if state.fetched else 0.0
        if time.perf_counter() - last >= quiet:
            return
        time.sleep(0.05)


def settle_server(server: Server, limit: float = 600.0) -> float | None:
    """Wait until the server says no rebuild, and no work following one, is under way
    (``/_sdwiki/status``); the seconds it took, or None if it was still busy after ``limit``."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        with contextlib.suppress(OSError, ValueError):
            status, body = server.get("/_sdwiki/status")
            if status == 200 and json.loads(body).get("busy") is False:
                return time.perf_counter() - start
        time.sleep(0.05)
    return None


# -- endpoint throughput ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Throughput:
    requests: int
    errors: int
    seconds: float

    @property
    def per_second(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0


def _request(port: int, query: str) -> bytes:
    return (
        f"GET /sparql?query={quote(query, safe='')} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: {ACCEPT}\r\n\r\n"
    ).encode("ascii")


def _answer(sock: socket.socket, buffer: bytearray) -> int:
    """Read one HTTP response (``Content-Length`` framed) from ``sock``; its status code."""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            break
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buffer += chunk
    head = bytes(buffer[:end]).split(b"\r\n")
    status = int(head[0].split(b" ", 2)[1])
    length = 0
    for line in head[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    total = end + 4 + length
    while len(buffer) < total:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buffer += chunk
    del buffer[:total]
    return status


def _client(index: int, port: int, requests: list[bytes], start: Any, deadline: float, out: Any) -> None:
    """One client process: a keep-alive connection, one request at a time; reports (done, errors)."""
    done = errors = 0

    def connect() -> socket.socket:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    sock = connect()
    buffer = bytearray()
    start.wait()
    for request in requests:
        if time.time() > deadline:
            break
        try:
            sock.sendall(request)
            if _answer(sock, buffer) != 200:
                errors += 1
        except (OSError, ValueError, IndexError):
            errors += 1
            sock.close()
            sock = connect()
            buffer.clear()
        done += 1
    sock.close()
    out.put((index, done, errors))


def throughput(server: Server, queries: Sequence[str], clients: int = CLIENTS, limit: float = 120.0) -> Throughput:
    """Send every query once from ``clients`` client processes in parallel, each on one keep-alive
    connection; count the answers and the errors (anything but 200).

    Client processes, not threads, so the load generator is not throttled by one interpreter's lock.
    """
    return load(server.port, queries, clients, limit)


def load(port: int, queries: Sequence[str], clients: int = CLIENTS, limit: float = 120.0) -> Throughput:
    """:func:`throughput` against any ``sdwiki serve`` listening on 127.0.0.1:``port``."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    requests = [_request(port, q) for q in queries]
    start = ctx.Event()
    out: Any = ctx.Queue()
    deadline = time.time() + 1.0 + limit
    procs = [
        ctx.Process(target=_client, args=(i, port, requests[i::clients], start, deadline, out), daemon=True)
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    time.sleep(1.0)  # every client is connected and waiting
    began = time.perf_counter()
    start.set()
    reports: dict[int, tuple[int, int]] = {}
    with contextlib.suppress(Exception):  # a client that never reports counts its whole share as errors
        while len(reports) < clients:
            i, done, errors = out.get(timeout=limit + 60)
            reports[i] = (done, errors)
    seconds = time.perf_counter() - began
    for p in procs:
        p.join(5)
        if p.is_alive():
            p.kill()
    shares = [len(requests[i::clients]) for i in range(clients)]
    done = sum(reports.get(i, (n, n))[0] for i, n in enumerate(shares))
    errors = sum(reports.get(i, (n, n))[1] for i, n in enumerate(shares))
    return Throughput(done, errors, seconds)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


# -- python -m bench.serve -------------------------------------------------------------------

_LABELS = "SELECT DISTINCT ?l WHERE { ?s rdfs:label ?l FILTER(isLiteral(?l)) } ORDER BY ?l"
_GROUPS = ("a", "sd:tag", "sd:category", "sd:keyThinker", "sd:era", "sd:linksTo", "skos:related", "sd:hasExample")


def label_queries(port: int, count: int) -> list[str]:
    """``count`` distinct label lookups (each text asked once: no reply cache can answer them)."""
    import json

    status, body = 0, b""
    for _ in range(5):  # a server still loading its graph may answer 503 at first
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", f"/sparql?query={quote(_LABELS, safe='')}", headers={"Accept": ACCEPT})
        response = conn.getresponse()
        status, body = response.status, response.read()
        conn.close()
        if status == 200:
            break
        time.sleep(1)
    if status != 200:
        raise ServeError(f"the label query answered {status}: {body[:200]!r}")
    doc = json.loads(body)
    labels = [b["l"]["value"] for b in doc["results"]["bindings"]]
    out: list[str] = []
    for round_ in range(count // max(1, len(labels)) + 1):
        for label in labels:
            text = json.dumps(label if round_ == 0 else f"{label} ({round_})", ensure_ascii=False)
            out.append(f"SELECT ?s WHERE {{ ?s rdfs:label {text} }}")
    return out[:count]


def main(argv: Sequence[str] | None = None) -> None:
    """Start ``sdwiki serve CONTENT`` (or use one on ``--port``); with ``--edits``, time saves of a
    note until its page is on disk and reloaded; then print ``/sparql`` throughput."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=main.__doc__)
    parser.add_argument("content", nargs="?", default="content", type=Path)
    parser.add_argument("--port", type=int, help="measure a server already listening on this port")
    parser.add_argument("--simple", type=int, default=12000, help="distinct label lookups (default 12000)")
    parser.add_argument("--aggregate", type=int, default=1000, help="distinct GROUP BY queries (default 1000)")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--edits", type=int, default=0, help="first, time this many saves of --note (on a copy)")
    parser.add_argument("--note", default="concepts/Security Dilemma.md", help="the note to edit (under CONTENT)")
    parser.add_argument("--page", default="concept/security-dilemma", help="the address of its page")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sdwiki-bench-serve-") as tmp:
        content = args.content.resolve()
        if args.edits:  # saves go to a copy: the content folder is never written
            content = Path(tmp) / "content"
            shutil.copytree(args.content, content)
        with Server(content, Path(tmp)) as server:
            if args.port:
                server.port = args.port
            else:
                server.start(600)
                print(f"started in {server.startup_seconds:.1f} s")
            if args.edits and not args.port:
                watch = watch_latency(server, content / args.note, args.page, args.edits, 60)
                for name, times in (("on disk", watch.disk_ms), ("reloaded", watch.browser_ms)):
                    shown = ", ".join(f"{ms:.0f}" for ms in times)
                    middle = median(times) or 0.0
                    print(f"save → {name:8} median {middle:.0f} ms, max {max(times, default=0):.0f} ms ({shown})")
                if watch.problem:
                    print(f"watch: {watch.problem}")
                settled = settle_server(server)
                print("idle after the last save: " + (f"{settled:.2f} s" if settled is not None else "still busy"))
            _throughput(server, args)


def _throughput(server: Server, args: Any) -> None:
    """Print ``/sparql`` throughput: distinct label lookups, distinct GROUP BY counts, one query."""
    from bench.sparql import aggregate_queries

    simple = label_queries(server.port, args.simple)
    for name, queries in (
        ("simple", simple),
        ("aggregate", aggregate_queries(args.aggregate, _GROUPS)),
        ("cached", [simple[0]] * args.simple),
    ):
        t = load(server.port, queries, args.clients)
        print(
            f"{name:9} {t.per_second:8.0f} q/s  {t.requests} requests, {t.errors} errors, "
            f"{t.seconds:.2f} s, {args.clients} clients"
        )


if __name__ == "__main__":
    main()
