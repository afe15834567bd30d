"""Real servers for tests, started and stopped by the tests themselves, on 127.0.0.1 only.

- :class:`ThreadedServer`: an ASGI app under uvicorn in a background thread (a free port).
- :func:`sdwiki_serve`: ``sdwiki serve`` as a subprocess.
- :func:`oxigraph_server`: Oxigraph's SPARQL server (PyPI ``oxigraph``) on a temporary store.
- :func:`virtuoso_server`: a private Virtuoso instance (Debian ``virtuoso-opensource``) whose
  files all live in a temporary folder; its ``dba`` password is the default one, which is safe
  only because it listens on loopback and lives for one test.

Every wait is bounded; a server that does not come up fails the test with its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from sdwiki.server import Builder, create_app
from sdwiki.settings import Settings

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
VIRTUOSO = "/usr/bin/virtuoso-t"
VIRTUOSO_INI = Path("/etc/virtuoso-opensource-7/virtuoso.ini")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Until something accepts connections on ``port`` (fails after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before listening")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {HOST}:{port} after {timeout} s")


def wait_until_answering(url: str, timeout: float, process: subprocess.Popen[bytes]) -> None:
    """Until ``url``/sparql answers a query (the port opens before the first build is done)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/sparql", params={"query": "ASK {}"}, timeout=timeout).status_code == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process is still there after ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


class ThreadedServer:
    """``with ThreadedServer(app, port) as url:`` — uvicorn serving ``app`` from a thread."""

    def __init__(self, app: ASGIApp, port: int | None = None, startup_timeout: float = 60.0) -> None:
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        config = uvicorn.Config(
            app,
            host=HOST,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self.startup_timeout = startup_timeout
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve())
        except BaseException as exc:  # reported by __enter__
            self.error = exc

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.server.should_exit = True
                raise RuntimeError(f"the server did not start: {self.error!r}")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        assert not self.thread.is_alive(), "the server thread did not stop"


@contextlib.contextmanager
def sdwiki_serve(content: Path, port: int, *args: str, cwd: Path | None = None) -> Iterator[str]:
    """``sdwiki serve CONTENT --port PORT`` in a subprocess; yields its base URL."""
    folder = cwd or content.parent
    log = folder / f"serve-{port}.log"
    private = folder / f"tmp-{port}"  # its temporary files stay with the test's, even if it is killed
    private.mkdir(exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sdwiki", "serve", str(content), "--port", str(port), *args],
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TMPDIR": str(private)},
        )
        try:
            try:
                wait_until_answering(f"http://{HOST}:{port}", 90, process)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{exc}\n{log.read_text(errors='replace')}") from None
            yield f"http://{HOST}:{port}"
        finally:
            stop(process)


@dataclass(frozen=True)
class Oxigraph:
    url: str

    @property
    def store(self) -> str:
        """The Graph Store Protocol address."""
        return f"{self.url}/store"

    @property
    def query(self) -> str:
        """The query address, with the union of named graphs as default graph."""
        return f"{self.url}/query?union-default-graph"


@contextlib.contextmanager
def oxigraph_server(folder: Path) -> Iterator[Oxigraph]:
    exe = shutil.which("oxigraph")
    if exe is None:
        raise RuntimeError("the `oxigraph` server is not installed: pip install oxigraph")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "oxigraph.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [exe, "serve", "--location", str(folder / "store"), "--bind", f"{HOST}:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                wait_for_port(port, 30, process)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{exc}\n{log.read_text(errors='replace')}") from None
            yield Oxigraph(f"http://{HOST}:{port}")
        finally:
            stop(process)


@dataclass(frozen=True)
class Virtuoso:
    url: str

    @property
    def store(self) -> str:
        """The Graph Store Protocol address (digest authentication)."""
        return f"{self.url}/sparql-graph-crud-auth"

    @property
    def query(self) -> str:
        return f"{self.url}/sparql"


def virtuoso_ini(folder: Path, sql_port: int, http_port: int) -> str:
    """Debian's virtuoso.ini with every file in ``folder`` and both ports on loopback."""
    files = {
        "Database": {
            "DatabaseFile": "virtuoso.db",
            "ErrorLogFile": "virtuoso.log",
            "LockFile": "virtuoso.lck",
            "TransactionFile": "virtuoso.trx",
            "xa_persistent_file": "virtuoso.pxa",
        },
        "TempDatabase": {"DatabaseFile": "virtuoso-temp.db", "TransactionFile": "virtuoso-temp.trx"},
    }
    values = {
        "Parameters": {"ServerPort": f"{HOST}:{sql_port}"},
        "HTTPServer": {"ServerPort": f"{HOST}:{http_port}"},
        "URIQA": {"DefaultHost": f"{HOST}:{http_port}"},
    }
    section = ""
    out = []
    for line in VIRTUOSO_INI.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1]
        elif "=" in stripped and not stripped.startswith(";"):
            key = stripped.split("=", 1)[0].strip()
            if key in files.get(section, {}):
                line = f"{key} = {folder / files[section][key]}"
            elif key in values.get(section, {}):
                line = f"{key} = {values[section][key]}"
            elif section == "Parameters" and key == "DirsAllowed":
                line = f"{line.split(';')[0].rstrip()}, {folder}"
        out.append(line)
    return "\n".join(out) + "\n"


@contextlib.contextmanager
def virtuoso_server(folder: Path) -> Iterator[Virtuoso]:
    if not os.access(VIRTUOSO, os.X_OK) or not VIRTUOSO_INI.is_file():
        raise RuntimeError(
            f"Virtuoso is not installed ({VIRTUOSO}, {VIRTUOSO_INI}): apt-get install -y virtuoso-opensource"
        )
    folder.mkdir(parents=True, exist_ok=True)
    sql_port, http_port = free_port(), free_port()
    ini = folder / "virtuoso.ini"
    ini.write_text(virtuoso_ini(folder, sql_port, http_port))
    log = folder / "stdout.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [VIRTUOSO, "+foreground", "+configfile", str(ini)],
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                wait_for_port(http_port, 60, process)
                _wait_online((folder / "virtuoso.log", log), 60)
            except (RuntimeError, TimeoutError) as exc:
                logs = "".join(
                    p.read_text(errors="replace")[-3000:] for p in (log, folder / "virtuoso.log") if p.exists()
                )
                raise RuntimeError(f"Virtuoso did not start: {exc}\n{logs}") from None
            yield Virtuoso(f"http://{HOST}:{http_port}")
        finally:
            stop(process, 30)


def _wait_online(logs: tuple[Path, ...], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in logs:
            if p.exists() and "Server online" in p.read_text(errors="replace"):
                return
        time.sleep(0.05)
    raise TimeoutError("no 'Server online' in the log")


def app_server(
    content: Path,
    site: Path,
    settings: Settings,
    *,
    builder: Builder | None = None,
    watch: bool = False,
    cors: bool = False,
    workers: int = 2,
    quiet: float = 0.0,
) -> ThreadedServer:
    """``sdwiki serve``'s application in a thread, on a free port (its Host check knows the port).
    The work that follows a rebuild starts at once (``quiet``: see :data:`sdwiki.server.QUIET`)."""
    port = free_port()
    app = create_app(content, site, settings, HOST, port, cors, builder, watch, workers, quiet=quiet)
    return ThreadedServer(app, port)
