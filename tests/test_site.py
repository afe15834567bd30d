"""The built site: golden output, links, determinism, safety of the output folder.

After an intended change to the site, regenerate the golden files with::

    SDWIKI_REGEN=1 python -m pytest tests/test_site.py -k golden
"""

from __future__ import annotations

import filecmp
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from sdwiki.build import BuildError, build_site
from sdwiki.settings import Settings
from tests.conftest import CONTENT, snapshot
from tests.sitecheck import broken_links, external_loads, parse

VAULT = Path(__file__).parent / "data" / "site-vault"
GOLDEN = Path(__file__).parent / "data" / "site-golden"
# Files compared byte for byte; the search index and vendored files are checked elsewhere.
SKIP = ("pagefind/", "assets/", ".sdwiki-manifest.json")


def build(content: Path, out: Path, search: bool = False) -> Path:
    build_site(content, out, Settings(), search=search)
    return out


@pytest.fixture(scope="session")
def bundled_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(CONTENT, tmp_path_factory.mktemp("bundled") / "site", search=True)


def compared_files(site: Path) -> list[str]:
    return sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*")
        if p.is_file() and not p.relative_to(site).as_posix().startswith(SKIP)
    )


def test_golden_site(tmp_path: Path) -> None:
    site = build(VAULT, tmp_path / "site")
    if os.environ.get("SDWIKI_REGEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel in compared_files(site):
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(site / rel, GOLDEN / rel)
    assert compared_files(site) == compared_files(GOLDEN)
    for rel in compared_files(site):
        got, want = (site / rel).read_text("utf-8"), (GOLDEN / rel).read_text("utf-8")
        assert got == want, f"{rel} differs from the golden file (regenerate if intended)"


def test_fixture_pages_show_the_graph(tmp_path: Path) -> None:
    site = build(VAULT, tmp_path / "site")
    page = (site / "concept/spiral/index.html").read_text("utf-8")
    assert '<span class="wikilink broken"' not in page  # Spiral's own links all resolve
    assert "coined the term" in page
    assert '<ol class="chain loops">' in page
    assert "This section is not in the ontology, so it stays as text." in page
    assert 'class="embed"' in page and "By waiting, and by saying so in public." in page
    ada = (site / "thinker/ada-lovelace/index.html").read_text("utf-8")
    assert "No note named Missing Note" in ada
    assert "Notes on Spirals" in ada
    era = (site / "era/old-times/index.html").read_text("utf-8")
    assert "Naval Race" in era
    query = (site / "queries/spirals/index.html").read_text("utf-8")
    assert "Ada Lovelace" in query and "1843" in query


def test_bundled_site_links_resolve_and_nothing_loads_from_elsewhere(bundled_site: Path) -> None:
    assert broken_links(bundled_site) == []
    assert external_loads(bundled_site) == []
    for required in [
        "index.html",
        "404.html",
        "sitemap.xml",
        "graph/index.html",
        "sparql/index.html",
        "search/index.html",
        "quality/index.html",
        "queries/index.html",
        "data/graph.ttl",
        "data/graph.nq",
        "data/graph.jsonld",
        "concept/security-dilemma/index.html",
        "concept/security-dilemma/data.ttl",
        "concept/security-dilemma/data.jsonld",
        "thinker/robert-jervis/index.html",
        "example/cuban-missile-crisis/index.html",
        "era/cold-war/index.html",
        "mitigation/transparency/index.html",
        "tag/realism/index.html",
        "category/strategic/index.html",
        "pagefind/pagefind.js",
        "assets/vendor/oxigraph/web_bg.wasm",
        "assets/vendor/oxigraph/LICENSE.txt",
    ]:
        assert (bundled_site / required).is_file(), required
    page = parse(bundled_site / "concept/security-dilemma/index.html")
    alternates = {a.get("type") for t, a in page.tags if t == "link" and a.get("rel") == "alternate"}
    assert alternates == {"text/turtle", "application/ld+json"}
    assert any(a.get("type") == "application/ld+json" for a, _ in page.scripts)


def test_two_builds_are_byte_identical(tmp_path: Path, bundled_site: Path) -> None:
    again = build(CONTENT, tmp_path / "again", search=True)
    left = sorted(p.relative_to(bundled_site) for p in bundled_site.rglob("*") if p.is_file())
    right = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert left == right
    _, mismatch, errors = filecmp.cmpfiles(bundled_site, again, [str(p) for p in left], shallow=False)
    assert mismatch == [] and errors == []


def test_rebuild_keeps_unchanged_files_and_replaces_changed_ones(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(VAULT, content)
    site = build(content, tmp_path / "site")
    before = (site / "concept/spiral/index.html").stat().st_ino
    untouched = (site / "thinker/ada-lovelace/index.html").read_bytes()
    note = content / "concepts" / "Restraint.md"
    note.write_text(note.read_text("utf-8").replace("Choosing not", "Deciding not"), "utf-8")
    build(content, site)
    assert "Deciding not" in (site / "concept/restraint/index.html").read_text("utf-8")
    assert (site / "thinker/ada-lovelace/index.html").read_bytes() == untouched
    assert (site / "concept/spiral/index.html").stat().st_ino in (
        before,
        (site / "concept/spiral/index.html").stat().st_ino,
    )


def test_build_refuses_dangerous_outputs(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(VAULT, content)
    for bad in (Path("/"), Path.home(), content, content / "site", tmp_path):
        with pytest.raises(BuildError):
            build(content, bad)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me", "utf-8")
    with pytest.raises(BuildError, match="not a site sdwiki built"):
        build(content, foreign)
    assert (foreign / "precious.txt").read_text("utf-8") == "keep me"
    site = build(content, tmp_path / "site")
    (site / "added-by-hand.txt").write_text("mine", "utf-8")
    with pytest.raises(BuildError, match="was not written by sdwiki"):
        build(content, site)
    assert (site / "added-by-hand.txt").read_text("utf-8") == "mine"


def test_build_never_writes_into_content(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(VAULT, content)
    before = snapshot(content)
    build(content, tmp_path / "site", search=True)
    assert snapshot(content) == before


def test_interrupted_build_leaves_the_previous_site_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = tmp_path / "content"
    shutil.copytree(VAULT, content)
    site = build(content, tmp_path / "site")
    before = snapshot(site)
    note = content / "concepts" / "Restraint.md"
    note.write_text(note.read_text("utf-8") + "\nMore text.\n", "utf-8")

    def crash(*_: object) -> None:
        raise KeyboardInterrupt

    import sdwiki.search

    begun: list[subprocess.Popen[str]] = []

    def long_index(*_: str) -> subprocess.Popen[str]:  # an index still being made when the build stops
        begun.append(subprocess.Popen(["sleep", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        return begun[-1]

    monkeypatch.setattr(sdwiki.search, "_pagefind", long_index)
    monkeypatch.setattr(sdwiki.search.SearchIndex, "place", crash)
    with pytest.raises(KeyboardInterrupt):
        build(content, site, search=True)
    assert snapshot(site) == before
    assert len(begun) == 1 and begun[0].returncode == -signal.SIGKILL  # the index's process is stopped too
    monkeypatch.undo()
    build(content, site)  # the next build cleans up and succeeds
    assert "More text." in (site / "concept/restraint/index.html").read_text("utf-8")
    assert not any(p.name.endswith("sdwiki-new") for p in tmp_path.iterdir())
