"""``sdwiki serve``: static serving, the Host and Origin checks, live reload, and rebuild failures.

Real servers on 127.0.0.1: the application under uvicorn in a thread (with a small stand-in builder,
so that a rebuild takes milliseconds) and ``sdwiki serve`` itself as a subprocess for SPARQLWrapper.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from SPARQLWrapper import CSV, JSON, POST, TURTLE, XML, SPARQLWrapper

from sdwiki.build import SiteBuilder
from sdwiki.server import allowed_hosts, pages_changed, resolve
from sdwiki.settings import Settings
from tests.conftest import CONTENT
from tests.servers import HOST, app_server, free_port, sdwiki_serve

SECRET = "top-secret-0123456789"


def fake_builder(content: Path, output: Path, settings: Settings) -> str:
    """A stand-in for build_site: one page holding every note's text, and a stylesheet."""
    output.mkdir(parents=True, exist_ok=True)
    sections = [
        f"<section><h2>{html.escape(p.stem)}</h2><pre>{html.escape(p.read_text('utf-8', 'replace'))}</pre></section>"
        for p in sorted(content.rglob("*.md"))
    ]
    page = f"<!doctype html><html><head><title>notes</title></head><body>{''.join(sections)}</body></html>"
    (output / "index.html").write_text(page, "utf-8")
    (output / "concept" / "x").mkdir(parents=True, exist_ok=True)
    (output / "concept" / "x" / "index.html").write_text("<!doctype html><body>concept x</body>")
    (output / "style.css").write_text("body { color: black }")
    return f"built {len(sections)} notes"


def failing_builder(content: Path, output: Path, settings: Settings) -> str:
    raise RuntimeError("the builder broke")


