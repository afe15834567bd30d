"""Stage 1, reading: one file becomes one :class:`Note`, on its own, with positions kept.

Reading never raises for bad input: every problem becomes a :class:`Diagnostic` on the note, and
a file that cannot be read at all still yields a note (empty, with the diagnostic), so the rest of
the content builds. Nothing here writes anything.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from markdown_it.token import Token

from sdwiki import frontmatter
from sdwiki.diagnostics import Diagnostic, make, printable_path
from sdwiki.frontmatter import Value
from sdwiki.markdown import parser
from sdwiki.records import quick_pickle
from sdwiki.slugs import heading_anchor
from sdwiki.types import RelPath

if TYPE_CHECKING:
    from sdwiki.render import Prerendered

CACHE_FORMAT = 4
"""Part of each cached note's key: raised whenever what :class:`Note` holds, or how it is pickled, changes."""

MAX_NOTE_BYTES = 4 * 1024 * 1024
NOTE_SUFFIX = ".md"

BlockKind = Literal["paragraph", "item", "fence", "table", "code"]


@quick_pickle
@dataclass(frozen=True, slots=True)
class WikiLink:
    """A ``[[...]]`` or ``![[...]]`` as written in a note."""

    target: str
    """The note, path or file named (empty for ``[[#Heading]]`` within the same note)."""
    anchor: str | None
    """The part after ``#``: a heading, or ``^block-id``."""
    shown: str | None
    """The text after ``|``, if any."""
    embed: bool
    """True for transclusions ``![[...]]``."""
    line: int
    column: int
    raw: str
    """The link exactly as written."""


@quick_pickle
@dataclass(frozen=True, slots=True)
class Tag:
    """A tag from the frontmatter or an inline ``#tag``."""

    name: str
    line: int
    column: int


@quick_pickle
@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    text: str
    line: int
    key: str
    """The case- and spacing-insensitive key anchors are matched by."""


@quick_pickle
@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph, list item, fenced block, table or code block of a section."""

    kind: BlockKind
    text: str
    """Inline markdown source (paragraph, item), the code (fence), or the rows (table)."""
    line: int
    depth: int = 0
    """List nesting depth: 0 outside lists, 1 for top-level items."""
    number: int | None = None
    """The number of an ordered list item."""
    links: tuple[WikiLink, ...] = ()


@quick_pickle
@dataclass(frozen=True, slots=True)
class Section:
    """A heading and what follows it up to the next heading of the same or a higher level."""

    level: int
    heading: str
    line: int
    blocks: tuple[Block, ...]
    children: tuple[Section, ...]

    def walk(self) -> Iterator[Section]:
        yield self
        for child in self.children:
            yield from child.walk()


@quick_pickle
@dataclass(frozen=True, slots=True)
class Note:
    """Everything read from one note file."""

    path: RelPath
    title: str
    title_line: int
    meta: dict[str, Value]
    """The frontmatter as plain values."""
    meta_lines: dict[str, int]
    """The line of each frontmatter key."""
    preamble: tuple[Block, ...]
    """Blocks before the first ``##`` section (the H1 excluded)."""
    sections: tuple[Section, ...]
    """Top-level sections (the shallowest heading level below the title)."""
    headings: tuple[Heading, ...]
    links: tuple[WikiLink, ...]
    tags: tuple[Tag, ...]
    block_ids: frozenset[str]
    body: str
    body_line: int
    """The file line on which ``body`` starts."""
    digest: str
    """SHA-256 of the file's bytes: the key for caches."""
    diagnostics: tuple[Diagnostic, ...]
    text: Prerendered | None = field(default=None, compare=False, repr=False)
    """The body as HTML with its links and tags still to be filled in (see :mod:`sdwiki.render`)."""

    @property
    def stem(self) -> str:
        return _stem(self.path)

    @property
    def kind(self) -> str | None:
        value = self.meta.get("type")
        return value.strip().lower() if isinstance(value, str) and value.strip() else None


