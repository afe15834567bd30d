"""Property tests: the reader never raises, and every generated link is found exactly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.term import Node

from sdwiki.export import LastFiles, Spans, write_merged
from sdwiki.extract import NoteGraph
from sdwiki.facts import PROPERTIES, Change, Facts, LiveIndex, Read, index, presence
from sdwiki.notes import Note, parse_note, read_note, tokens_of
from sdwiki.records import replaced
from sdwiki.render import fill, render_tokens, split_sections
from sdwiki.resolve import Corpus, Linking, build_corpus
from sdwiki.reuse import changed_reads, essential, graph_reads
from sdwiki.terms import RDF
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
@example(links=[("0", None, None, False)] * 3, fillers=["---", "", "---", "", "", "", ""])
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
    # a line of text first: a note opening with a "---" filler would have frontmatter
    note = parse_note(RelPath("gen.md"), "Links.\n\n" + "".join(parts))
    got = [(link.target, link.anchor, link.shown, link.embed) for link in note.links]
    want = [
        (" ".join(t.split()) and t.strip(), a.strip() if a else None, s.strip() if s else None, e)
        for t, a, s, e in links
    ]
    assert got == want


class _Links:
    """A linker over a few notes: the renderer's answers depend on the target, as the site's do."""

    def __init__(self, notes: Mapping[str, str]) -> None:
        self.notes = {f"{name}.md": parse_note(RelPath(f"{name}.md"), text) for name, text in notes.items()}

    def note(self, target: str, source: RelPath) -> tuple[RelPath, str] | None:
        path = RelPath(f"{target.casefold()}.md")
        return (path, f"../{target.casefold()}/") if path in self.notes else None

    def attachment(self, target: str) -> str | None:
        return f"../files/{target}" if target.endswith(".png") else None

    def tag(self, name: str) -> str:
        return f"../tag/{name.lower()}/"

    def note_by_path(self, path: RelPath) -> Note:
        return self.notes[path]


_PIECES = st.sampled_from(
    [
        "[[a]]",
        "[[b|B]]",
        "![[a]]",
        "![[b#Head]]",
        "[[#Head]]",
        "[[missing]]",
        "![[x.png]]",
        "#tag",
        "#t/x",
        "*em*",
        "`[[code]]`",
        "^blk",
        "[md](u)",
        "![i](p.png)",
        "[^1]",
        "\n\n[^1]: note [[a]]",
        "\n## Head\n",
        "\n# T\n",
        "\n### Sub [[a]]\n",
        "\n- item [[b]]\n",
        "\n| h | [[a]] |\n|---|---|\n| #tag | x |\n",
        " ",
        "\n",
        "\n\n",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_PIECES, MARKDOWNISH), max_size=25))
def test_prerendered_text_filled_in_equals_rendering_the_tokens(pieces: list[str]) -> None:
    """Pages fill the links into text rendered when the note was parsed (and cached with it):
    the result must be what rendering the tokens with the links known gives."""
    text = "".join(pieces)
    linker = _Links({"a": "# A\n\nEmbedded [[b]] #tag.\n", "b": "# B\n## Head\nPart ![[b]] #x\n"})
    note = parse_note(RelPath("n.md"), text)
    assert note.text is not None
    preamble, sections = split_sections(tokens_of(note))
    want = ([render_tokens(preamble, linker, note.path)] if preamble else []) + [
        render_tokens(toks[3:], linker, note.path) for _, toks in sections
    ]
    got = ([note.text.preamble] if note.text.preamble is not None else []) + [h for _, h in note.text.sections]
    assert [fill(html, note.text.marks, linker, note.path) for html in got] == want
    assert [h for h, _ in note.text.sections] == [h for h, _ in sections]


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


_FILES = ["a.md", "b.md", "sub/c.md", "sub/a.md"]
_LINK = st.tuples(
    st.booleans(),  # an embed
    st.sampled_from(["a", "b", "c", "sub/a", "Alpha", "Beta", "Gamma", "nowhere", ""]),
    st.sampled_from(["", "#One", "#Two", "#^blk", "#^other"]),
)
_NOTE = st.tuples(
    st.sampled_from(["Alpha", "Beta", "Gamma", "Alpha"]),  # titles, sometimes the same
    st.lists(st.sampled_from(["One", "Two", "Three"]), max_size=2),  # headings
    st.booleans(),  # a block id
    st.lists(_LINK, max_size=4),
    # frontmatter: names, or only lines (a title on another line, named the same)
    st.sampled_from(
        ["", "aliases: [Gamma]\n", "aliases: [Beta, Delta]\n", "tags: [x]\n", "tags: [x]\nstatus: draft\n"]
    ),
)
_VAULT = st.dictionaries(st.sampled_from(_FILES), _NOTE, min_size=1, max_size=4)


def _note_text(title: str, headings: list[str], block: bool, links: list[tuple[bool, str, str]], meta: str) -> str:
    body = " ".join(
        f"{'!' if embed else ''}[[{target}{anchor}]]" for embed, target, anchor in links if target or anchor
    )
    parts = [f"---\n{meta}---\n" if meta else "", f"# {title}\n\n{body}\n"]
    parts += [f"\n## {h}\nText{' ^blk' if block else ''}.\n" for h in headings]
    return "".join(parts)


@settings(max_examples=200, deadline=None)
@given(_VAULT, st.lists(st.tuples(st.sampled_from(_FILES), st.one_of(st.none(), _NOTE)), min_size=1, max_size=6))
@example(  # a heading another note links to goes: that note's link breaks, though it did not change
    {"a.md": ("Alpha", ["One"], False, [], ""), "b.md": ("Beta", [], False, [(False, "Alpha", "#One")], "")},
    [("a.md", ("Alpha", ["Two"], False, [], ""))],
)
def test_links_resolved_again_only_where_an_edit_reaches_equal_resolving_all(
    vault: dict[str, tuple[str, list[str], bool, list[tuple[bool, str, str]], str]],
    edits: list[tuple[str, tuple[str, list[str], bool, list[tuple[bool, str, str]], str] | None]],
) -> None:
    """Save after save (each note written, rewritten or deleted), a corpus that keeps what it
    resolved (``serve``) has the index, the resolved links, the backlinks and the problems of a
    corpus resolved from scratch, whatever the notes renamed, re-titled, linked or re-headed."""
    memo = Linking()
    notes = {path: parse_note(RelPath(path), _note_text(*spec)) for path, spec in vault.items()}
    last: Corpus | None = None
    for path, spec in [(None, None), *edits]:
        if path is not None:  # the other notes keep their objects, as the builder's memo does
            if spec is None:
                notes.pop(path, None)
            else:
                notes[path] = parse_note(RelPath(path), _note_text(*spec))
        got, want = build_corpus(notes.values(), memo=memo), build_corpus(notes.values())
        assert got.index == want.index
        assert got.resolved == want.resolved
        assert got.backlinks == want.backlinks
        assert got.diagnostics == want.diagnostics
        if last is not None:  # the notes whose links are other objects, found without a look at all
            assert got.links_replaced_since(last.resolved) == replaced(last.resolved, got.resolved)
        last = got


_NODES = [URIRef(f"http://x/n{i}") for i in range(6)]
_PROPS = [RDF.type, URIRef("http://x/p"), URIRef("http://x/q")]
_TRIPLE = st.tuples(
    st.sampled_from(_NODES),
    st.sampled_from(_PROPS),
    st.one_of(st.sampled_from(_NODES), st.sampled_from([Literal("a"), Literal("b")])),
)
_GRAPHS = st.dictionaries(st.sampled_from(["a.md", "b.md", "c.md", "d.md"]), st.lists(_TRIPLE, max_size=8), max_size=4)


@settings(max_examples=200, deadline=None)
@given(st.lists(_GRAPHS, min_size=1, max_size=5), st.lists(st.booleans(), min_size=5, max_size=5))
def test_the_live_index_equals_the_index_made_afresh(
    versions: list[dict[str, list[tuple[URIRef, URIRef, Node]]]], keep: list[bool]
) -> None:
    """Build after build, the index updated where graphs changed lists every resource's facts
    in the order a fresh index lists them (graphs in path order, triples in graph order). It is
    updated in place, keeping what it replaced: the lookups whose answers changed are found from
    the last build's index object as they would be from a copy of that index."""
    live, told = LiveIndex(), LiveIndex()  # the second is told where graphs may differ, as a build tells it
    graphs: dict[RelPath, NoteGraph] = {}
    last: tuple[Facts, Facts] | None = None  # the live index's answer last time, and a fresh index then
    for version, same in zip(versions, keep, strict=False):
        now: dict[RelPath, NoteGraph] = {}
        for path, triples in version.items():
            old = graphs.get(RelPath(path))
            # an unchanged note keeps its graph object, as the builder's memo does
            kept = old is not None and same and list(old.triples) == triples
            now[RelPath(path)] = old if kept and old is not None else _graph(path, triples)
        since = None
        if now.keys() == graphs.keys():  # the paths whose graph is another object, and one that is not
            other = {p for p in now if now[p] is not graphs[p]}
            since = (graphs, frozenset({*other, *sorted(now.keys() - other)[:1]}))
        graphs = now
        got = live.update(graphs)
        want = index(graphs[p] for p in sorted(graphs))
        assert _ordered(got.out) == _ordered(want.out)
        assert _ordered(got.into) == _ordered(want.into)
        hinted = told.update(graphs, since=since)
        assert _ordered(hinted.out) == _ordered(want.out) and _ordered(hinted.into) == _ordered(want.into)
        assert (told.change is None) == (live.change is None)
        assert told.change is None or live.change is None or told.change.paths == live.change.paths
        if last is not None and live.change is not None:
            assert changed_reads(last[0], got, live.change) == changed_reads(last[1], want, live.change)
        last = (got, want)


