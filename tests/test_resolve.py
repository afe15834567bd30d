"""Resolution across a vault of hundreds of links of every form, with a known broken list."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sdwiki.pipeline import load_project


def write_vault(root: Path, n: int = 60, seed: int = 7) -> set[tuple[str, int, str]]:
    """A vault whose every link is known; returns the expected (file, line, code) problems."""
    rnd = random.Random(seed)
    titles = [f"Topic {i:03d}" for i in range(n)]
    folders = ["concepts", "people", "cases/older", "cases/newer"]
    paths = {t: f"{folders[i % len(folders)]}/{t}.md" for i, t in enumerate(titles)}
    (root / "assets").mkdir(parents=True)
    (root / "assets" / "diagram.png").write_bytes(b"\x89PNG\r\n")
    expected: set[tuple[str, int, str]] = set()
    for i, title in enumerate(titles):
        lines = [
            "---",
            f"aliases: [Alias {i:03d}, T{i}]",
            "---",
            f"# {title}",
            "",
            "## Part One",
            "Text ^blk" + str(i),
            "",
        ]
        for _ in range(8):
            j = rnd.randrange(n)
            other, other_path = titles[j], paths[titles[j]][:-3]
            form = rnd.randrange(12)
            line_no = len(lines) + 1
            broken: str | None = None
            if form == 0:
                link = f"[[{other}]]"
            elif form == 1:
                link = f"[[{other.upper()}|shown]]"
            elif form == 2:
                link = f"[[{other}#Part One]]"
            elif form == 3:
                link = f"[[{other}#^blk{j}]]"
            elif form == 4:
                link = f"[[{other_path}]]"
            elif form == 5:
                link = f"[[Alias {j:03d}]]"
            elif form == 6:
                link = f"![[{other}#part one]]" if j > i else f"[[{other}#part one]]"
            elif form == 7:
                link = "![[diagram.png]]" if rnd.random() < 0.5 else "[[assets/diagram.png]]"
            elif form == 8:
                link, broken = f"[[Missing {rnd.randrange(999)}]]", "broken-link"
            elif form == 9:
                link, broken = f"[[{other}#No Such Part]]", "broken-anchor"
            elif form == 10:
                link, broken = f"[[{other}#^nope{j}]]", "broken-anchor"
            else:
                link = "[[#Part One]]"
            lines.append(f"- item {link} and `[[Not {j}]]` in code")
            if broken:
                expected.add((paths[title], line_no, broken))
        lines += ["", "```", "[[Also Not A Link]]", "```", ""]
        path = root / paths[title]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), "utf-8")
    return expected


def test_known_broken_links_exactly(tmp_path: Path) -> None:
    expected = write_vault(tmp_path)
    project = load_project(tmp_path)
    got = {
        (d.file, d.line, d.code)
        for d in project.diagnostics
        if d.code in ("broken-link", "broken-anchor", "embed-cycle")
    }
    assert got == expected
    total = sum(len(n.links) for n in project.corpus.notes.values())
    assert total == 60 * 8
    # every working link resolved to a note or the attachment
    for resolved in project.corpus.resolved.values():
        for r in resolved:
            if r.kind == "attachment":
                assert r.target == "assets/diagram.png"
            if r.kind == "note" and r.link.target.startswith("Alias "):
                num = int(r.link.target.split()[1])
                assert project.corpus.notes[r.target].title == f"Topic {num:03d}"  # type: ignore[index]


def test_resolution_priority_and_backlinks(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "Note.md").write_text("# Note A\n[[b/Note]] [[Other Title]]\n", "utf-8")
    (tmp_path / "b" / "Note.md").write_text("# Note B\n[[Note]]\n", "utf-8")
    (tmp_path / "c.md").write_text("---\ntitle: Other Title\naliases: [Note B]\n---\n", "utf-8")
    project = load_project(tmp_path)
    res = {p: [r.target for r in rs] for p, rs in project.corpus.resolved.items()}
    assert res["a/Note.md"] == ["b/Note.md", "c.md"]
    # a bare name goes to the first file of that name (path order), as Obsidian's shortest path
    assert res["b/Note.md"] == ["a/Note.md"]
    assert project.corpus.backlinks["a/Note.md"] == ("b/Note.md",)
    assert project.corpus.resolve_name("note b") is not None
    assert project.corpus.resolve_name("NOTE B").path == "b/Note.md"  # type: ignore[union-attr]


def test_a_kept_registry_is_the_registry_of_the_notes_as_they_are() -> None:
    """``serve`` keeps the naming while no note names things differently: after each edit the
    kept registry equals one made afresh, and an edit to prose gets the same object back."""
    from sdwiki.notes import discover, parse_note, read_note
    from sdwiki.ontology import load as load_ontology
    from sdwiki.registry import RegistryMemo, build_registry
    from sdwiki.resolve import build_corpus

    content = Path(__file__).parent.parent / "content"
    paths, attachments, _ = discover(content)
    notes = {p: read_note(content, p) for p in paths}
    texts = {p: (content / p).read_text("utf-8") for p in paths}
    onto, memo = load_ontology(), RegistryMemo()
    jervis = next(p for p in paths if p.endswith("Robert Jervis.md"))
    dilemma = next(p for p in paths if p.endswith("Security Dilemma.md"))

    def edit(path: str, old: str, new: str) -> None:
        assert old in texts[path], old
        texts[path] = texts[path].replace(old, new, 1)
        notes[path] = parse_note(notes[path].path, texts[path])

    def registry() -> object:
        corpus = build_corpus(notes.values(), attachments)
        kept = build_registry(corpus, onto, memo=memo)
        assert kept == build_registry(corpus, onto)
        return kept

    first = registry()
    edit(dilemma, "## Definition\n", "## Definition\nA sentence more.\n")  # prose
    assert registry() is first
    edit(jervis, "# Robert Jervis", "# Bob Jervis")  # a title: the thinker's name and address
    renamed = registry()
    assert renamed is not first and renamed != first
    edit(jervis, "## ", "## Aside\nProse only.\n\n## ")  # prose in the renamed note: the same names
    assert registry() is renamed
    edit(dilemma, "## Key Thinkers\n", "## Key Thinkers\n- Ada Newname (author, 2001)\n")  # a listed thinker
    listed = registry()
    assert listed != renamed
    edit(jervis, "type: thinker", "type: concept")  # a type
    assert registry() != listed


def test_a_corpus_knows_which_notes_changed_since_the_one_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """A save compares every note with the last build's once, in :func:`build_corpus`; what
    comes after (the registry, the graphs) asks the corpus instead of comparing them again."""
    from sdwiki import records, resolve
    from sdwiki.notes import discover, parse_note, read_note
    from sdwiki.resolve import Linking, build_corpus

    content = Path(__file__).parent.parent / "content"
    paths, attachments, _ = discover(content)
    notes = {p: read_note(content, p) for p in paths}
    memo = Linking()
    first = build_corpus(notes.values(), attachments, memo)
    dilemma = next(p for p in paths if p.endswith("Security Dilemma.md"))
    notes[dilemma] = parse_note(dilemma, (content / dilemma).read_text("utf-8") + "\nA sentence more.\n")
    second = build_corpus(notes.values(), attachments, memo)
    assert second.replaced_since(first.notes) == records.replaced(first.notes, second.notes) == [dilemma]

    def compared(*args: object) -> object:
        raise AssertionError("every note compared again")

    monkeypatch.setattr(resolve, "replaced", compared)
    assert second.replaced_since(first.notes) == [dilemma]  # known
    monkeypatch.undo()
    assert second.replaced_since(notes) == []  # another mapping: compared (the same notes)