def discover(root: Path, links: list[RelPath] | None = None) -> tuple[list[RelPath], list[RelPath], list[Diagnostic]]:
    """Find notes and attachments under ``root``, sorted; hidden entries are skipped.

    Symbolic links are followed only when they point inside ``root``; directory links are never
    followed (no loops, no escape). The files found through a link are added to ``links``.
    """
    notes: list[RelPath] = []
    files: list[RelPath] = []
    problems: list[Diagnostic] = []
    real_root = root.resolve()
    stack: list[tuple[str, str]] = [(str(root), "")]  # (folder, its path under root + "/")
    while stack:
        folder, under = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            problems.append(
                make(under.rstrip("/") or ".", 0, 0, "unreadable-file", f"cannot list folder: {exc.strerror}")
            )
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = under + entry.name  # strings, not Paths: a wiki has thousands of entries
            if entry.is_symlink():
                target = Path(entry.path).resolve()
                if not target.is_relative_to(real_root) or entry.is_dir():
                    why = "outside the content folder" if entry.is_file() else "to a folder"
                    problems.append(make(rel, 0, 0, "symlink-outside", f"symbolic link {why}; not followed"))
                    continue
                if links is not None:
                    links.append(RelPath(rel))
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, rel + "/"))
            elif entry.is_file():
                (notes if entry.name.lower().endswith(NOTE_SUFFIX) else files).append(RelPath(rel))
    return sorted(notes), sorted(files), problems


def still_holds(root: Path, rel: RelPath, note: Note) -> bool:
    """Whether the file at ``rel`` still holds the bytes ``note`` was parsed from (then reading
    it again would give ``note``)."""
    if not note.digest or note.path != rel:
        return False
    try:
        data = _note_bytes(root / rel)
    except OSError:
        return False
    return len(data) <= MAX_NOTE_BYTES and hashlib.sha256(data).hexdigest() == note.digest


def _note_bytes(path: Path) -> bytes:
    """The file's bytes, up to one more than a note may have (to tell that it has too many)."""
    with open(path, "rb") as fh:
        return fh.read(MAX_NOTE_BYTES + 1)


def read_note(root: Path, rel: RelPath, cache: Path | None = None) -> Note:
    """Read and parse one note file; never raises for bad content.

    With ``cache`` (a folder outside the content), a note whose bytes were parsed before by
    this version of sdwiki is loaded from there instead of parsed again.
    """
    shown = printable_path(rel)
    try:
        data = _note_bytes(root / rel)
    except OSError as exc:
        return _unreadable(rel, f"cannot read {shown}: {exc.strerror}")
    if len(data) > MAX_NOTE_BYTES:
        return _unreadable(rel, f"{shown} is larger than {MAX_NOTE_BYTES // (1024 * 1024)} MB")
    if b"\x00" in data[:8192]:
        return _unreadable(rel, f"{shown} is a binary file, not a UTF-8 note")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return _unreadable(rel, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", line)
    digest = hashlib.sha256(data).hexdigest()
    if cache is None:
        return parse_note(rel, text, digest)
    from sdwiki import __version__

    name = f"{__version__}\0{CACHE_FORMAT}\0{rel}\0{digest}"
    key = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    entry = cache / "notes" / key[:2] / f"{key}.pickle"
    try:
        note = pickle.loads(entry.read_bytes())
        if isinstance(note, Note) and note.path == rel and note.digest == digest:
            return note
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError):
        pass
    note = parse_note(rel, text, digest)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps(note, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, entry)
    except OSError:
        pass  # a cache that cannot be written only costs time
    return note


def tokens_of(note: Note) -> tuple[Token, ...]:
    """The note body's markdown tokens, parsed again (a note keeps its text rendered, see
    :attr:`Note.text`; only embedding another note's section needs its tokens)."""
    return _tokens(note.body) if note.body.strip() else ()


@lru_cache(maxsize=256)
def _tokens(body: str) -> tuple[Token, ...]:
    """Parsing the same body gives the same tokens: a note embedded in many pages is parsed once."""
    return tuple(parser().parse(body))


def _unreadable(rel: RelPath, message: str, line: int = 0) -> Note:
    diag = make(printable_path(rel), line, 0, "unreadable-file", message)
    return Note(
        path=rel,
        title=PurePosixPath(rel).stem,
        title_line=0,
        meta={},
        meta_lines={},
        preamble=(),
        sections=(),
        headings=(),
        links=(),
        tags=(),
        block_ids=frozenset(),
        body="",
        body_line=1,
        digest="",
        diagnostics=(diag,),
    )


