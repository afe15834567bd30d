"""Live reload in a real browser (Debian's Chromium through Playwright; no browser is downloaded).

A page is open; a note is saved; the page reloads by itself and shows the change. Once against
``sdwiki serve`` with the real site builder, once against the application with a stand-in builder
(which isolates the reload path: watcher, event channel, script).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from sdwiki.settings import Settings
from tests.conftest import CONTENT
from tests.servers import app_server, free_port, sdwiki_serve
from tests.test_server import fake_builder

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


@pytest.fixture()
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    shutil.copytree(CONTENT, folder)
    return folder


def edit_and_wait(page: Page, note: Path, old: str, new: str, timeout_ms: int, until: str = "") -> float:
    """Replace ``old`` by ``new`` in ``note``; seconds until the open page has reloaded and ``until``
    (a JavaScript expression; by default: the page shows ``new``) holds. A flag set in the page
    before saving proves the reload: a page changed any other way would keep it."""
    text = note.read_text("utf-8")
    assert old in text
    page.evaluate("window.sdwikiBeforeSave = true")
    saved = time.monotonic()
    note.write_text(text.replace(old, new, 1), "utf-8")
    shown = until or f"document.body.innerText.includes({new!r})"
    page.wait_for_function(f"() => !window.sdwikiBeforeSave && ({shown})", timeout=timeout_ms)
    return time.monotonic() - saved


def test_saved_note_reloads_the_page_real_build(browser: Browser, content: Path, tmp_path: Path) -> None:
    with sdwiki_serve(content, free_port(), cwd=tmp_path) as url:
        page = browser.new_page()
        page.goto(f"{url}/concept/anarchy/", timeout=60_000)
        assert "Anarchy" in page.title()
        page.wait_for_load_state("networkidle")
        other = browser.new_page()  # a page the edit does not change: it must not reload
        other.goto(f"{url}/search/", timeout=60_000)
        other.wait_for_load_state("networkidle")
        other_loads: list[float] = []
        other.on("load", lambda _: other_loads.append(time.monotonic()))
        note = content / "concepts" / "Anarchy.md"
        elapsed = edit_and_wait(page, note, "The absence of", "The complete absence of", 30_000)
        print(f"reload after save (real build): {elapsed:.2f} s")
        assert not page.locator("#sdwiki-problems").count()
        page.wait_for_timeout(1500)  # the files that follow from the whole graph are written by now
        assert other_loads == [], "a page the edit did not change was reloaded"
        other.close()
        # a half-written note: its problems appear in the page, the server keeps going
        problems = "document.getElementById('sdwiki-problems') !== null"
        edit_and_wait(page, note, "---\ntype: concept", "---\ntype: [concept", 30_000, problems)
        assert "concepts/Anarchy.md" in page.locator("#sdwiki-problems").inner_text()
        page.close()


def test_saved_note_reloads_the_page(browser: Browser, content: Path, tmp_path: Path) -> None:
    with app_server(content, tmp_path / "site", Settings(), builder=fake_builder, watch=True, workers=1) as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_load_state("networkidle")
        note = content / "concepts" / "Deterrence.md"
        times = [edit_and_wait(page, note, "## Definition", f"## Definition\nMarker-{i}.", 10_000) for i in range(3)]
        print("reload after save (stand-in build): " + ", ".join(f"{t * 1000:.0f} ms" for t in times))
        assert min(times) < 2.0
        page.close()