def raw_request(port: int, target: bytes, host: bytes | None = None, extra: bytes = b"") -> tuple[int, bytes]:
    """Send ``target`` exactly as given (no client-side normalisation); returns status and body."""
    host_line = b"Host: " + (host if host is not None else f"{HOST}:{port}".encode()) + b"\r\n"
    request = b"GET " + target + b" HTTP/1.1\r\n" + (host_line if host != b"" else b"") + extra
    request += b"Connection: close\r\n\r\n"
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    if not data:
        return 0, b""
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture()
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    shutil.copytree(CONTENT, folder)
    return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built site, with a secret beside it and links pointing out of it."""
    tmp_path = tmp_path_factory.mktemp("static")
    folder = tmp_path / "site"
    fake_builder(CONTENT, folder, Settings())
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (tmp_path / "secret.txt").write_text(SECRET)
    (folder / "escape").symlink_to(outside)
    (folder / "escape.txt").symlink_to(outside / "secret.txt")
    (folder / "inner.css").symlink_to(folder / "style.css")
    (folder / ".hidden").write_text(SECRET)
    return folder


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[tuple[str, int]]:
    with app_server(CONTENT, site, Settings(), workers=1) as url:
        yield url, int(url.rsplit(":", 1)[1])


# -- static files ----------------------------------------------------------------------------


def test_pretty_addresses(served: tuple[str, int]) -> None:
    url, _ = served
    with httpx.Client(base_url=url) as c:
        r = c.get("/concept/x/")
        assert r.status_code == 200 and "concept x" in r.text
        r = c.get("/concept/x?a=1")
        assert r.status_code == 301 and r.headers["location"] == "/concept/x/?a=1"
        assert c.get("/concept/x/index.html").status_code == 200
        assert c.get("/concept/nothing/").status_code == 404
        assert c.get("/inner.css").status_code == 200  # a link inside the site is fine
        assert c.post("/index.html").status_code == 405


def test_redirects_stay_on_this_server(served: tuple[str, int]) -> None:
    _, port = served
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(f"GET //concept/x HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode())
        head = s.recv(65536).split(b"\r\n\r\n")[0].decode()
    assert head.startswith("HTTP/1.1 301")
    assert "\r\nlocation: /concept/x/\r\n" in head.lower()  # never //concept/x/ (another host)


def test_script_is_injected_into_html_only(served: tuple[str, int]) -> None:
    url, _ = served
    with httpx.Client(base_url=url) as c:
        page = c.get("/")
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.text.count('<script src="/_sdwiki/live.js"') == 1
        assert page.text.index("/_sdwiki/live.js") < page.text.index("</body>")
        css = c.get("/style.css")
        assert css.headers["content-type"].startswith("text/css") and "live.js" not in css.text
        assert "EventSource" in c.get("/_sdwiki/live.js").text
        assert c.get("/404-nothing").status_code == 404


TRAVERSALS = [
    b"/../secret.txt",
    b"/../outside/secret.txt",
    b"/%2e%2e/secret.txt",
    b"/%2E%2E/outside/secret.txt",
    b"/..%2fsecret.txt",
    b"/..%2Foutside%2Fsecret.txt",
    b"/%2e%2e%2f%2e%2e%2fsecret.txt",
    b"/concept/../../secret.txt",
    b"/concept/%2e%2e/%2e%2e/secret.txt",
    b"/%252e%252e/secret.txt",
    b"/..\\secret.txt",
    b"/%5c..%5csecret.txt",
    b"/..%5coutside%5csecret.txt",
    b"/escape/secret.txt",
    b"/escape.txt",
    b"/escape%2fsecret.txt",
    b"/.hidden",
    b"/%2ehidden",
    b"/index.html%00.txt",
    b"/%00",
    b"/..%c0%afsecret.txt",
    b"/%c0%ae%c0%ae/secret.txt",
    b"/./../secret.txt",
    b"/" + b"../" * 20 + b"etc/passwd",
    b"/%2e%2e/" * 20 + b"etc/passwd",
    b"http://127.0.0.1/../secret.txt",
]


@pytest.mark.parametrize("target", TRAVERSALS, ids=[t.decode("latin-1") for t in TRAVERSALS])
def test_traversal_payloads(served: tuple[str, int], target: bytes) -> None:
    _, port = served
    status, body = raw_request(port, target)
    assert status != 200
    assert SECRET.encode() not in body and b"root:" not in body


def test_resolve_never_leaves_the_folder(site: Path) -> None:
    root = str(site.resolve())
    for target in TRAVERSALS:
        found = resolve(root, target)
        assert found is None or str(found).startswith(root + "/"), target
    assert resolve(root, b"/concept/x/") == site.resolve() / "concept" / "x" / "index.html"
    assert resolve(root, b"/concept/x") == "/concept/x/"


# -- Host and Origin -------------------------------------------------------------------------


def test_allowed_hosts() -> None:
    hosts = allowed_hosts("127.0.0.1", 8000)
    assert {"127.0.0.1:8000", "localhost:8000", "[::1]:8000"} <= hosts
    assert "evil.example:8000" not in hosts and "127.0.0.1" not in hosts


@pytest.mark.parametrize(
    "host",
    [b"evil.example", b"evil.example:{port}", b"127.0.0.1:1", b"localhost.evil.example:{port}", b"127.0.0.1"],
)
def test_foreign_host_is_refused(served: tuple[str, int], host: bytes) -> None:
    _, port = served
    for target in (b"/", b"/sparql?query=ASK%7B%7D", b"/_sdwiki/events"):
        status, body = raw_request(port, target, host.replace(b"{port}", str(port).encode()))
        assert status == 400 and b"Host" in body


def test_missing_host_is_refused(served: tuple[str, int]) -> None:
    _, port = served
    status, _ = raw_request(port, b"/", b"")
    assert status == 400


@pytest.mark.parametrize("name", [b"localhost", b"127.0.0.1", b"LOCALHOST"])
def test_own_names_are_answered(served: tuple[str, int], name: bytes) -> None:
    _, port = served
    status, body = raw_request(port, b"/", name + b":" + str(port).encode())
    assert status == 200 and b"live.js" in body


def test_reload_channel_checks_origin(served: tuple[str, int]) -> None:
    url, port = served
    with httpx.Client(base_url=url, timeout=10) as c:
        for origin in ("http://evil.example", f"http://evil.example:{port}", "null"):
            assert c.get("/_sdwiki/events", headers={"Origin": origin}).status_code == 403
        assert c.get("/_sdwiki/events", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        with c.stream("GET", "/_sdwiki/events", headers={"Origin": f"http://localhost:{port}"}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = r.iter_lines()
            assert next(lines) == "retry: 1000"
            assert next(lines) == "event: hello"


def test_no_cors_headers_by_default(served: tuple[str, int]) -> None:
    url, port = served
    with httpx.Client(base_url=url) as c:
        for r in (c.get("/"), c.get("/sparql", params={"query": "ASK {}"}), c.options("/sparql")):
            assert not any(h.startswith("access-control-") for h in r.headers)
        r = c.get("/sparql", params={"query": "ASK {}"}, headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        same = c.get("/sparql", params={"query": "ASK {}"}, headers={"Origin": f"http://127.0.0.1:{port}"})
        assert same.status_code == 200


def test_cors_when_asked(site: Path) -> None:
    with app_server(CONTENT, site, Settings(), cors=True, workers=1) as url, httpx.Client(base_url=url) as c:
        r = c.get("/sparql", params={"query": "ASK {}"}, headers={"Origin": "http://elsewhere.example"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
        r = c.options(
            "/sparql",
            headers={
                "Origin": "http://elsewhere.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert r.status_code == 204
        assert "POST" in r.headers["access-control-allow-methods"]
        assert "content-type" in r.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-origin" not in c.get("/").headers  # only /sparql


def test_browser_gets_a_page_at_sparql(served: tuple[str, int], site: Path) -> None:
    url, _ = served
    with httpx.Client(base_url=url) as c:
        r = c.get("/sparql", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert r.status_code == 200 and "<form" in r.text
        (site / "sparql").mkdir()
        try:
            (site / "sparql" / "index.html").write_text("<!doctype html><body>the editor</body>")
            r = c.get("/sparql", headers={"Accept": "text/html"})
            assert r.status_code == 303 and r.headers["location"] == "/sparql/"
            assert "the editor" in c.get("/sparql/").text
        finally:
            shutil.rmtree(site / "sparql")


# -- rebuilds and live reload ----------------------------------------------------------------


def edit(note: Path, old: str, new: str) -> None:
    """Save ``note`` with its first ``old`` made ``new``, as an editor would."""
    note.write_text(note.read_text("utf-8").replace(old, new, 1), "utf-8")


def read_event(lines: Iterator[str]) -> tuple[str, str]:
    event = data = ""
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and event:
            return event, data
    raise AssertionError("the event stream ended")


def test_saving_a_note_reloads_pages(content: Path, tmp_path: Path) -> None:
    site = tmp_path / "built"
    note = content / "concepts" / "Anarchy.md"
    with (
        app_server(content, site, Settings(), builder=fake_builder, watch=True, workers=1) as url,
        httpx.Client(base_url=url, timeout=20) as c,
    ):
        assert "Zebra-marker" not in c.get("/").text
        with c.stream("GET", "/_sdwiki/events") as stream:
            lines = stream.iter_lines()
            event, first = read_event(lines)
            assert event == "hello"
            saved = time.monotonic()
            edit(note, "The absence of", "The absence (Zebra-marker) of")
            event, generation = read_event(lines)
            elapsed = time.monotonic() - saved
        assert event == "reload" and int(generation) > int(first)
        assert elapsed < 5
        page = c.get("/").text
        assert "Zebra-marker" in page and f'data-generation="{generation}"' in page
        # the graph followed the note too
        r = c.get("/sparql", params={"query": 'ASK { ?c skos:definition ?d FILTER(CONTAINS(STR(?d), "Zebra")) }'})
        assert r.json()["boolean"] is True
        assert "sdwiki-problems" not in page


@contextlib.contextmanager
def watching(content: Path, site: Path, builder: SiteBuilder, quiet: float = 0.0) -> Iterator[httpx.Client]:
    """A client of the server with ``builder``, watching ``content`` (``quiet``: see ``app_server``)."""
    with (
        app_server(content, site, Settings(), builder=builder, watch=True, workers=1, quiet=quiet) as url,
        httpx.Client(base_url=url, timeout=20) as c,
    ):
        yield c


@contextlib.contextmanager
def reload_channel(c: httpx.Client) -> Iterator[Iterator[str]]:
    """The lines of the server's reload channel, past its hello."""
    with c.stream("GET", "/_sdwiki/events") as stream:
        lines = stream.iter_lines()
        assert read_event(lines)[0] == "hello"
        yield lines