@settings(max_examples=300, deadline=None)
@given(_GRAPHS, st.sampled_from(["a.md", "b.md", "c.md", "d.md"]), st.one_of(st.none(), st.lists(_TRIPLE, max_size=8)))
def test_the_reads_found_from_one_changed_graph_cover_every_changed_answer(
    graphs: dict[str, list[tuple[URIRef, URIRef, Node]]], path: str, triples: list[tuple[URIRef, URIRef, Node]] | None
) -> None:
    """A command-line build has no index from last time: the lookups whose answers may differ are
    found from the changed graph before and after. They must include every lookup whose answer
    does differ between the two indexes, as the live index finds them."""
    before, after = _edited(graphs, path, triples)
    old, new = index(before[p] for p in sorted(before)), index(after[p] for p in sorted(after))
    change = Change(frozenset({RelPath(path)}), set(old.out) | set(new.out), set(old.into) | set(new.into))
    exact = changed_reads(old, new, change)
    found = graph_reads(before.get(RelPath(path)), after.get(RelPath(path)))
    assert exact <= found
    # a page keeps only its essential lookups: it is found changed by either set exactly when by all it did
    for page in _pages():
        for changed in (exact, found):
            assert page.isdisjoint(changed) == essential(page).isdisjoint(changed)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_GRAPHS, st.sampled_from(["a.md", "b.md", "c.md", "d.md"]), st.one_of(st.none(), st.lists(_TRIPLE, max_size=8)))
