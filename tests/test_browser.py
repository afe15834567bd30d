"""The site in a real browser: Debian's Chromium driven by Playwright (no browser download).

Screenshots of a concept page (375 px and 1280 px, light and dark) are kept in test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from sdwiki import search
from sdwiki.build import build_site
from sdwiki.settings import Settings
from tests.browser import ARGS, CHROMIUM, static_server
from tests.conftest import CONTENT, ROOT

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled content's site, its search index in parts (as a large site's is made): every
    search below goes through the merged parts."""
    out = tmp_path_factory.mktemp("browser") / "site"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search, "PAGES_PER_PART", 40)
        build_site(CONTENT, out, Settings(), search=True)
    assert (out / "pagefind" / "part-2" / "pagefind-entry.json").is_file()
    return out


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    with static_server(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Console:
    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _on_console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.errors.append(msg.text)


@pytest.fixture()
def page(browser: Browser) -> Iterator[tuple[Page, Console]]:
    context = browser.new_context()
    pg = context.new_page()
    console = Console(pg)
    yield pg, console
    context.close()


def test_follow_a_wikilink_and_a_backlink(page: tuple[Page, Console], base_url: str) -> None:
    pg, console = page
    pg.goto(base_url + "index.html")
    pg.get_by_role("link", name="Security Dilemma").first.click()
    expect(pg).to_have_url(base_url + "concept/security-dilemma/index.html")
    expect(pg.get_by_role("heading", level=1)).to_have_text("Security Dilemma")
    pg.locator(".prose a.wikilink", has_text="structural realism").first.click()
    expect(pg.get_by_role("heading", level=1)).to_have_text("Structural Realism")
    pg.locator(".backlinks a", has_text="Security Dilemma").first.click()
    expect(pg.get_by_role("heading", level=1)).to_have_text("Security Dilemma")
    assert console.errors == []


def test_search_finds_jervis(page: tuple[Page, Console], base_url: str) -> None:
    pg, console = page
    pg.goto(base_url + "index.html")
    pg.get_by_label("Search the wiki").fill("Jervis")
    pg.get_by_label("Search the wiki").press("Enter")
    result = pg.locator(".pagefind-ui__result-link", has_text="Robert Jervis").first
    expect(result).to_be_visible(timeout=15_000)
    result.click()
    expect(pg.get_by_role("heading", level=1)).to_have_text("Robert Jervis")
    assert console.errors == []


def test_search_finds_an_alias(page: tuple[Page, Console], base_url: str) -> None:
    pg, _ = page
    pg.goto(base_url + "search/index.html?q=Hertz")
    expect(pg.locator(".pagefind-ui__result-link", has_text="John Herz").first).to_be_visible(timeout=15_000)


def test_search_finds_pages_in_every_part_of_the_index(page: tuple[Page, Console], base_url: str, site: Path) -> None:
    """The search page merges the parts of the index: a thinker from each part is found."""
    pg, console = page
    thinkers = sorted(p.relative_to(site).as_posix() for p in (site / "thinker").glob("*/index.html"))
    parts = int((site / "search/index.html").read_text("utf-8").split('data-parts="', 1)[1].split('"', 1)[0])
    assert [(site / search.part_folder(k) / "pagefind-entry.json").is_file() for k in range(parts + 1)] == [
        *[True] * parts,
        False,
    ]
    chosen = {search.part_of(rel, parts): rel for rel in reversed(thinkers)}
    assert parts > 2 and sorted(chosen) == list(range(parts))
    for rel in chosen.values():
        title = (site / rel).read_text("utf-8").split("<h1", 1)[1].split(">", 1)[1].split("<", 1)[0].strip()
        pg.goto(base_url + "search/index.html?q=" + title.replace(" ", "+"))
        expect(pg.locator(".pagefind-ui__result-link", has_text=title).first).to_be_visible(timeout=15_000)
    assert console.errors == []


def test_saved_query_runs_in_the_browser(page: tuple[Page, Console], base_url: str) -> None:
    pg, console = page
    pg.goto(base_url + "sparql/index.html")
    expect(pg.locator("#sparql-status")).to_contain_text("Ready", timeout=30_000)
    pg.get_by_label("Saved queries").select_option(label="Who Coined What")
    pg.get_by_role("button", name="Run query").click()
    rows = pg.locator("#sparql-results tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 1
    expect(pg.locator("#sparql-results")).to_contain_text("John Herz")
    assert "query=" in pg.url  # the query is kept in the address
    # IRIs in results link to their pages
    pg.get_by_label("Query").fill('SELECT ?c WHERE { ?c rdfs:label "Security Dilemma" ; a sd:Concept }')
    pg.get_by_role("button", name="Run query").click()
    pg.locator("#sparql-results a", has_text="Security Dilemma").first.click()
    expect(pg.get_by_role("heading", level=1)).to_have_text("Security Dilemma")
    assert console.errors == []


def test_shared_query_link_runs_on_open(page: tuple[Page, Console], base_url: str) -> None:
    pg, _ = page
    q = "SELECT ?name WHERE { ?t a sd:Thinker ; rdfs:label ?name } ORDER BY ?name LIMIT 3"
    pg.goto(base_url + "sparql/index.html?query=" + q.replace(" ", "%20").replace("?", "%3F").replace(";", "%3B"))
    expect(pg.locator("#sparql-results tbody tr")).to_have_count(3, timeout=30_000)


def test_click_a_node_in_the_graph(page: tuple[Page, Console], base_url: str) -> None:
    pg, console = page
    pg.goto(base_url + "graph/index.html")
    pos: Any = pg.evaluate("window.sdwikiGraph.pagePosition('Security Dilemma')")
    assert pos is not None
    pg.mouse.click(pos["x"], pos["y"])
    expect(pg).to_have_url(base_url + "concept/security-dilemma/index.html")
    assert console.errors == []


def test_reading_works_from_disk_without_a_server(page: tuple[Page, Console], site: Path) -> None:
    pg, _ = page
    pg.goto((site / "concept/security-dilemma/index.html").as_uri())
    pg.locator(".panel-thinkers a", has_text="Robert Jervis").click()
    expect(pg.get_by_role("heading", level=1)).to_have_text("Robert Jervis")


@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots(browser: Browser, base_url: str, width: int, scheme: str) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)  # type: ignore[arg-type]
    pg = context.new_page()
    pg.goto(base_url + "concept/security-dilemma/index.html")
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"security-dilemma-{width}-{scheme}.png"
    pg.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    # nothing wider than the viewport: the page reflows down to phones
    overflow = pg.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    context.close()


PAGE_TYPES = [
    "index.html",
    "concept/security-dilemma/index.html",
    "thinker/robert-jervis/index.html",
    "example/cuban-missile-crisis/index.html",
    "era/cold-war/index.html",
    "mitigation/transparency/index.html",
    "tag/realism/index.html",
    "category/strategic/index.html",
    "graph/index.html",
    "search/index.html?q=deterrence",
    "sparql/index.html",
    "queries/index.html",
    "queries/coined-terms/index.html",
    "quality/index.html",
    "404.html",
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_accessibility_of_every_page_type(browser: Browser, base_url: str, scheme: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    context = browser.new_context(color_scheme=scheme)  # type: ignore[arg-type]
    pg = context.new_page()
    console = Console(pg)
    problems = []
    for path in PAGE_TYPES:
        pg.goto(base_url + path)
        pg.wait_for_load_state("networkidle")
        result = axe.run(pg)
        for v in result.response["violations"]:
            targets = [n["target"] for n in v["nodes"]][:3]
            problems.append(f"{path}: {v['id']} ({v['impact']}): {v['help']} {targets}")
    context.close()
    assert problems == [], "\n".join(problems)
    assert console.errors == []


def test_the_browser_queries_the_merge_of_the_note_graphs(page: tuple[Page, Console], base_url: str) -> None:
    """``data/graph.nq`` holds the named graphs only; the editor makes their merge the default
    graph, so a query counts what ``sdwiki query`` counts (each triple once, however many notes
    state it), and ``GRAPH ?g`` still tells where a fact came from."""
    from urllib.parse import quote

    from sdwiki.pipeline import analytics_graph, load_project
    from sdwiki.query import run

    project = load_project(CONTENT)
    ds = project.dataset(extra=[analytics_graph(project)])  # the site's graph carries the measures
    pg, console = page
    for q in (
        "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
        "SELECT (COUNT(DISTINCT ?g) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }",
    ):
        want = str(run(ds, q).rows[0][0])
        pg.goto(base_url + "sparql/index.html?query=" + quote(q))
        expect(pg.locator("#sparql-results tbody tr")).to_have_count(1, timeout=30_000)
        assert pg.locator("#sparql-results tbody td").first.inner_text().strip() == want, q
    assert int(want) == len(project.note_graphs) + 1
    assert console.errors == []