def test_a_saved_note_reloads_only_the_pages_it_changed(content: Path, tmp_path: Path) -> None:
    """With the real builder, pages first: the edited note's own page is listed alone as soon as it
    is on disk, the other pages the save changed next, the files that follow from the whole graph
    (the in-browser SPARQL data) in a third update; no page is told twice, and pages that did not
    change are never told to reload."""
    site = tmp_path / "built"
    builder = SiteBuilder(search=False, in_place=True, pages_first=True)
    note = content / "concepts" / "Anarchy.md"
    with watching(content, site, builder) as c:
        with reload_channel(c) as lines:
            edit(note, "The absence of", "The absence (Zebra-marker) of")
            event, data = read_event(lines)
            assert event == "update", data
            first = json.loads(data)
            assert first["pages"] == ["/concept/anarchy/"]
            assert "Zebra-marker" in c.get("/concept/anarchy/").text
            later: list[dict[str, Any]] = []  # the rest of the save's pages, if any, then the whole graph's
            while not later or "/sparql/" not in later[-1]["pages"]:
                event, data = read_event(lines)
                assert event == "update", data
                later.append(json.loads(data))
        assert [e["generation"] for e in later] == list(
            range(first["generation"] + 1, first["generation"] + 1 + len(later))
        )
        assert len(later) <= 2 and not [e for e in later if "/concept/anarchy/" in e["pages"]]
        assert not {"/", "/graph/", "/search/"} & {
            p for e in later[:-1] for p in e["pages"]
        }  # a prose edit: not on these
        assert b"Zebra-marker" in (site / "data" / "graph.nq").read_bytes()