def test_whole_graph_files_copied_in_part_from_the_last_ones_equal_files_written_afresh(
    tmp_path: Path,
    graphs: dict[str, list[tuple[URIRef, URIRef, Node]]],
    path: str,
    triples: list[tuple[URIRef, URIRef, Node]] | None,
) -> None:
    """A command-line build copies the Turtle and JSON-LD of every subject whose triples no changed
    graph touches from the last build's files: the files must be the ones written afresh, and
    hold the merge of the graphs (and the extra triples) as rdflib reads them."""
    before, after = _edited(graphs, path, triples)
    extra = [(_NODES[0], URIRef("http://x/rank"), Literal(0.5))]

    def written(facts: Facts, last: LastFiles | None, name: str) -> tuple[bytes, bytes, Spans]:
        ttl, jsonld = tmp_path / f"{name}.ttl", tmp_path / f"{name}.jsonld"
        with ttl.open("wb") as a, jsonld.open("wb") as b:
            spans = write_merged(facts.out, extra, a, b, last)
        return ttl.read_bytes(), jsonld.read_bytes(), spans

    old = written(index(before[p] for p in sorted(before)), None, "old")
    new = index(after[p] for p in sorted(after))
    changed = {node for forward, node, _ in graph_reads(before.get(RelPath(path)), after.get(RelPath(path))) if forward}
    last = LastFiles(tmp_path / "old.ttl", tmp_path / "old.jsonld", old[2], changed)
    assert written(new, last, "spliced") == written(new, None, "afresh")
    merge = Graph()
    for t in [*(t for g in after.values() for t in g.triples), *extra]:
        merge.add(t)
    for text, fmt in ((written(new, last, "again")[0], "turtle"), (written(new, last, "again")[1], "json-ld")):
        assert isomorphic(Graph().parse(data=text.decode("utf-8"), format=fmt), merge)