def parse_note(rel: RelPath, text: str, digest: str | None = None) -> Note:
    """Parse a note's text (a pure function of its arguments)."""
    if digest is None:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    shown = printable_path(rel)
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    diags: list[Diagnostic] = []
    fm = frontmatter.split(text)
    diags.extend(make(shown, p.line, 1, p.code, p.message) for p in fm.problems)
    if not text.strip():
        diags.append(make(shown, 1, 1, "empty-note", "the note is empty"))

    from sdwiki.render import prerender

    tokens = parser().parse(fm.body)
    offset = fm.body_line  # file line of body line 0
    src_lines = fm.body.split("\n")
    reader = _TokenReader(tokens, offset, src_lines)
    meta = dict(fm.data)

    title, title_line = _title(meta, fm, reader.headings, rel, shown, diags)
    tags = _frontmatter_tags(meta, fm.key_lines, shown, diags) + reader.tags
    _check_kinds(meta, fm.key_lines, shown, diags)
    return Note(
        path=rel,
        title=title,
        title_line=title_line,
        meta=meta,
        meta_lines=dict(fm.key_lines),
        preamble=tuple(reader.preamble),
        sections=reader.sections(),
        headings=tuple(reader.headings),
        links=tuple(reader.links),
        tags=tuple(tags),
        block_ids=frozenset(reader.block_ids),
        body=fm.body,
        body_line=offset,
        digest=digest,
        diagnostics=tuple(diags),
        text=prerender(tokens),
    )


def _title(
    meta: dict[str, Value],
    fm: frontmatter.Frontmatter,
    headings: Sequence[Heading],
    rel: RelPath,
    shown: str,
    diags: list[Diagnostic],
) -> tuple[str, int]:
    if "title" in meta:
        value = meta["title"]
        line = fm.key_lines.get("title", 1)
        text = frontmatter.as_text(value)
        if text is not None and text.strip():
            if not isinstance(value, str) or "title" in fm.dates:
                diags.append(make(shown, line, 1, "bad-frontmatter", f"title is not text; read as {text!r}"))
            return " ".join(text.split()), line
        if value is not None:
            diags.append(make(shown, line, 1, "bad-frontmatter", "title must be text; ignored"))
    for h in headings:
        if h.level == 1 and h.text.strip():
            return h.text, h.line
    return PurePosixPath(rel).stem, 0


def _frontmatter_tags(
    meta: dict[str, Value], key_lines: Mapping[str, int], shown: str, diags: list[Diagnostic]
) -> list[Tag]:
    if "tags" not in meta:
        return []
    line = key_lines.get("tags", 1)
    names, ok = frontmatter.as_text_list(meta["tags"])
    if not ok:
        diags.append(make(shown, line, 1, "bad-frontmatter", "tags must be a list of texts or a text"))
    return [Tag(n.lstrip("#"), line, 1) for n in names if n.lstrip("#")]


def _check_kinds(meta: dict[str, Value], key_lines: Mapping[str, int], shown: str, diags: list[Diagnostic]) -> None:
    for key in ("aliases", "alias"):
        if key in meta:
            _, ok = frontmatter.as_text_list(meta[key])
            if not ok:
                line = key_lines.get(key, 1)
                diags.append(make(shown, line, 1, "bad-frontmatter", f"{key} must be a list of texts"))
    for key in ("type", "category"):
        if key in meta and meta[key] is not None and not isinstance(meta[key], str):
            line = key_lines.get(key, 1)
            diags.append(make(shown, line, 1, "bad-frontmatter", f"{key} must be text"))


@lru_cache(maxsize=1 << 16)
def _stem(path: str) -> str:
    return PurePosixPath(path).stem


def aliases(note: Note) -> list[str]:
    """The note's aliases (``aliases`` or ``alias`` keys)."""
    out: list[str] = []
    for key in ("aliases", "alias"):
        if key in note.meta:
            names, _ = frontmatter.as_text_list(note.meta[key])
            out.extend(" ".join(n.split()) for n in names)
    return out