class RecordingBuilder(SiteBuilder):
    """The real builder, pages first, noting each follow-up work after a save: what it did
    (:attr:`finished`, None: stopped) and when it started."""

    def __init__(self) -> None:
        super().__init__(search=False, in_place=True, pages_first=True)
        self.finished: list[tuple[str, ...] | None] = []
        self.started: list[float] = []

    def hold(self, stop: Callable[[], bool] | None) -> None:
        """Before the follow-up work: nothing, here."""

    def finish(self, stop: Callable[[], bool] | None = None, forked: bool = False) -> tuple[str, ...] | None:
        self.hold(stop)
        started = time.monotonic()
        done = super().finish(stop, forked)
        if self.builds >= 2:
            self.finished.append(done)
            self.started.append(started)
        return done


class HeldBuilder(RecordingBuilder):
    """The real builder, whose first follow-up work (:meth:`SiteBuilder.finish`) starts only once
    a note has been saved meanwhile: the server must stop that work and rebuild for the new save."""

    def hold(self, stop: Callable[[], bool] | None) -> None:
        if self.builds == 2 and not self.finished and stop is not None:  # the first save's
            deadline = time.monotonic() + 20
            while not stop() and time.monotonic() < deadline:
                time.sleep(0.01)


def status(c: httpx.Client) -> dict[str, object]:
    reply = c.get("/_sdwiki/status")
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
    found: dict[str, object] = reply.json()
    return found


