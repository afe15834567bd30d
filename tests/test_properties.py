"""Property tests: the reader never raises, and every generated link is found exactly."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdwiki.notes import parse_note, read_note
from sdwiki.resolve import build_corpus
from sdwiki.types import RelPath


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_never_raises_on_text(text: str) -> None:
    note = parse_note(RelPath("x.md"), text)
    assert note.title
    for d in note.diagnostics:
        assert d.file == "x.md" and d.code


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_read_never_raises_on_bytes(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "x.md").write_bytes(data)
    note = read_note(tmp_path, RelPath("x.md"))
    assert note.path == "x.md"


MARKDOWNISH = st.text(alphabet=st.sampled_from(list("ab #*_-|>`\n[]!^:")), max_size=60)
NAME = (
    st.text(
        alphabet=st.characters(
            blacklist_characters="[]|#^\\\n\r`*_!<>&",
            blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
        ),
        min_size=1,
        max_size=20,
    )
    .map(str.strip)
    .filter(bool)
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            NAME,
            st.one_of(st.none(), NAME, NAME.map(lambda s: "^" + "".join(c for c in s if c.isalnum()) + "x")),
            st.one_of(st.none(), NAME),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    ),
    st.lists(MARKDOWNISH, min_size=7, max_size=7),
)
def test_every_generated_link_is_found(
    links: list[tuple[str, str | None, str | None, bool]], fillers: list[str]
) -> None:
    parts = []
    for i, (target, anchor, shown, embed) in enumerate(links):
        raw = ("!" if embed else "") + "[[" + target
        raw += f"#{anchor}" if anchor else ""
        raw += f"|{shown}" if shown else ""
        raw += "]]"
        # separate links by paragraphs of noise that cannot open code spans or links
        filler = "".join(c for c in fillers[i] if c not in "`[]!\\")
        parts.append(f"{filler}\n\nText {raw} end.\n\n")
    note = parse_note(RelPath("gen.md"), "".join(parts))
    got = [(link.target, link.anchor, link.shown, link.embed) for link in note.links]
    want = [
        (" ".join(t.split()) and t.strip(), a.strip() if a else None, s.strip() if s else None, e)
        for t, a, s, e in links
    ]
    assert got == want


@settings(max_examples=60, deadline=None)
@given(st.lists(NAME, min_size=1, max_size=15, unique_by=lambda s: " ".join(s.casefold().split())))
def test_every_title_resolves_case_insensitively(titles: list[str]) -> None:
    notes = [parse_note(RelPath(f"n{i}.md"), f"# {t}\n") for i, t in enumerate(titles)]
    corpus = build_corpus(notes)
    for i, note in enumerate(notes):
        found = corpus.resolve_name(note.title.upper()) or corpus.resolve_name(note.title)
        assert found is not None
        # a title may also be another note's file name, which resolves first (as in Obsidian)
        stem = found.path.rsplit("/", 1)[-1].removesuffix(".md")
        assert note.title.casefold() in (found.title.casefold(), stem.casefold()) or found.path == f"n{i}.md"
