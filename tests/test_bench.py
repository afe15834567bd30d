"""The benchmark machinery at a small size: it runs, its vault is valid, and builds are byte-identical.

Speed is judged by ``python -m bench`` (see BENCHMARKS.md), never here: nothing below asserts a time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.generate import generate
from bench.run import Options, SizeResult, judge, measure_size, report, write_json
from sdwiki.cli import main

NOTES = 200


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generator_is_deterministic(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", NOTES, seed=7)
    b = generate(tmp_path / "b", NOTES, seed=7)
    files = _files(tmp_path / "a")
    assert files == _files(tmp_path / "b")
    assert a.concepts == b.concepts and a.thinkers == b.thinkers
    assert len(list((tmp_path / "a" / "content").rglob("*.md"))) == NOTES
    assert len(list((tmp_path / "a" / "hugo" / "content" / "notes").glob("*.md"))) == NOTES
    assert (tmp_path / "a" / "hugo" / "layouts" / "_default" / "single.html").is_file()
    generate(tmp_path / "c", NOTES, seed=8)
    assert _files(tmp_path / "c") != files


def test_generated_notes_have_5_to_8_links_that_resolve(tmp_path: Path) -> None:
    from sdwiki.pipeline import load_project

    vault = generate(tmp_path, NOTES, seed=1)
    project = load_project(vault.content)
    assert len(project.corpus.notes) == NOTES
    for note in project.corpus.notes.values():
        targets = {link.target for link in note.links}
        assert 5 <= len(note.links) <= 8, note.path
        assert len(targets) == len(note.links), note.path


def test_generated_vault_is_clean_under_strict_check(tmp_path: Path) -> None:
    vault = generate(tmp_path, NOTES, seed=1)
    result = CliRunner().invoke(main, ["check", str(vault.content), "--strict", "--format", "json"])
    assert json.loads(result.output) == []
    assert result.exit_code == 0


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> SizeResult:
    """One quick benchmark run at 200 notes (one repetition, no serve)."""
    workdir = tmp_path_factory.mktemp("bench")
    return measure_size(NOTES, Options(sizes=(NOTES,), quick=True, workdir=workdir))


def test_benchmark_measures_builds_and_sparql(quick_run: SizeResult) -> None:
    m = quick_run.metrics
    for name in ("cold_build_s", "nochange_rebuild_s", "edit_rebuild_s", "build_peak_mb"):
        assert isinstance(m[name], float) and m[name] > 0, (name, quick_run.na.get(name))
    assert isinstance(m["site_files"], int) and m["site_files"] > NOTES
    for engine in ("raw", "oxigraph", "rdflib"):
        assert isinstance(m[f"sparql_{engine}_p50_ms"], float), quick_run.na
    assert "sparql_oxigraph_p50_ms" not in quick_run.na  # same row counts as raw pyoxigraph
    assert quick_run.na["watch_disk_ms"] == "skipped (--quick)"


def test_no_change_rebuild_is_byte_identical_to_the_cold_build(quick_run: SizeResult) -> None:
    assert quick_run.metrics["nochange_identical"] is True, quick_run.na.get("nochange_identical")


def test_undoing_an_edit_gives_back_the_cold_build_byte_for_byte(quick_run: SizeResult) -> None:
    assert quick_run.metrics["revert_identical"] is True, quick_run.na.get("revert_identical")


def test_cold_build_and_no_op_rebuild_agree_on_every_file(tmp_path: Path) -> None:
    from sdwiki.build import build_site
    from sdwiki.settings import Settings

    vault = generate(tmp_path / "vault", 60, seed=3)
    site = tmp_path / "site"
    build_site(vault.content, site, Settings())
    cold = _files(site)
    build_site(vault.content, site, Settings())
    assert _files(site) == cold


def test_report_and_json(quick_run: SizeResult, tmp_path: Path) -> None:
    results: dict[str, object] = {
        "machine": {},
        "options": {},
        "sizes": {str(NOTES): {"metrics": quick_run.metrics, "na": quick_run.na, "targets": judge(quick_run)}},
    }
    text = report(results)
    assert "sdwiki cold build" in text and "cold build ≤ 1.0 × Hugo" in text
    assert "skipped (--quick)" in text
    write_json(results, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text("utf-8"))["sizes"][str(NOTES)]["metrics"]
