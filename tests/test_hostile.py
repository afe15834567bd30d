"""Hostile input never breaks a build, never loses work, and is reported with its file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from sdwiki.cli import main
from sdwiki.pipeline import load_project
from tests.conftest import snapshot

GOOD = "---\ntype: concept\n---\n# Good Note\n\n## Definition\nFine.\n"


def make_hostile(vault: Path, outside: Path) -> dict[str, str]:
    """Write the hostile files; return {file: expected diagnostic code}."""
    (vault / "good.md").write_text(GOOD, "utf-8")
    files = {
        "binary.md": b"\x00\x01\x02PNG\x00data",
        "latin1.md": "# Caf\xe9\n".encode("latin-1"),
        "empty.md": b"",
        "unclosed.md": b"---\ntitle: x\n# never closed\n",
        "pyobject.md": b"---\nx: !!python/object/apply:os.system ['touch /tmp/sdwiki-pwned']\n---\n",
        "nested.md": b"---\nx: " + b"[" * 5000 + b"]" * 5000 + b"\n---\n",
        "bomb.md": (
            b"---\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
            b"e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n---\n"
        ),
        "notmap.md": b"---\njust a string\n---\n",
        "tags-no.md": b"---\ntags: no\n---\n# Tags No\n",
        "aliases-map.md": b"---\naliases: {a: b}\n---\n",
        "badtype.md": b"---\ntype: spaceship\n---\n# Odd Type\n",
        "cycle-a.md": b"# Cycle A\n![[Cycle B]]\n",
        "cycle-b.md": b"# Cycle B\n![[Cycle A]]\n",
        "self-embed.md": b"# Self Embed\n![[Self Embed]]\n",
        "broken.md": b"# Broken\nSee [[Nowhere At All]] and [[Good Note#No Such Heading]].\n",
        "dup1.md": b"# Same Title\n",
        "sub/dup2.md": b"# Same Title\n",
        'weird "name" <b>.md': b'---\ntitle: "<script>alert(1)</script> ../../etc/passwd"\n---\n',
        "dots.md": b"# ../../escape\n",
    }
    expected = {
        "binary.md": "unreadable-file",
        "latin1.md": "unreadable-file",
        "empty.md": "empty-note",
        "unclosed.md": "unclosed-frontmatter",
        "pyobject.md": "bad-frontmatter",
        "nested.md": "bad-frontmatter",
        "bomb.md": "bad-frontmatter",
        "notmap.md": "bad-frontmatter",
        "tags-no.md": "bad-frontmatter",
        "aliases-map.md": "bad-frontmatter",
        "badtype.md": "unknown-type",
        "cycle-a.md": "embed-cycle",
        "cycle-b.md": "embed-cycle",
        "self-embed.md": "embed-cycle",
        "broken.md": "broken-link",
        "sub/dup2.md": "duplicate-title",
        "link-out.md": "symlink-outside",
        "dir-link": "symlink-outside",
    }
    for name, data in files.items():
        path = vault / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (outside / "secret.md").write_text("# Secret\n", "utf-8")
    os.symlink(outside / "secret.md", vault / "link-out.md")
    os.symlink(outside, vault / "dir-link")
    return expected


def test_hostile_notes_are_reported_and_the_rest_builds(vault: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    expected = make_hostile(vault, outside)
    before = snapshot(vault)
    result = CliRunner().invoke(main, ["check", str(vault), "--format", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    diags = json.loads(result.stdout)
    found = {(d["file"], d["code"]) for d in diags}
    for file, code in expected.items():
        assert (file, code) in found, (file, code, sorted(found))
    for d in diags:
        assert set(d) == {"file", "line", "column", "severity", "code", "message"}
        assert d["message"]
    assert ("broken.md", "broken-anchor") in found
    assert result.exit_code == 1  # errors were found
    assert not Path("/tmp/sdwiki-pwned").exists()
    assert snapshot(vault) == before  # nothing under the content folder was written

    project = load_project(vault)
    assert "secret.md" not in " ".join(project.corpus.notes)
    good = project.note_graphs["good.md"]
    assert any(str(o) == "Fine." for _, _, o in good.triples)
    # every readable note still produced its graph, however odd its title
    assert 'weird "name" <b>.md' in project.note_graphs
    for ng in project.note_graphs.values():
        for s, _, _ in ng.triples:
            assert " " not in s and "<" not in s and ".." not in s


def test_missing_content_folder_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "content folder not found" in result.output