class _TokenReader:
    """Walks markdown-it's tokens once, collecting headings, blocks, links, tags and block ids."""

    def __init__(self, tokens: Sequence[Token], offset: int, src_lines: Sequence[str]) -> None:
        self.offset = offset
        self.src_lines = src_lines
        self.headings: list[Heading] = []
        self.links: list[WikiLink] = []
        self.tags: list[Tag] = []
        self.block_ids: set[str] = set()
        self.preamble: list[Block] = []
        # flat list of (heading, blocks) in document order
        self._flat: list[tuple[Heading, list[Block]]] = []
        self._columns: dict[int, int] = {}
        self._walk(tokens)

    def _line(self, token: Token) -> int:
        return self.offset + (token.map[0] if token.map else 0)

    def _blocks(self) -> list[Block]:
        return self._flat[-1][1] if self._flat else self.preamble

    def _walk(self, tokens: Sequence[Token]) -> None:
        list_stack: list[bool] = []
        item_number: list[int | None] = []
        pending_item: list[int] = []  # line of the item whose first paragraph is next
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            kind = tok.type
            if kind == "heading_open":
                inline = tokens[i + 1]
                text, _ = self._inline(inline)
                plain = _plain_text(inline)
                heading = Heading(int(tok.tag[1]), plain, self._line(tok), heading_anchor(plain))
                self.headings.append(heading)
                if heading.level > 1 or self._flat:
                    self._flat.append((heading, []))
                i += 3
                continue
            if kind in ("bullet_list_open", "ordered_list_open"):
                list_stack.append(kind == "ordered_list_open")
            elif kind in ("bullet_list_close", "ordered_list_close"):
                list_stack.pop()
            elif kind == "list_item_open":
                number = int(tok.info) if tok.info.isdigit() else None
                item_number.append(number)
                pending_item.append(self._line(tok))
            elif kind == "list_item_close":
                item_number.pop()
                if pending_item and pending_item[-1] >= 0:
                    pending_item.pop()
                    self._blocks().append(Block("item", "", self._line(tok), len(list_stack), None, ()))
                elif pending_item:
                    pending_item.pop()
            elif kind == "inline" and tok.map is not None:
                text, links = self._inline(tok)
                if pending_item and pending_item[-1] >= 0:
                    line = pending_item[-1]
                    pending_item[-1] = -1
                    self._blocks().append(Block("item", text, line, len(list_stack), item_number[-1], links))
                elif tokens[i - 1].type in ("th_open", "td_open"):
                    pass  # table cells: links recorded; the table block holds the text
                else:
                    self._blocks().append(Block("paragraph", text, self._line(tok), 0, None, links))
            elif kind == "inline":
                self._inline(tok)
            elif kind == "fence":
                self._blocks().append(Block("fence", tok.content, self._line(tok)))
            elif kind == "code_block":
                self._blocks().append(Block("code", tok.content, self._line(tok)))
            elif kind == "table_open" and tok.map:
                lo, hi = tok.map
                rows = "\n".join(self.src_lines[lo:hi])
                self._blocks().append(Block("table", rows, self._line(tok)))
            i += 1

    def _inline(self, tok: Token) -> tuple[str, tuple[WikiLink, ...]]:
        """Record the wikilinks, tags and block ids of an inline token."""
        links: list[WikiLink] = []
        base = tok.map[0] if tok.map else 0
        for child in tok.children or ():
            if child.type not in ("wikilink", "hashtag", "blockid"):
                continue
            pos = int(child.meta["pos"])
            rel_line = base + tok.content.count("\n", 0, pos)
            line = self.offset + rel_line
            column = self._column(rel_line, child.markup or child.content)
            if child.type == "wikilink":
                link = WikiLink(
                    target=str(child.meta["target"]),
                    anchor=child.meta["anchor"],
                    shown=child.meta["shown"],
                    embed=bool(child.meta["embed"]),
                    line=line,
                    column=column,
                    raw=child.markup,
                )
                links.append(link)
                self.links.append(link)
            elif child.type == "hashtag":
                self.tags.append(Tag(child.content, line, column))
            else:
                self.block_ids.add(child.content)
        return tok.content, tuple(links)

    def _column(self, rel_line: int, needle: str) -> int:
        """1-based column of the next occurrence of ``needle`` on a body line."""
        if not 0 <= rel_line < len(self.src_lines):
            return 1
        line = self.src_lines[rel_line]
        start = self._columns.get(rel_line, 0)
        for candidate in (needle, needle.replace("|", "\\|")):
            found = line.find(candidate, start)
            if found < 0:
                found = line.find(candidate)
            if found >= 0:
                self._columns[rel_line] = found + len(candidate)
                return found + 1
        return 1

    def sections(self) -> tuple[Section, ...]:
        """Nest the flat heading list: each section holds the deeper ones that follow it."""
        items = [(h, tuple(b)) for h, b in self._flat]
        pos = 0

        def build(min_level: int) -> list[Section]:
            nonlocal pos
            out: list[Section] = []
            while pos < len(items) and items[pos][0].level >= min_level:
                heading, blocks = items[pos]
                pos += 1
                children = build(heading.level + 1)
                out.append(Section(heading.level, heading.text, heading.line, blocks, tuple(children)))
            return out

        result: list[Section] = []
        while pos < len(items):
            result.extend(build(items[pos][0].level))
        return tuple(result)


def _plain_text(inline: Token) -> str:
    """The visible text of an inline token (wikilinks give their shown text)."""
    parts: list[str] = []
    for child in inline.children or ():
        if child.type in ("text", "code_inline", "wikilink"):
            parts.append(child.content)
        elif child.type == "hashtag":
            parts.append("#" + child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())
