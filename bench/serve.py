"""``sdwiki serve`` under load: edit-to-HTML latency in watch mode and ``/sparql`` throughput.

The server runs as a child process on a free loopback port with its own temporary folder, so the
site it builds (``sdwiki-site-*`` there) can be watched on disk. Every wait is bounded; whatever
cannot be measured is reported with its reason, never raised.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import os
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
    """Do what an open page does: on each ``reload`` event, fetch the page again."""
    with contextlib.suppress(Exception):  # the connection is cut when measuring ends: that ends this thread
        conn.request("GET", "/_sdwiki/events", headers={"Accept": "text/event-stream"})
        resp = conn.getresponse()
        while True:
            line = resp.readline()
            if not line:
                return
            if line.strip() == b"event: reload":
                _, body = server.get(page)
                with state.lock:
                    state.fetched.append((time.perf_counter(), state.marker in body))


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


# -- endpoint throughput ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Throughput:
    requests: int
    errors: int
    seconds: float

    @property
    def per_second(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0


def throughput(server: Server, queries: Sequence[str], clients: int = CLIENTS, limit: float = 120.0) -> Throughput:
    """Send every query once from ``clients`` keep-alive connections in parallel; count answers and errors."""
    paths = [f"/sparql?query={quote(q, safe='')}" for q in queries]
    shares = [paths[i::clients] for i in range(clients)]
    barrier = threading.Barrier(clients + 1)
    done = [0] * clients
    errors = [0] * clients
    deadline = [0.0]

    def client(i: int) -> None:
        conn = server.connection()
        barrier.wait()
        for path in shares[i]:
            if time.perf_counter() > deadline[0]:
                break
            try:
                conn.request("GET", path, headers={"Accept": ACCEPT})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    errors[i] += 1
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
                conn = server.connection()
            done[i] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + limit
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join(limit + 60)
    seconds = time.perf_counter() - start
    return Throughput(sum(done), sum(errors), seconds)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None
