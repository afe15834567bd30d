"""Builds that have less to do: the build stamp (nothing changed, nothing done) and rebuilds after edits."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sdwiki import analytics, bundle, graph, notes, pipeline, stamp
from sdwiki.build import SiteBuilder, cache_dir
from sdwiki.settings import Settings

VAULT = Path(__file__).parent / "data" / "site-vault"


def _build(content: Path, site: Path, settings: Settings | None = None) -> str:
    return SiteBuilder(search=False)(content, site, settings or Settings())


def _vault(tmp_path: Path) -> tuple[Path, Path]:
    content = tmp_path / "content"
    shutil.copytree(VAULT, content)
    return content, tmp_path / "site"


def test_a_build_with_nothing_to_do_leaves_the_site_alone(tmp_path: Path) -> None:
    content, site = _vault(tmp_path)
    first = _build(content, site)
    assert first.startswith("built ")
    folder = site.stat().st_ino  # a real build swaps in a new folder
    stats = {p: p.stat().st_mtime_ns for p in site.rglob("*")}
    again = _build(content, site)
    assert again.startswith("up to date: ")
    assert again.split()[3] == first.split()[1]  # the same number of files
    assert "(0 changed)" in again and again.split(" in ")[1].split(": ")[1] == first.split(" in ")[1].split(": ")[1]
    assert site.stat().st_ino == folder
    assert {p: p.stat().st_mtime_ns for p in site.rglob("*")} == stats


def test_a_build_with_nothing_to_do_imports_nothing_heavy(tmp_path: Path) -> None:
    """The answer "up to date" comes before the parser, the graph library or the pipeline is imported:
    the command's start-up is most of its time."""
    content, site = _vault(tmp_path)
    probe = (
        "import sys\n"
        "from sdwiki.cli import main\n"
        "try:\n"
        f"    main(['build', {str(content)!r}, '-o', {str(site)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('rdflib', 'markdown_it', 'networkx', 'jinja2', 'sdwiki.pipeline')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)  # a real build
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "up to date" in done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_any_change_to_the_inputs_means_a_real_build(tmp_path: Path) -> None:
    content, site = _vault(tmp_path)
    _build(content, site)
    note = content / "concepts" / "Restraint.md"
    note.write_text(note.read_text("utf-8").replace("Choosing not", "Deciding not"), "utf-8")
    assert _build(content, site).startswith("built ")
    assert "Deciding not" in (site / "concept/restraint/index.html").read_text("utf-8")
    assert _build(content, site).startswith("up to date")
    (content / "notes.txt").write_text("an attachment", "utf-8")
    assert _build(content, site).startswith("built ")
    assert _build(content, site, replace(Settings(), title="Another title")).startswith("built ")
    assert "Another title" in (site / "index.html").read_text("utf-8")


def test_a_site_changed_by_hand_is_rebuilt_and_repaired(tmp_path: Path) -> None:
    content, site = _vault(tmp_path)
    _build(content, site)
    page = site / "concept/restraint/index.html"
    original = page.read_bytes()
    page.write_bytes(original.replace(b"<html", b"<HTML", 1))  # same size, other bytes
    assert _build(content, site).startswith("built ")
    assert page.read_bytes() == original
    (site / "index.html").unlink()
    assert _build(content, site).startswith("built ")
    assert (site / "index.html").is_file()


def test_an_interrupted_build_does_not_look_finished(tmp_path: Path) -> None:
    content, site = _vault(tmp_path)
    _build(content, site)
    stamp = cache_dir(site) / "build-stamp.json"
    assert stamp.is_file()
    os.utime(content / "concepts" / "Restraint.md", ns=(1, 1))
    builder = SiteBuilder(search=True)

    def crash(*_: object) -> None:
        raise KeyboardInterrupt

    builder._search = crash  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        builder(content, site, Settings())
    assert not stamp.exists()
    assert _build(content, site).startswith("built ")


def _files(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


def test_parallel_and_cached_builds_equal_a_clean_single_process_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.generate import generate
    from sdwiki import parallel

    monkeypatch.setattr(parallel, "MIN_ITEMS", 50)  # workers even for this small vault
    vault = generate(tmp_path / "vault", 160, seed=5)
    single = tmp_path / "single"
    SiteBuilder(search=False, jobs=1)(vault.content, single, Settings())
    before, besides = parallel.pools, parallel.besides
    forked = tmp_path / "forked"
    SiteBuilder(search=False, jobs=2)(vault.content, forked, Settings())
    assert parallel.pools >= before + 2  # notes read and pages rendered in worker processes
    assert parallel.besides == besides + 1  # the N-Quads file written in a copy
    expected = _files(single)
    assert len(expected) > 600 and _files(forked) == expected
    # a second builder: every note from the cache, in workers; then an edit undone, in one process
    (cache_dir(forked) / "build-stamp.json").unlink()
    SiteBuilder(search=False, jobs=2)(vault.content, forked, Settings())
    assert _files(forked) == expected
    note = sorted((vault.content / "concepts").glob("*.md"))[0]
    original = note.read_bytes()
    note.write_bytes(original.replace(b"## Key Thinkers", b"Edited.\n\n## Key Thinkers", 1))
    builder = SiteBuilder(search=False, jobs=1)
    builder(vault.content, forked, Settings())
    assert _files(forked) != expected
    note.write_bytes(original)
    builder(vault.content, forked, Settings())
    assert _files(forked) == expected


def test_a_rebuild_makes_again_only_the_pages_whose_inputs_changed(tmp_path: Path) -> None:
    content, site = _vault(tmp_path)
    builder = SiteBuilder(search=False)
    builder(content, site, Settings())
    assert builder.kept == 0
    pages = len(list(site.rglob("index.html")))
    (content / "extra.txt").write_text("an attachment: no page changes", "utf-8")
    builder(content, site, Settings())
    assert builder.kept > pages / 2  # entity pages and their data files, kept as they were
    # a renamed note: every page that names it shows the new name, none keeps the old one
    note = content / "concepts" / "Spiral.md"
    text = note.read_text("utf-8")
    assert "title:" not in text.split("---")[1]
    note.write_text(text.replace("type: concept\n", "type: concept\ntitle: Spiral Model\n", 1), "utf-8")
    fresh = SiteBuilder(search=False)
    fresh(content, site, Settings())
    assert fresh.kept > 0
    clean = tmp_path / "clean"
    SiteBuilder(search=False)(content, clean, Settings())
    assert _files(site) == _files(clean)
    assert sum(b"Spiral Model" in data for path, data in _files(site).items() if path.endswith(".html")) > 2


def test_serve_style_builds_update_in_place_and_equal_clean_builds(tmp_path: Path) -> None:
    content, site = _vault(tmp_path)
    builder = SiteBuilder(search="first", in_place=True)
    builder(content, site, Settings())
    folder = site.stat().st_ino
    note = content / "concepts" / "Restraint.md"
    note.write_text(note.read_text("utf-8").replace("Choosing not", "Deciding not"), "utf-8")
    builder(content, site, Settings())
    assert site.stat().st_ino == folder  # the same folder, its files replaced one by one
    assert "Deciding not" in (site / "concept/restraint/index.html").read_text("utf-8")
    assert builder._extracted is not None
    assert len(builder._extracted.graphs) == 4  # one graph per note, the unchanged ones kept
    (content / "concepts" / "Spiral.md").unlink()
    before = set(_files(site))
    builder(content, site, Settings())
    assert before - set(_files(site))  # files of the removed note are gone (compared in full below)
    clean = tmp_path / "clean"
    SiteBuilder(search=True)(content, clean, Settings())
    ours, theirs = _files(site), _files(clean)
    assert {p for p in ours if p.startswith("pagefind/")} and not [p for p in ours if ".sdwiki-tmp" in p]
    # the search index is carried over from the first build, as serve promises
    assert {p: d for p, d in ours.items() if not p.startswith(("pagefind/", ".sdwiki"))} == {
        p: d for p, d in theirs.items() if not p.startswith(("pagefind/", ".sdwiki"))
    }


def test_command_line_builds_keep_the_network_analysis_while_no_relation_changes(tmp_path: Path) -> None:
    """The analysis is kept in the cache folder: a prose edit reuses it, a new relation or a
    damaged file makes it again; the site always equals a clean build's."""
    content, site = _vault(tmp_path)
    memo = cache_dir(site) / bundle.ANALYSIS
    _build(content, site)
    first = memo.read_bytes()
    note = content / "concepts" / "Restraint.md"

    def edit_and_compare(old: str, new: str) -> None:
        note.write_text(note.read_text("utf-8").replace(old, new, 1), "utf-8")
        assert _build(content, site).startswith("built ")
        clean = tmp_path / f"clean-{len(old)}-{len(new)}"
        _build(content, clean)
        assert _files(site) == _files(clean)

    def network() -> str:  # the key of the network the kept analysis belongs to
        kept = bundle.read(memo, stamp.code_digest())
        assert isinstance(kept, tuple)
        return str(kept[0])

    key = network()
    edit_and_compare("Choosing not", "Deciding not")  # prose: the same network, the file untouched
    assert memo.read_bytes() == first
    memo.write_bytes(memo.read_bytes().replace(b"concept", b"CONCEPT"))  # damaged: made again
    edit_and_compare("Deciding not", "Electing not")
    assert network() == key and b"CONCEPT" not in memo.read_bytes()
    memo.write_bytes(b"not a pickle")
    edit_and_compare("Electing not", "Opting not")
    assert network() == key
    edit_and_compare("## Related", "## Key Thinkers\n- [[Robert Jervis]]\n\n## Related")  # a new relation
    assert network() != key


def _saved_with_work_left(tmp_path: Path) -> tuple[Path, Path, SiteBuilder, dict[str, bytes]]:
    """A site built as ``serve`` builds it, then a note saved: its pages are written, the
    whole-graph files left for later. The content, the site, the builder and the site's files."""
    content, site = _vault(tmp_path)
    builder = SiteBuilder(search=False, in_place=True, pages_first=True)
    builder(content, site, Settings())
    note = content / "concepts" / "Restraint.md"
    note.write_text(note.read_text("utf-8").replace("Choosing not", "Deciding not"), "utf-8")
    builder(content, site, Settings())
    return content, site, builder, _files(site)


def test_a_saved_notes_page_is_on_disk_before_the_rest_of_the_save(tmp_path: Path) -> None:
    """``serve`` saves in place, pages first: the saved note's page is written as soon as it is
    made, the builder says so while the rest of the save is made, and the rest leaves that file
    as it is; the site ends as a clean build makes it."""
    from sdwiki import write

    content, site = _vault(tmp_path)
    builder = SiteBuilder(search=False, in_place=True, pages_first=True)
    builder(content, site, Settings())
    page, index = site / "concept" / "restraint" / "index.html", site / "index.html"
    seen: list[tuple[tuple[str, ...], bytes, int]] = []
    builder.ahead = lambda files: seen.append((files, page.read_bytes(), page.stat().st_ino))
    note = content / "concepts" / "Restraint.md"
    note.write_text(note.read_text("utf-8").replace("Choosing not", "Electing not"), "utf-8")
    builder(content, site, Settings(), saved=[note])
    assert len(seen) == 1
    files, shown, inode = seen[0]
    assert "concept/restraint/index.html" in files  # the page and its data files, nothing else
    assert all(f.startswith(("concept/restraint/", "data/concept/restraint.")) for f in files), files
    assert b"Electing not" in shown  # on disk when the builder said so
    assert page.read_bytes() == shown and page.stat().st_ino == inode  # not written again by the rest
    assert builder.changed is not None and "concept/restraint/index.html" in builder.changed
    assert builder.finish() is not None
    clean = tmp_path / "clean"
    SiteBuilder(search=False)(content, clean, Settings())
    assert {p: d for p, d in _files(site).items() if p != write.MANIFEST} == {
        p: d for p, d in _files(clean).items() if p != write.MANIFEST
    }
    builder.ahead = lambda files: seen.append((files, b"", 0))
    builder(content, site, Settings())  # not told what was saved: nothing goes ahead
    assert len(seen) == 1 and index.is_file()


def test_each_stage_tells_the_next_which_notes_it_made_again(tmp_path: Path) -> None:
    """Build after build with the same memory, the corpus says whose links it resolved again and
    the project whose graphs it made again: what comparing every note would find, in every case
    (a prose edit, a new link, a note added)."""
    from sdwiki.records import replaced

    content, _ = _vault(tmp_path)
    extracted = pipeline.Extracted()
    last = pipeline.analyse(*pipeline.read_notes(content), content, extracted=extracted)
    note = content / "concepts" / "Restraint.md"
    odd = "Electing not [[Spiral]] [[Nowhere At All]].\n\n## Bogus Heading\n\nText.\n"
    edits: list[tuple[str, str] | None] = [
        ("Choosing not", "Electing not"),  # prose only
        ("Electing not", "Electing not [[Spiral]]"),  # a new link
        ("Electing not [[Spiral]]", odd),  # a broken link and an unknown section: problems
        (odd, "Electing not [[Spiral]]"),  # gone again
        None,  # a note added
    ]
    for change in edits:
        if change is None:
            (content / "concepts" / "Newcomer.md").write_text("# Newcomer\n\nSee [[Restraint]].\n", "utf-8")
        else:
            note.write_text(note.read_text("utf-8").replace(*change), "utf-8")
        project = pipeline.analyse(*pipeline.read_notes(content), content, extracted=extracted)
        found = replaced(last.note_graphs, project.note_graphs)
        assert project.graphs_replaced_since(last.note_graphs) == found
        assert project.corpus.links_replaced_since(last.corpus.resolved) == replaced(
            last.corpus.resolved, project.corpus.resolved
        )
        fresh = pipeline.analyse(*pipeline.read_notes(content), content)
        assert project.diagnostics == fresh.diagnostics  # the problems, kept where notes did not change
        odd_now = {d.code for d in project.diagnostics if d.file == "concepts/Restraint.md"}
        assert {"broken-link", "unknown-section"} <= odd_now if change and change[1] == odd else not odd_now
        told = project.graphs_since is not None and project.graphs_since[0] is last.note_graphs
        assert told == (change is not None)  # a note added: every graph is compared
        assert found is None or "concepts/Restraint.md" in found
        last = project


def test_work_left_for_later_can_stop_unwritten_and_run_again(tmp_path: Path) -> None:
    """``serve`` shows pages first and leaves the whole-graph files for later; a save made while
    they are being made stops that work between steps. Stopped, it writes nothing and stays to do."""
    content, site, builder, before = _saved_with_work_left(tmp_path)
    assert b"Deciding not" not in before["data/graph.nq"]
    asked: list[int] = []
    assert builder.finish(lambda: bool(asked.append(1)) or len(asked) > 1) is None  # stopped at the 2nd step
    assert _files(site) == before
    assert set(builder.finish()) >= {"data/graph.nq", "data/graph.ttl", "data/graph.jsonld"}
    assert builder.finish() == ()  # nothing left
    clean = tmp_path / "clean"
    SiteBuilder(search=False)(content, clean, Settings())
    assert _files(site) == _files(clean)


def test_work_left_for_later_killed_while_writing_leaves_the_site_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve`` makes the whole-graph files in a copy of its process and kills it when a note is
    saved meanwhile, even halfway through writing a file: the site keeps its last files and no
    half-written one, and the work, done later, gives a clean build's site."""
    from sdwiki import build

    content, site, builder, before = _saved_with_work_left(tmp_path)
    half = site / "data" / ".graph.nq.sdwiki-tmp"
    real_update = build.update_site

    def stalls_halfway(*args: object, **kwargs: object) -> object:  # runs in the copy only
        half.write_bytes(b"<a> <b> ")
        time.sleep(60)
        raise AssertionError("not killed")

    monkeypatch.setattr(build, "update_site", stalls_halfway)
    assert builder.finish(half.exists, forked=True) is None
    assert _files(site) == before and not [p for p in site.rglob("*") if ".sdwiki-tmp" in p.name]

    monkeypatch.setattr(build, "update_site", real_update)
    done = builder.finish(lambda: False, forked=True)
    assert done is not None and "data/graph.nq" in done
    clean = tmp_path / "clean"
    SiteBuilder(search=False)(content, clean, Settings())
    assert _files(site) == _files(clean)

    def fails(*args: object, **kwargs: object) -> object:
        raise OSError("no space left on device")

    builder(content, site, Settings())  # a build with nothing new still leaves the work for later
    monkeypatch.setattr(build, "update_site", fails)
    with pytest.raises(build.BuildError, match="no space left on device"):
        builder.finish(lambda: False, forked=True)


def test_serve_keeps_its_sites_manifest_and_keys_in_memory_between_saves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save updates ``serve``'s site from the manifest and page keys kept in memory: neither
    file is read or written for it. The manifest on disk goes at the first such save (nothing may
    trust it then) and comes back whole with the work left for later."""
    from sdwiki import build, write

    content, site, builder, before = _saved_with_work_left(tmp_path)
    manifest = site / write.MANIFEST
    assert not manifest.exists() and not (cache_dir(site) / stamp.KEYS).exists()
    assert builder._kept is not None and builder._kept.written is not None and builder._kept.keys is not None
    assert builder._kept.written.manifest.keys() == set(before)

    def no_reading(*args: object, **kwargs: object) -> object:
        raise AssertionError("read from disk")

    monkeypatch.setattr(write, "_read_manifest", no_reading)
    monkeypatch.setattr(stamp, "read_keys", no_reading)
    related = builder._kept.related
    assert related is not None and related[0] is builder._kept.analysis.analysis
    graph_json = builder._kept.digests["data/graph.json"]
    hashed: list[bytes] = []
    real_digest = write.digest_of
    monkeypatch.setattr(write, "digest_of", lambda data: hashed.append(data) or real_digest(data))
    note = content / "concepts" / "Restraint.md"
    note.write_text(note.read_text("utf-8").replace("Deciding not", "Electing not"), "utf-8")
    builder(content, site, Settings())
    assert builder._kept.related is related  # prose: the same network, its neighbours not indexed again
    assert builder._kept.digests["data/graph.json"] == graph_json  # the same bytes, known: not hashed again
    assert hashed and not [data for data in hashed if data is graph_json[0]]
    assert graph_json[1] == write.digest_of(graph_json[0])
    assert builder.changed is not None and "concept/restraint/index.html" in builder.changed
    assert "index.html" not in builder.changed  # the rest was found unchanged through the memory
    kept_site, kept_keys = builder._kept.written, builder._kept.keys
    assert kept_site is not None and kept_keys is not None
    assert kept_keys.keys() <= kept_site.manifest.keys()  # what lets a page's keys alone say it can be kept
    assert not manifest.exists()
    assert builder.finish() is not None  # made here, not in a copy: the manifest comes back to disk
    monkeypatch.undo()
    assert json.loads(manifest.read_bytes()) == builder._kept.written.manifest
    clean = tmp_path / "clean"
    SiteBuilder(search=False)(content, clean, Settings())
    assert {p: d for p, d in _files(site).items() if p != write.MANIFEST} == {
        p: d for p, d in _files(clean).items() if p != write.MANIFEST
    }
    assert build.Previous(site).manifest == json.loads(manifest.read_bytes())
    note.write_text(
        note.read_text("utf-8").replace("## Related", "## Key Thinkers\n- [[Robert Jervis]]\n\n## Related"), "utf-8"
    )
    builder(content, site, Settings())
    assert builder._kept.related is not None and builder._kept.related[0] is not related[0]  # a new relation
    assert builder.finish() is not None
    SiteBuilder(search=False)(content, clean, Settings())
    assert _files(site) == _files(clean)


def test_serves_first_save_finds_in_memory_what_its_first_build_worked_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve``'s first build replaces the site whole; what the saves after it use is kept from
    it in memory: the manifest, the page keys, the whole-wiki pages' digests and which notes
    embed others. Each page's lookups are kept once, in the memo's index of readers: the page
    records the memo keeps carry none (at 10,000 notes, the first save used to free half a
    million of them, and to read or work out the rest)."""
    from bench.generate import generate
    from bench.serve import edit_note
    from sdwiki import site as site_module
    from sdwiki import write

    generate(tmp_path / "vault", 60)
    content, site = tmp_path / "vault" / "content", tmp_path / "site"
    builder = SiteBuilder(search=False, in_place=True, pages_first=True)
    builder(content, site, Settings())
    kept = builder._kept
    assert kept is not None and kept.written is not None and kept.keys is not None and kept.pages is not None
    assert kept.written.manifest == json.loads((site / write.MANIFEST).read_bytes())
    assert kept.keys and kept.keys.keys() <= kept.written.manifest.keys()
    assert "data/graph.json" in kept.digests and not kept.digests.keys() & kept.keys.keys()
    memo = kept.pages
    assert memo.made and all(m.reads is None for m in memo.made.values())
    assert memo.embedding is not None and memo.readers
    assert {page for pages in memo.readers.values() for page in pages} >= set(memo.made) - {"index.html"}

    def no_reading(*args: object, **kwargs: object) -> object:
        raise AssertionError("read from disk")

    looked_at: list[Any] = []
    real_embeds = site_module._embeds
    monkeypatch.setattr(write, "_read_manifest", no_reading)
    monkeypatch.setattr(stamp, "read_keys", no_reading)
    monkeypatch.setattr(site_module, "_embeds", lambda note: looked_at.append(note) or real_embeds(note))
    hashed: list[bytes] = []
    real_digest = write.digest_of
    monkeypatch.setattr(write, "digest_of", lambda data: hashed.append(data) or real_digest(data))
    note = sorted((content / "concepts").iterdir())[0]
    edit_note(note, "first-save")
    builder(content, site, Settings())
    assert builder.changed is not None and any(b"first-save" in (site / p).read_bytes() for p in builder.changed)
    assert 0 < len(looked_at) < len(builder._notes) // 2  # the saved note and pages made again: not all
    assert kept.digests["data/graph.json"][0] not in hashed
    assert all(m.reads is None for m in memo.made.values())
    monkeypatch.undo()
    assert builder.finish() is not None
    clean = tmp_path / "clean"
    SiteBuilder(search=False)(content, clean, Settings())
    assert _files(site) == _files(clean)


def test_work_left_for_later_that_wrote_but_was_not_heard_from_is_done_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy making the whole-graph files can be killed after writing them, before its answer
    comes back: the files on disk are then not the ones ``serve``'s manifest in memory describes.
    Saving the note back as it was must still give a clean build's site."""
    from sdwiki import build, parallel

    content, site, builder, _ = _saved_with_work_left(tmp_path)

    def unheard(fn: Any, stop: Any, poll: float = 0.005) -> None:
        fn()  # the work is done, its answer lost
        return None

    monkeypatch.setattr(parallel, "run_forked", unheard)
    assert builder.finish(lambda: False, forked=True) is None
    assert b"Deciding not" in (site / "data" / "graph.nq").read_bytes()
    monkeypatch.undo()
    note = content / "concepts" / "Restraint.md"
    note.write_text(note.read_text("utf-8").replace("Deciding not", "Choosing not"), "utf-8")
    builder(content, site, Settings())
    assert builder.finish(lambda: False, forked=True) is not None
    clean = tmp_path / "clean"
    SiteBuilder(search=False)(content, clean, Settings())
    assert b"Deciding not" not in (site / "data" / "graph.nq").read_bytes()
    assert _files(site) == _files(clean)
    assert build.Previous(site).manifest == builder._kept.written.manifest if builder._kept else False


def test_serve_told_which_notes_were_saved_looks_at_those_only_unless_the_folder_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve`` passes the files its watcher saw saved: when they are all notes the last build
    read, the folder is not listed again and no other note is looked at. A new, removed or
    renamed file, an attachment, a folder or a symbolic link means a full look, and the site is
    a clean build's every time."""
    content, site = _vault(tmp_path)
    builder = SiteBuilder(search=False, in_place=True)
    builder(content, site, Settings())
    listed: list[Path] = []
    real_discover = notes.discover

    def discover(root: Path, links: Any = None) -> Any:
        listed.append(root)
        return real_discover(root, links)

    monkeypatch.setattr(notes, "discover", discover)
    restraint, spiral = content / "concepts" / "Restraint.md", content / "concepts" / "Spiral.md"

    def save(note: Path, old: str, new: str) -> None:
        note.write_text(note.read_text("utf-8").replace(old, new, 1), "utf-8")

    def check(saved: list[Path], lists: bool) -> None:
        listed.clear()
        builder(content, site, Settings(), saved=saved)
        assert bool(listed) == lists, saved
        clean = tmp_path / "clean"
        shutil.rmtree(clean, ignore_errors=True)
        SiteBuilder(search=False)(content, clean, Settings())
        assert {p: d for p, d in _files(site).items() if not p.startswith(".sdwiki")} == {
            p: d for p, d in _files(clean).items() if not p.startswith(".sdwiki")
        }

    save(restraint, "Choosing not", "Deciding not")
    check([restraint, content / ".obsidian" / "workspace.json"], lists=False)  # hidden files are never content
    assert "Deciding not" in (site / "concept/restraint/index.html").read_text("utf-8")
    save(restraint, "Deciding not", "Electing not")
    save(spiral, "## ", "## Aside\nA new section.\n\n## ")
    listed.clear()
    builder(content, site, Settings(), saved=[restraint])  # told of one save only: the other waits
    assert not listed and "A new section" not in (site / "concept/spiral/index.html").read_text("utf-8")
    check([spiral], lists=False)
    assert "A new section" in (site / "concept/spiral/index.html").read_text("utf-8")
    (content / "concepts" / "Fresh.md").write_text(
        "---\ntype: concept\n---\n# Fresh\n\nLinks [[Restraint]].\n", "utf-8"
    )
    check([content / "concepts" / "Fresh.md"], lists=True)  # a new note
    (content / "concepts" / "Fresh.md").rename(content / "concepts" / "Renamed.md")
    check([content / "concepts" / "Fresh.md", content / "concepts" / "Renamed.md"], lists=True)
    (content / "concepts" / "Renamed.md").unlink()
    check([content / "concepts" / "Renamed.md"], lists=True)  # removed
    (content / "concepts" / "pic.png").write_bytes(b"\x89PNG")
    check([content / "concepts" / "pic.png"], lists=True)  # an attachment
    check([content / "concepts"], lists=True)  # a folder
    check([], lists=True)  # nothing said: the watcher failed and started again
    (content / "Link.md").symlink_to(content / "concepts" / "Restraint.md")
    check([content / "Link.md"], lists=True)
    save(restraint, "Electing not", "Opting not")
    check([restraint], lists=True)  # a note reached through a link: saves show at another path


CONTENT = Path(__file__).parent.parent / "content"
EDITS = [  # (note, old, new): each kind of change a page can see from afar
    ("concepts/Spiral Model.md", "each side's defensive steps", "each side's protective steps"),  # prose only
    ("concepts/Spiral Model.md", "(refined both models, 1992)", "(refined both models, 1993)"),  # on Glaser's page
    ("concepts/Spiral Model.md", "States cannot observe", "States can never observe"),  # a cause's text
    ("concepts/Spiral Model.md", "Each responds with firmness", "Each answers with firmness"),  # a mechanism step
    ("concepts/Spiral Model.md", "[[Charles Glaser]] later", "Charles Glaser later"),  # a link less
    ("concepts/Spiral Model.md", '"Spiral model", ', ""),  # an alias less: names change everywhere
    ("concepts/Spiral Model.md", "### Pre-WWI\n- [[July Crisis]]\n\n", ""),  # an example and its era go
]


def test_serve_rebuilds_make_again_only_what_an_edit_reaches_and_equal_clean_builds(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    site = tmp_path / "site"
    builder = SiteBuilder(search=False, in_place=True)
    builder(content, site, Settings())
    originals = {name: (content / name).read_text("utf-8") for name, _, _ in EDITS}
    carried = []
    for k, (name, old, new) in enumerate([*EDITS, *[(n, "", "") for n in originals]]):
        note = content / name
        text = note.read_text("utf-8")
        if old:
            assert old in text, (name, old)
            note.write_text(text.replace(old, new, 1), "utf-8")
        else:  # put the note back as it was
            note.write_text(originals[name], "utf-8")
        builder(content, site, Settings())
        assert builder._kept is not None and builder._kept.pages is not None
        carried.append((builder._kept.pages.carried, len(builder._kept.pages.made)))
        clean = tmp_path / f"clean-{k}"
        SiteBuilder(search=False)(content, clean, Settings())
        ours = {p: d for p, d in _files(site).items() if not p.startswith(".sdwiki")}
        theirs = {p: d for p, d in _files(clean).items() if not p.startswith(".sdwiki")}
        assert ours.keys() == theirs.keys(), (k, name, old)
        assert [p for p in ours if ours[p] != theirs[p]] == [], (k, name, old)
    assert "1993" in (tmp_path / "clean-1" / "thinker/charles-glaser/index.html").read_text("utf-8")
    assert "protective steps" in (tmp_path / "clean-0" / "concept/spiral-model/index.html").read_text("utf-8")
    # a prose edit reaches the edited note's own page only; every other page's context is carried
    # over without being worked out again. The thinker's year reaches the thinker's page too.
    assert carried[0][0] == carried[0][1] - 1
    assert carried[1][0] <= carried[1][1] - 2


def test_command_line_rebuilds_carry_pages_over_as_serve_does_and_equal_clean_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command-line build starts with nothing in memory: it takes the last build's page memo from
    the cache folder, with the graphs it was made from, and works out again only the pages an edit
    can reach. Edit after edit (and with the record damaged), the site equals a clean build's."""
    from sdwiki.site import Site

    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    site = tmp_path / "site"
    SiteBuilder(search=False)(content, site, Settings())
    originals = {name: (content / name).read_text("utf-8") for name, _, _ in EDITS}
    worked: list[set[str]] = []
    context = Site.entity_context
    monkeypatch.setattr(Site, "entity_context", lambda s, iri, page: worked[-1].add(page) or context(s, iri, page))
    written: list[set[str]] = []  # the graphs written out as N-Quads, not copied from the last build's file
    lines = graph._lines
    monkeypatch.setattr(graph, "_lines", lambda ng, term: written[-1].add(ng.path) or lines(ng, term))
    signed: list[set[str]] = []  # the graphs whose part in the network was worked out
    signature = analytics._signature
    monkeypatch.setattr(analytics, "_signature", lambda ng: signed[-1].add(ng.path) or signature(ng))
    carried = []
    for k, (name, old, new) in enumerate([*EDITS, *[(n, "", "") for n in originals]]):
        note = content / name
        text = note.read_text("utf-8")
        if old:
            note.write_text(text.replace(old, new, 1), "utf-8")
        else:
            note.write_text(originals[name], "utf-8")
        if k == 3:  # a damaged record is not used: every page is worked out again, and the next one is whole
            record = cache_dir(site) / bundle.PAGES
            record.write_bytes(record.read_bytes()[:-10])
        if k == 5:  # the last build's graph file was changed: every graph is written out again
            with (cache_dir(site) / "whole-graph" / "graph.nq").open("ab") as f:
                f.write(b"<urn:x> <urn:y> <urn:z> .\n")
        worked.append(set())
        written.append(set())
        signed.append(set())
        builder = SiteBuilder(search=False, jobs=1)  # one process: the spy sees every page
        builder(content, site, Settings())
        carried.append(builder.carried)
        clean = tmp_path / f"clean-{k}"
        worked.append(set())
        written.append(set())
        signed.append(set())
        SiteBuilder(search=False)(content, clean, Settings())
        everything, every_graph, _ = worked.pop(), written.pop(), signed.pop()
        ours = {p: d for p, d in _files(site).items() if not p.startswith(".sdwiki")}
        theirs = {p: d for p, d in _files(clean).items() if not p.startswith(".sdwiki")}
        assert ours.keys() == theirs.keys(), (k, name, old)
        assert [p for p in ours if ours[p] != theirs[p]] == [], (k, name, old)
        listed = json.loads((site / ".sdwiki-manifest.json").read_text("utf-8"))  # digests taken as written
        assert {p: listed[p] for p in ours if p.startswith("data/graph.")} == {
            p: hashlib.sha256(d).hexdigest() for p, d in ours.items() if p.startswith("data/graph.")
        }
        if k in (3, 5):
            assert written[k] == every_graph
        if k == 3:
            assert worked[k] == everything and carried[k] == 0
        shutil.rmtree(clean)
        shutil.rmtree(cache_dir(clean))
    assert worked[0] == {"concept/spiral-model/index.html"}  # a prose edit reaches the note's own page
    assert written[0] == written[2] == {"concepts/Spiral Model.md", ""}  # and its graph (and the measures')
    assert signed[0] == signed[2] == {"concepts/Spiral Model.md"}
    assert "concept/spiral-model/index.html" in worked[2] and len(worked[2]) < len(everything) // 4  # a cause's text
    assert {"concept/spiral-model/index.html", "thinker/charles-glaser/index.html"} <= worked[1]
    assert carried[0] > 0 and carried[2] > 0


def test_a_mapping_this_process_wrote_is_read_back_unparsed_until_someone_else_writes_it(tmp_path: Path) -> None:
    """``serve`` reads its site's manifest and page keys on every save: what it wrote comes back
    as it was, without parsing; a file replaced since (by the forked follow-up work, or anyone)
    is read again."""
    import json

    from sdwiki.stamp import read_keys, write_keys

    keys = {f"concept/c{i}/index.html": f"key{i}" for i in range(100)}
    write_keys(tmp_path, keys)
    assert read_keys(tmp_path) is keys
    other = {**keys, "concept/c0/index.html": "changed elsewhere"}
    tmp = tmp_path / "page-keys.json.new"
    tmp.write_text(json.dumps(other), "utf-8")
    os.replace(tmp, tmp_path / "page-keys.json")
    assert read_keys(tmp_path) == other
    (tmp_path / "page-keys.json").unlink()
    assert read_keys(tmp_path) == {}


def test_command_line_builds_start_from_the_notes_and_graphs_the_last_one_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build leaves its notes as parsed and its note graphs as extracted in the cache folder,
    one file each; the next build (nothing in memory) parses and extracts again only the notes
    whose files changed, and its site is a clean build's. A damaged bundle is ignored."""
    content, site = _vault(tmp_path)
    _build(content, site)
    cache = cache_dir(site)
    shutil.rmtree(cache / "notes")  # the cache entry of each note: only the bundle can spare the parser
    parsed: list[str] = []
    extracted: list[str] = []
    parse, extract = notes.parse_note, pipeline.extract
    monkeypatch.setattr(notes, "parse_note", lambda rel, *a: parsed.append(rel) or parse(rel, *a))
    monkeypatch.setattr(pipeline, "extract", lambda note, *a: extracted.append(note.path) or extract(note, *a))
    note = content / "concepts" / "Restraint.md"
    everything = sorted(str(p.relative_to(content)) for p in content.rglob("*.md"))

    def edit_and_compare(old: str, new: str) -> tuple[list[str], list[str]]:
        """The notes parsed and extracted by a build after the edit."""
        parsed.clear()
        extracted.clear()
        note.write_text(note.read_text("utf-8").replace(old, new, 1), "utf-8")
        assert SiteBuilder(search=False, jobs=1)(content, site, Settings()).startswith("built ")
        done = (sorted(parsed), sorted(extracted))
        clean = tmp_path / f"clean-{len(old)}-{len(new)}"
        _build(content, clean)
        assert _files(site) == _files(clean)
        return done

    assert edit_and_compare("Choosing not", "Deciding not") == (["concepts/Restraint.md"], ["concepts/Restraint.md"])
    for name in (bundle.NOTES, bundle.GRAPHS):
        kept = cache / name
        kept.write_bytes(kept.read_bytes()[:-100])  # cut short: not used, and made again
    assert edit_and_compare("Deciding not", "Electing not") == (everything, everything)
    assert edit_and_compare("Electing not", "Opting not") == (["concepts/Restraint.md"], ["concepts/Restraint.md"])


def test_a_bundle_is_read_only_by_the_code_that_wrote_it_and_only_whole(tmp_path: Path) -> None:
    kept = tmp_path / "kept.pickle"
    bundle.write(kept, "code-a", {"notes": [1, 2, 3]})
    assert bundle.read(kept, "code-a") == {"notes": [1, 2, 3]}
    assert bundle.read(kept, "code-b") is None
    whole = kept.read_bytes()
    kept.write_bytes(whole.replace(b"notes", b"NOTES"))
    assert bundle.read(kept, "code-a") is None
    kept.write_bytes(whole[:-3])
    assert bundle.read(kept, "code-a") is None
    assert bundle.read(tmp_path / "absent.pickle", "code-a") is None
    assert [p.name for p in tmp_path.iterdir()] == ["kept.pickle"]  # no temporary file left behind


def test_a_build_leaves_the_oldest_generation_to_the_end(tmp_path: Path) -> None:
    """No full collection runs during a build (each would walk every note, graph and index entry
    made so far), the young generations are still collected, and the collector's settings are
    as they were afterwards."""
    import gc

    content, site = _vault(tmp_path)
    seen: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    builder = SiteBuilder(search=False, jobs=1)
    before = gc.get_threshold()
    gc.set_threshold(50, 1, 1)  # without the build's own setting, a full collection every other young one
    gc.collect()
    gc.callbacks.append(record)
    try:
        builder(content, site, Settings())
        assert gc.get_threshold() == (50, 1, 1)
    finally:
        gc.callbacks.remove(record)
        gc.set_threshold(*before)
    assert seen.count(0) > 5 and seen.count(1) > 2 and 2 not in seen


def test_the_search_index_is_made_in_parts_each_the_one_pagefind_makes_of_its_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index is made in parts, each from its pages' search documents (their articles alone):
    each part is the index Pagefind makes of the whole pages it holds, after a first build, an
    edit and a removed note, with a document for each indexed page and no other. A build makes
    again only the parts whose pages changed."""
    from sdwiki import search
    from sdwiki.search import DOCS, part_folder, part_of

    monkeypatch.setattr(search, "PAGES_PER_PART", 4)
    runs: list[str] = []
    pagefind = search._pagefind
    monkeypatch.setattr(search, "_pagefind", lambda *where: runs.append(where[1]) or pagefind(*where))
    content, site = _vault(tmp_path)
    docs = cache_dir(site) / DOCS

    def build_and_compare() -> dict[str, bytes]:
        runs.clear()
        assert SiteBuilder(search=True)(content, site, Settings()).startswith("built ")
        indexed = {
            p.relative_to(site).as_posix(): p.read_bytes()
            for p in site.rglob("*.html")
            if b"data-pagefind-body" in p.read_bytes() and not p.is_relative_to(site / "pagefind")
        }
        parts = search.parts_for(list(indexed))
        assert parts > 2 and f'data-parts="{parts}"' in (site / "search/index.html").read_text("utf-8")
        for part in range(parts):
            pages, whole = tmp_path / "part-pages", tmp_path / "part-index"
            for folder in (pages, whole):
                shutil.rmtree(folder, ignore_errors=True)
            mine = sorted(rel for rel in indexed if part_of(rel, parts) == part)
            for rel in mine:
                (pages / rel).parent.mkdir(parents=True, exist_ok=True)
                (pages / rel).write_bytes(indexed[rel])
            where = ["--site", str(pages), "--output-path", str(whole)]
            subprocess.run([sys.executable, "-m", "pagefind", *where, "--silent", "--keep-index-url"], check=True)
            ours = {p: d for p, d in _files(site / part_folder(part)).items() if not p.startswith("part-")}
            assert ours == _files(whole), part
            kept = sorted(p.relative_to(docs / str(part)).as_posix() for p in (docs / str(part)).rglob("*.html"))
            assert kept == mine
        assert sorted(p.name for p in docs.iterdir() if p.is_dir()) == [str(k) for k in range(parts)]
        return indexed

    first = build_and_compare()
    assert len(runs) == search.parts_for(list(first))
    gone = sorted(docs.rglob("*.html"))[0]
    gone.unlink()  # a document deleted by hand: made again, though its page did not change
    note = content / "concepts" / "Restraint.md"
    note.write_text(note.read_text("utf-8").replace("Choosing not", "Deciding not"), "utf-8")
    second = build_and_compare()
    assert gone.is_file()
    parts = search.parts_for(list(second))
    changed = {rel for rel in second if first.get(rel) != second[rel]}  # (a document made again changes no index)
    assert sorted(runs) == sorted({str(docs / str(part_of(rel, parts))) for rel in changed})
    assert len(runs) < parts
    restraint = "concept/restraint/index.html"
    assert b"Deciding not" in (docs / str(part_of(restraint, parts)) / restraint).read_bytes()
    with (site / "pagefind" / "pagefind-entry.json").open("ab") as f:  # changed in place, through the site
        f.write(b" ")
    build_and_compare()
    assert runs == [str(docs / "0")]  # the part is made again, and only it
    note.unlink()
    build_and_compare()
    assert not list(docs.rglob(restraint))


def test_serve_writes_again_the_turtle_and_json_ld_of_only_the_subjects_edits_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve``'s follow-up work copies every subject no edit since the files were last written
    reached from the last whole-graph Turtle and JSON-LD, in whichever copy of the process wrote
    them; a follow-up stopped by the next save leaves its subjects to the next one. The site
    equals a clean build's."""
    from sdwiki import export

    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    site = tmp_path / "site"
    given: list[set[object] | None] = []  # what each whole-graph write was told may have changed
    merged = export.write_merged

    def spy(out: Any, extra: Any, ttl: Any, jsonld: Any, last: export.LastFiles | None = None) -> export.Spans:
        given.append(set(last.changed) if last is not None else None)
        return merged(out, extra, ttl, jsonld, last)

    monkeypatch.setattr(export, "write_merged", spy)
    builder = SiteBuilder(search=False, in_place=True, pages_first=True)
    builder(content, site, Settings())
    note = content / "concepts" / "Spiral Model.md"
    spiral = "https://w3id.org/sdwiki/id/concept/spiral-model"
    glaser = "https://w3id.org/sdwiki/id/thinker/charles-glaser"

    def edit(old: str, new: str, stopped: bool = False) -> set[str] | None:
        note.write_text(note.read_text("utf-8").replace(old, new, 1), "utf-8")
        builder(content, site, Settings())
        given.clear()
        assert (builder.finish(lambda: stopped) is None) == stopped
        clean = tmp_path / f"clean-{len(old)}-{len(new)}"
        SiteBuilder(search=False)(content, clean, Settings())
        ours = {p: d for p, d in _files(site).items() if not p.startswith(".sdwiki")}
        if not stopped:
            assert ours == {p: d for p, d in _files(clean).items() if not p.startswith(".sdwiki")}
            listed = json.loads((site / ".sdwiki-manifest.json").read_text("utf-8"))  # digests taken as written
            assert {p: listed[p] for p in ours if p.startswith("data/graph.")} == {
                p: hashlib.sha256(d).hexdigest() for p, d in ours.items() if p.startswith("data/graph.")
            }
        changed = given[0] if given else None
        return {str(s) for s in changed} if changed is not None else None

    first = edit("each side's defensive steps", "each side's protective steps")
    assert first is not None and spiral in first and len(first) < 40  # the note's own subjects, of hundreds
    edit("States cannot observe", "States can never observe", stopped=True)  # a cause's text
    second = edit("each side's protective steps", "each side's guarding steps")
    assert second is not None and {spiral, glaser} <= second  # (the stopped work's left to this one)
    (cache_dir(site) / "whole-graph" / "written.pickle").unlink()  # nothing to copy from: all written
    assert edit("each side's guarding steps", "each side's shielding steps") is None


def test_a_page_memo_works_a_value_out_again_only_for_another_object() -> None:
    """What the site derives from one object of a build (the names, the pages) is taken again
    while a build has that same object; an equal but new object means working it out again."""
    from sdwiki.reuse import PageMemo

    memo, made = PageMemo(), []

    def make() -> int:
        made.append(1)
        return len(made)

    first, second = {"concept": 1}, {"concept": 1}
    assert memo.derive("pages", first, make) == 1
    assert memo.derive("pages", first, make) == 1 and len(made) == 1
    assert memo.derive("pages", second, make) == 2  # equal, not the same: it may have been edited
    assert memo.derive("names", second, make) == 3  # each value by its own name
    assert memo.derive("pages", second, make) == 2


def test_a_site_updated_in_place_keeps_removes_and_refuses_as_its_manifest_says(tmp_path: Path) -> None:
    """In place, a file kept unmade must be one the manifest lists (else the update stops, naming
    it); files under a kept prefix stay; any other listed file not in the new site goes; a file
    the manifest never listed is never touched."""
    from sdwiki import write

    site = tmp_path / "site"
    write.write_site(site, {"a.html": b"a", "b.html": b"b", "pagefind/x.js": b"x"})
    (site / "mine.txt").write_bytes(b"not sdwiki's")
    with pytest.raises(write.WriteError, match=r"site/c\.html: the previous file to keep is gone"):
        write.update_site(site, {"a.html": None, "c.html": None})
    report = write.update_site(site, {"a.html": None, "d.html": b"d"}, keep=("pagefind/",), record=False)
    assert report.changed == ("d.html", "b.html")
    assert report.manifest == {
        "a.html": write.digest_of(b"a"),
        "d.html": write.digest_of(b"d"),
        "pagefind/x.js": write.digest_of(b"x"),
    }
    assert not (site / write.MANIFEST).exists()  # not recorded: the caller keeps it
    assert sorted(p.name for p in site.rglob("*") if p.is_file()) == ["a.html", "d.html", "mine.txt", "x.js"]
    known = write.Written(report.manifest, (site / "d.html").stat().st_mtime_ns)
    again = write.update_site(site, {"a.html": b"A", "d.html": None}, previous=write.Previous(site, known=known))
    assert again.changed == ("a.html", "pagefind/x.js") and (site / "a.html").read_bytes() == b"A"
    assert not (site / "pagefind" / "x.js").exists() and (site / "mine.txt").exists()  # kept no longer
    assert json.loads((site / write.MANIFEST).read_bytes()) == again.manifest
    keys = {"a.html": "key-a", "gone.html": "key-g", "d.html": "key-d"}
    for trusted in (True, False):
        previous = write.Previous(site, keys, trusted=trusted)
        reuse, keep = previous.reuser(), previous.page_reuser()
        assert reuse("a.html", "key-a") and not reuse("a.html", "key-b")
        assert not reuse("gone.html", "key-g")  # not in the manifest: nothing to keep
        assert keep("a.html", "key-a", ("d.html", "d.html"), "key-d")
        assert not keep("a.html", "key-a", ("d.html", "gone.html"), "key-d")
        assert not keep("a.html", "key-a", ("d.html", "d.html"), "key-a")
        assert not keep("gone.html", "key-g", ("d.html", "d.html"), "key-d")
    listed = {"a.html": "key-a", "d.html": "key-d"}  # kept with the manifest: every one listed
    keep = write.Previous(site, listed, trusted=True, known=known).page_reuser()
    assert keep("a.html", "key-a", ("d.html", "d.html"), "key-d")
    assert not keep("a.html", "key-a", ("d.html", "d.html"), "key-a")
    assert not keep("a.html", "key-b", ("d.html", "d.html"), "key-d")
    (site / "a.html").write_bytes(b"changed by hand")
    os.utime(site / "a.html", ns=(time.time_ns() + 10**9,) * 2)
    assert write.Previous(site, keys, trusted=True).reuser()("a.html", "key-a")  # private: taken as written
    assert not write.Previous(site, keys).reuser()("a.html", "key-a")  # else looked at


def test_serve_makes_again_the_pages_of_notes_embedding_a_saved_one_as_embeds_come_and_go(tmp_path: Path) -> None:
    """A page showing another note's text (``![[...]]``) is made again when that note is saved,
    though its own note did not change; which notes embed is followed from save to save (a note
    that stops embedding is carried over again, one that starts is not). Each time the site is a
    clean build's."""
    content, site = _vault(tmp_path)
    builder = SiteBuilder(search=False, in_place=True)
    restraint, spiral = content / "concepts" / "Restraint.md", content / "concepts" / "Spiral.md"
    naval = content / "Naval Race.md"

    def save(note: Path, old: str, new: str) -> None:
        text = note.read_text("utf-8")
        assert old in text, old
        note.write_text(text.replace(old, new, 1), "utf-8")

    def build_and_compare(k: int) -> dict[str, str]:
        builder(content, site, Settings())
        clean = tmp_path / f"clean-{k}"
        SiteBuilder(search=False)(content, clean, Settings())
        ours = {p: d for p, d in _files(site).items() if not p.startswith(".sdwiki")}
        assert ours == {p: d for p, d in _files(clean).items() if not p.startswith(".sdwiki")}, k
        return {p: d.decode("utf-8") for p, d in ours.items() if p.endswith("index.html")}

    # the embedded section's prose is on no page but the ones showing it (no lookup reaches it)
    save(spiral, "## Key Thinkers", "Shown here: ![[Restraint#How]]\n\n## Key Thinkers")
    build_and_compare(0)
    save(restraint, "By waiting", "By pausing")  # only the embedded note changes
    assert "By pausing" in build_and_compare(1)["concept/spiral/index.html"]
    save(spiral, "Shown here: ![[Restraint#How]]", "Not shown: [[Restraint#How]]")  # the embed goes
    build_and_compare(2)
    save(restraint, "By pausing", "By holding")
    build_and_compare(3)
    save(naval, "\n## ", "\nAlso: ![[Restraint#How]]\n\n## ")  # another note starts embedding
    build_and_compare(4)
    save(restraint, "By holding", "By resting")
    pages = build_and_compare(5)
    assert [p for p, text in pages.items() if "By resting" in text and p != "concept/restraint/index.html"]
