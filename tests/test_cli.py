"""The command line: every command exists with --help; check, new and query behave as documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sdwiki.cli import main
from tests.conftest import SEED_NOTE

COMMANDS = ["build", "serve", "query", "check", "new", "export", "stats", "path", "publish"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage: main" in result.output or "Usage: sdwiki" in result.output or "Usage:" in result.output


def test_check_text_format_and_strict(vault: Path) -> None:
    (vault / "a.md").write_text("# A\n\n## Definition\nx [[Nope]]\n", "utf-8")
    runner = CliRunner()
    plain = runner.invoke(main, ["check", str(vault)])
    assert plain.exit_code == 0  # only warnings
    assert "a.md:4:3: warning broken-link: no note named 'Nope'" in plain.stdout
    strict = runner.invoke(main, ["check", str(vault), "--strict"])
    assert strict.exit_code == 1
    as_json = json.loads(runner.invoke(main, ["check", str(vault), "--format", "json"]).stdout)
    assert as_json[0] == {
        "file": "a.md",
        "line": 4,
        "column": 3,
        "severity": "warning",
        "code": "broken-link",
        "message": "no note named 'Nope'",
    }


def test_clean_vault_passes_strict(vault: Path) -> None:
    (vault / "a.md").write_text("---\ntype: concept\n---\n# A\n\n## Definition\nSee [[B]].\n", "utf-8")
    (vault / "b.md").write_text("---\ntype: concept\n---\n# B\n\n## Definition\nSee [[A]].\n", "utf-8")
    result = CliRunner().invoke(main, ["check", str(vault), "--strict"])
    assert result.stdout == ""
    assert result.exit_code == 0


def test_new_writes_a_note_and_refuses_to_overwrite(vault: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["new", "concept", "Spiral Model", "--content", str(vault)])
    assert result.exit_code == 0, result.output
    path = vault / "concepts" / "Spiral Model.md"
    text = path.read_text("utf-8")
    assert text.startswith("---\ntype: concept\n")
    for heading in ("## Definition", "## Key Thinkers", "## Core Mechanism", "## Further Reading"):
        assert heading in text
    path.write_text(text + "\nmy own words\n", "utf-8")
    again = runner.invoke(main, ["new", "concept", "spiral model", "--content", str(vault)])
    assert again.exit_code == 2
    assert "already exists" in again.output
    assert path.read_text("utf-8").endswith("my own words\n")
    bad = runner.invoke(main, ["new", "thinker", "../escape", "--content", str(vault)])
    assert bad.exit_code == 2
    assert not (vault.parent / "escape.md").exists()


def test_new_note_is_understood_by_check(vault: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["new", "thinker", "John Herz", "--content", str(vault)])
    result = runner.invoke(main, ["check", str(vault), "--format", "json"])
    codes = {d["code"] for d in json.loads(result.stdout)}
    assert "unknown-section" not in codes


def test_query_inline_file_and_stdin(vault: Path, tmp_path: Path) -> None:
    (vault / "Security Dilemma.md").write_text(SEED_NOTE.read_text("utf-8"), "utf-8")
    q = "SELECT ?name WHERE { ?c sd:coinedBy ?t . ?t rdfs:label ?name }"
    runner = CliRunner()
    inline = runner.invoke(main, ["query", q, "--content", str(vault), "--format", "csv"])
    assert inline.exit_code == 0, inline.output
    assert inline.stdout.splitlines() == ["name", "John Herz"]
    rq = tmp_path / "q.rq"
    rq.write_text(q, "utf-8")
    from_file = runner.invoke(main, ["query", str(rq), "--content", str(vault), "--format", "tsv"])
    assert from_file.stdout == '?name\n"John Herz"\n'
    stdin = runner.invoke(main, ["query", "-", "--content", str(vault), "--format", "json"], input=q)
    assert json.loads(stdin.stdout)["results"]["bindings"][0]["name"]["value"] == "John Herz"


def test_query_syntax_error_has_position_and_exit_2(vault: Path) -> None:
    (vault / "a.md").write_text("# A\n", "utf-8")
    result = CliRunner().invoke(main, ["query", "SELECT * WHERE {\n  ?s ?p }", "--content", str(vault)])
    assert result.exit_code == 2
    assert "<query>:2:" in result.output


def test_check_reports_bad_saved_queries(vault: Path) -> None:
    (vault / "a.md").write_text("# A\n\n## Definition\nx\n", "utf-8")
    (vault / "queries").mkdir()
    (vault / "queries" / "bad.rq").write_text("# title: Bad\nSELECT * WHERE {\n  ?s ?p }\n", "utf-8")
    (vault / "queries" / "remote.rq").write_text("SELECT * WHERE { SERVICE <http://x/> { ?s ?p ?o } }\n", "utf-8")
    (vault / "queries" / "good.rq").write_text("# title: Good\nSELECT ?s WHERE { ?s a sd:Concept }\n", "utf-8")
    result = CliRunner().invoke(main, ["check", str(vault), "--format", "json"])
    bad = {(d["file"], d["code"]) for d in json.loads(result.stdout) if d["code"] == "bad-query"}
    assert bad == {("queries/bad.rq", "bad-query"), ("queries/remote.rq", "bad-query")}
    assert result.exit_code == 1


def _build_on_a_terminal(tmp_path: Path, env: dict[str, str]) -> str:
    """Run ``sdwiki build`` with its error stream on a pseudo-terminal; what the terminal showed."""
    import os
    import pty
    import shutil
    import subprocess
    import sys

    content = tmp_path / "content"
    shutil.copytree(Path(__file__).parent / "data" / "site-vault", content, dirs_exist_ok=True)
    leader, follower = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-m", "sdwiki", "build", str(content), "-o", str(tmp_path / "site")],
        stderr=follower,
        stdout=subprocess.DEVNULL,
        env={k: v for k, v in {**os.environ, **env}.items() if v},
        check=False,
        timeout=300,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.returncode == 0
    return shown.decode("utf-8", "replace")


def test_a_build_on_a_terminal_shows_its_progress(tmp_path: Path) -> None:
    shown = _build_on_a_terminal(tmp_path, {"CI": ""})
    assert "\x1b[K" in shown and "pages: entities…" in shown and "built " in shown


def test_a_build_in_ci_prints_only_its_report(tmp_path: Path) -> None:
    shown = _build_on_a_terminal(tmp_path, {"CI": "true"})
    assert "\x1b[K" not in shown and "…" not in shown and "built " in shown