def test_the_server_is_busy_while_it_makes_its_memory_writable_again(
    content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the forked follow-up work, the server faults its memory in writable in the
    background (:func:`sdwiki.parallel.own_pages`): it uses a core, so it counts as work under
    way, and whoever waits for an idle server (a benchmark) waits for it too."""
    from sdwiki import parallel

    with watching(content, tmp_path / "built", RecordingBuilder()) as c:
        assert status(c)["busy"] is False
        owned, generation = parallel.owned, status(c)["generation"]
        edit(content / "concepts" / "Anarchy.md", "The absence of", "The absence (Owned-marker) of")
        deadline = time.monotonic() + 60
        while (status(c)["generation"] == generation or status(c)["busy"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status(c)["busy"] is False
        if sys.platform == "linux" and tuple(int(x) for x in platform.release().split(".")[:2]) >= (5, 14):
            assert parallel.owned > owned  # the forked follow-up's end made the memory writable again
        monkeypatch.setattr(parallel, "owning", lambda: True)
        assert status(c)["busy"] is True
        monkeypatch.setattr(parallel, "owning", lambda: False)
        assert status(c)["busy"] is False


def test_a_save_stops_the_work_left_from_the_save_before(content: Path, tmp_path: Path) -> None:
    """A note saved while the whole-graph files of the previous save are still being made: that
    work stops unwritten, the new save's page is shown next, and the whole graph then holds both."""
    site = tmp_path / "built"
    builder = HeldBuilder()
    first, second = content / "concepts" / "Anarchy.md", content / "concepts" / "Deterrence.md"
    with watching(content, site, builder) as c:
        assert status(c)["busy"] is False
        with reload_channel(c) as lines:
            edit(first, "The absence of", "The absence (First-marker) of")
            event, data = read_event(lines)
            assert event == "update" and "/concept/anarchy/" in json.loads(data)["pages"]
            assert status(c)["busy"] is True  # the first save's follow-up work is held
            edit(second, "Preventing an", "Preventing (Second-marker) an")
            event, data = read_event(lines)
            assert event == "update" and json.loads(data)["pages"] == ["/concept/deterrence/"]
            event, data = read_event(lines)
            assert event == "update" and "/sparql/" in json.loads(data)["pages"]
        deadline = time.monotonic() + 20
        while status(c)["busy"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status(c) == {"generation": int(json.loads(data)["generation"]), "busy": False}
        ask = 'ASK { ?c skos:definition ?d FILTER(CONTAINS(STR(?d), "Second-marker")) }'
        assert c.get("/sparql", params={"query": ask}).json()["boolean"] is True
    assert builder.finished[0] is None and builder.finished[1]  # stopped unwritten, then done once
    assert len(builder.finished) == 2
    graph = (site / "data" / "graph.nq").read_bytes()
    assert b"First-marker" in graph and b"Second-marker" in graph


def test_the_work_after_a_save_waits_until_saves_pause(content: Path, tmp_path: Path) -> None:
    """While notes are saved again and again, only their pages are made: the whole-graph files
    follow once no note has been saved for ``quiet`` seconds, made once for both saves."""
    site = tmp_path / "built"
    builder = RecordingBuilder()
    first, second = content / "concepts" / "Anarchy.md", content / "concepts" / "Deterrence.md"
    with watching(content, site, builder, quiet=2.0) as c:
        with reload_channel(c) as lines:
            edit(first, "The absence of", "The absence (First-marker) of")
            event, data = read_event(lines)
            assert event == "update" and "/concept/anarchy/" in json.loads(data)["pages"]
            edit(second, "Preventing an", "Preventing (Second-marker) an")
            event, data = read_event(lines)
            shown = time.monotonic()
            assert event == "update" and json.loads(data)["pages"] == ["/concept/deterrence/"]
            assert builder.finished == []  # not begun: a save came before the pause
            assert b"Second-marker" not in (site / "data" / "graph.nq").read_bytes()
            event, data = read_event(lines)
            assert event == "update" and "/sparql/" in json.loads(data)["pages"]
        wait_until(lambda: not status(c)["busy"], 20)
    assert len(builder.finished) == 1 and builder.finished[0]  # once, whole, for both saves
    assert builder.started[0] - shown >= 1.5
    graph = (site / "data" / "graph.nq").read_bytes()
    assert b"First-marker" in graph and b"Second-marker" in graph


def test_pages_changed_maps_site_files_to_the_pages_showing_them() -> None:
    assert pages_changed(["concept/a/index.html", "index.html", "concept/a/data.ttl"]) == {"/concept/a/", "/"}
    assert pages_changed(["data/graph-data.js"]) == {"/graph/"}
    assert pages_changed(["data/graph.nq"]) == {"/sparql/", "/queries/*"}
    assert pages_changed(["assets/style.css", "index.html"]) is None  # every page uses the assets
    assert pages_changed(None) is None and pages_changed([]) == frozenset()


def wait_until(predicate: object, timeout: float = 15) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_half_written_note_shows_its_problems(content: Path, tmp_path: Path) -> None:
    site = tmp_path / "built"
    note = content / "concepts" / "Half Written.md"
    with (
        app_server(content, site, Settings(), builder=fake_builder, watch=True, workers=1) as url,
        httpx.Client(base_url=url, timeout=20) as c,
    ):
        note.write_text("---\ntitle: Half Written\ntags: [unclosed\n", "utf-8")
        wait_until(lambda: "sdwiki-problems" in c.get("/").text)
        page = c.get("/").text
        assert "concepts/Half Written.md:" in page and "frontmatter" in page
        assert c.get("/_sdwiki/live.css").status_code == 200
        assert c.get("/sparql", params={"query": "ASK {}"}).status_code == 200  # still serving
        note.write_text("---\ntitle: Half Written\ntags: [closed]\n---\n# Half Written\n\nDone.\n", "utf-8")
        wait_until(lambda: "sdwiki-problems" not in c.get("/").text)
        r = c.get("/sparql", params={"query": 'ASK { ?c rdfs:label "Half Written" }'})
        assert r.json()["boolean"] is True


def test_failing_builder_never_stops_the_server(content: Path, tmp_path: Path) -> None:
    site = tmp_path / "built"
    with (
        app_server(content, site, Settings(), builder=failing_builder, watch=True, workers=1) as url,
        httpx.Client(base_url=url, timeout=20) as c,
    ):
        r = c.get("/")
        assert r.status_code == 404
        assert "the site could not be rebuilt: the builder broke" in r.text and "live.js" in r.text
        assert c.get("/sparql", params={"query": 'ASK { ?t rdfs:label "John Herz" }'}).json()["boolean"]
        (content / "concepts" / "Anarchy.md").write_text("# Anarchy\n\nChanged.\n", "utf-8")
        time.sleep(0.5)
        assert c.get("/").status_code == 404  # still answering after a failed rebuild


def test_a_rebuild_lets_the_event_loop_in_quickly(content: Path, tmp_path: Path) -> None:
    """While a rebuild's thread runs, the event loop (telling pages to reload, serving them) waits
    at most ``SWITCH`` for the interpreter's lock; the usual interval comes back after."""
    from sdwiki import server

    seen: list[float] = []

    def builder(content: Path, output: Path, settings: Settings) -> str:
        seen.append(sys.getswitchinterval())
        return fake_builder(content, output, settings)

    before = sys.getswitchinterval()
    with app_server(content, tmp_path / "built", Settings(), builder=builder, watch=False, workers=1) as url:
        assert httpx.get(f"{url}/").status_code == 200
    assert seen == [server.SWITCH] and before > server.SWITCH
    assert sys.getswitchinterval() == before


# -- sdwiki serve, with a real SPARQL client -------------------------------------------------


@pytest.fixture(scope="module")
def serve_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("serve")
    shutil.copytree(CONTENT, folder / "content")
    with sdwiki_serve(folder / "content", free_port(), cwd=folder) as url:
        yield url


def test_serve_answers_sparqlwrapper(serve_process: str) -> None:
    endpoint = SPARQLWrapper(f"{serve_process}/sparql")
    endpoint.setQuery(
        "PREFIX sd: <https://w3id.org/sdwiki/ontology#>\n"
        "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
        'SELECT ?who WHERE { ?c rdfs:label "Security Dilemma" ; sd:coinedBy/rdfs:label ?who }'
    )
    endpoint.setReturnFormat(JSON)
    doc = endpoint.queryAndConvert()
    assert isinstance(doc, dict)
    assert [b["who"]["value"] for b in doc["results"]["bindings"]] == ["John Herz"]

    endpoint.setMethod(POST)
    endpoint.setReturnFormat(XML)
    xml_doc = endpoint.queryAndConvert()
    assert "John Herz" in xml_doc.toxml()  # type: ignore[union-attr]

    endpoint.setReturnFormat(CSV)
    assert endpoint.queryAndConvert().decode().splitlines()[1:] == ["John Herz"]  # type: ignore[union-attr]

    endpoint.setQuery('ASK { ?t rdfs:label "John Herz" }')
    endpoint.setReturnFormat(JSON)
    assert endpoint.queryAndConvert() == {"head": {}, "boolean": True}

    endpoint.setQuery("CONSTRUCT { ?e a sd:Era ; rdfs:label ?l } WHERE { ?e a sd:Era ; rdfs:label ?l }")
    endpoint.setReturnFormat(TURTLE)
    turtle = endpoint.queryAndConvert()
    assert b"sdwiki/ontology#Era" in turtle or b"sd:Era" in turtle  # type: ignore[operator]


def test_serve_serves_the_built_site(serve_process: str) -> None:
    with httpx.Client(base_url=serve_process, timeout=20) as c:
        home = c.get("/")
        assert home.status_code == 200 and "/_sdwiki/live.js" in home.text
        page = c.get("/concept/security-dilemma/")
        assert page.status_code == 200 and "John Herz" in page.text
        assert c.get("/concept/security-dilemma").status_code == 301
        assert c.get("/", headers={"Host": "attacker.example"}).status_code == 400


def test_serve_refuses_a_missing_folder(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "sdwiki", "serve", str(tmp_path / "nothing"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert r.returncode == 2 and "content folder not found" in r.stderr


def test_serve_refuses_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "sdwiki", "serve", str(CONTENT), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
        )
    assert r.returncode == 2 and "cannot listen" in r.stderr


def children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C or SIGTERM: exit 0, query workers gone, the private folders removed."""
    port = free_port()
    private = tmp_path / "tmp"
    private.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "sdwiki", "serve", str(CONTENT), "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(private)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{HOST}:{port}/sparql?query=ASK%7B%7D", timeout=30).status_code == 200:
                    break
            time.sleep(0.1)
        workers = children(process.pid)
        assert len(workers) >= 2
        assert {p.name.split("-")[1] for p in private.iterdir()} == {"serve", "graph"}
        process.send_signal(sig)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Traceback" not in err and "sdwiki: stopped" in out
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert list(private.iterdir()) == []


def test_workers_die_with_the_server(tmp_path: Path) -> None:
    """Even in the middle of a runaway query, a killed server leaves no query worker behind."""
    content = tmp_path / "content"
    content.mkdir()
    (content / "Note.md").write_text("# Note\n\n## Definition\nA note.\n", "utf-8")
    port = free_port()
    with sdwiki_serve(content, port, cwd=tmp_path) as url:
        process_pid = next(
            int(p.parent.name)
            for p in Path("/proc").glob("[0-9]*/cmdline")
            if f"--port\0{port}".encode() in p.read_bytes()
        )
        wait_until(lambda: len(children(process_pid)) >= 2, 30)
        workers = children(process_pid)
        runaway = "SELECT (COUNT(*) AS ?n) WHERE { " + " . ".join(f"?s{i} ?p{i} ?o{i}" for i in range(10)) + " }"

        def ask() -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{url}/sparql", params={"query": runaway}, timeout=30)

        asking = threading.Thread(target=ask)
        asking.start()
        time.sleep(0.5)
        os.kill(process_pid, signal.SIGKILL)
        wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 10)
        asking.join(30)