def _pages() -> list[set[Read]]:
    """The lookups of a few made-up pages: every lookup there can be about each resource, and
    some of them."""
    every: list[Read] = [
        (forward, node, p) for forward in (True, False) for node in _NODES for p in [None, PROPERTIES, *_PROPS]
    ]
    every += [(True, node, presence(p)) for node in _NODES for p in _PROPS]
    return [set(every), set(every[::3]), set(every[1::4]), {r for r in every if r[2] is not None}, set(every[:7])]


def _edited(
    graphs: dict[str, list[tuple[URIRef, URIRef, Node]]], path: str, triples: list[tuple[URIRef, URIRef, Node]] | None
) -> tuple[dict[RelPath, NoteGraph], dict[RelPath, NoteGraph]]:
    """The note graphs, before and after the note at ``path`` became ``triples`` (None: was removed)."""
    before = {RelPath(p): _graph(p, t) for p, t in graphs.items()}
    after = dict(before)
    if triples is None:
        after.pop(RelPath(path), None)
    else:
        after[RelPath(path)] = _graph(path, triples)
    return before, after


def _graph(path: str, triples: list[tuple[URIRef, URIRef, Node]]) -> NoteGraph:
    iri = URIRef(f"http://x/{path}")
    return NoteGraph(RelPath(path), iri, iri, tuple(triples), ())


def _ordered(table: Mapping[URIRef, Mapping[URIRef, Sequence[Node]]]) -> dict[URIRef, list[tuple[URIRef, list[Node]]]]:
    return {s: [(p, list(os)) for p, os in ps.items()] for s, ps in table.items()}


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=30),
    st.sampled_from([None, "en", "fr-BE"]),
    st.sampled_from(
        ["http://www.w3.org/2001/XMLSchema#string", "http://www.w3.org/2001/XMLSchema#integer", "http://example.org/t"]
    ),
)
def test_answers_convert_oxigraph_terms_as_oxrdflib_does(value: str, language: str | None, datatype: str) -> None:
    """The query path makes IRIs and plain strings directly (and once): the same terms as the
    general conversion, xsd:string literals made plain."""
    import pyoxigraph as ox
    from oxrdflib._converter import from_ox

    from sdwiki.query import _plain_literal, _rdflib_term

    iri = "http://example.org/" + "".join(c for c in value if c.isalnum())
    terms: list[object] = [ox.NamedNode(iri), ox.BlankNode(), None]
    terms.append(
        ox.Literal(value, language=language) if language else ox.Literal(value, datatype=ox.NamedNode(datatype))
    )
    for term in terms:
        want = None if term is None else _plain_literal(from_ox(term))  # type: ignore[arg-type]
        got = _rdflib_term(term)
        assert type(got) is type(want) and got == want
        if isinstance(want, Literal):
            assert (got.language, got.datatype) == (want.language, want.datatype)  # type: ignore[union-attr]
