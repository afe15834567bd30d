"""Markdown to HTML for pages: the note's tokens, with wikilinks, tags and embeds resolved.

Rendering never emits raw HTML from a note: markdown-it runs with ``html`` off, every text and
attribute goes through its escaping, dangerous link schemes are refused by markdown-it's link
validation, and images from other hosts become plain links (a page loads nothing from
elsewhere). Wikilink tokens are turned into links here, through a :class:`Linker` the site
provides for the page being rendered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from sdwiki.markdown import parser
from sdwiki.notes import Note, tokens_of
from sdwiki.slugs import slugify
from sdwiki.types import RelPath

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".avif", ".bmp")


class Linker(Protocol):
    """What the renderer asks the site while rendering one page."""

    def note(self, target: str, source: RelPath) -> tuple[RelPath, str] | None:
        """The note a wikilink target names (its path and page href), or None."""

    def attachment(self, target: str) -> str | None:
        """The href of an attachment (image, PDF, ...) a wikilink names, or None."""

    def tag(self, name: str) -> str:
        """The href of a tag's page."""

    def note_by_path(self, path: RelPath) -> Note:
        """A note of the corpus, for transclusions."""


@dataclass
class _Ctx:
    linker: Linker
    source: RelPath
    stack: tuple[RelPath, ...]


def heading_id(text: str) -> str:
    return slugify(text)


def anchor_fragment(anchor: str | None) -> str:
    if not anchor:
        return ""
    if anchor.startswith("^"):
        return "#block-" + slugify(anchor[1:])
    return "#" + heading_id(anchor.split("#")[-1])


def _ctx(env: EnvType) -> _Ctx:
    ctx = env["sdwiki"]
    assert isinstance(ctx, _Ctx)
    return ctx


def _mark(env: EnvType, kind: str, value: Any) -> str | None:
    """While prerendering (see :func:`prerender`): a numbered mark standing for a link or tag."""
    marks = env.get("marks")
    if marks is None:
        return None
    marks.append((kind, value))
    return f"{_MARK}{len(marks) - 1}{_MARK}"


def _wikilink(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    meta = tokens[idx].meta
    mark = _mark(env, "link", {k: meta[k] for k in ("target", "anchor", "shown", "embed")})
    return mark if mark is not None else _link_html(meta, _ctx(env))


def _link_html(meta: dict[str, Any], ctx: _Ctx) -> str:
    target: str = meta["target"]
    anchor: str | None = meta["anchor"]
    shown: str | None = meta["shown"]
    text = shown or (f"{target} › {anchor.lstrip('^')}" if target and anchor else target or anchor or "")
    if not target:  # [[#Heading]] within this note
        return f'<a class="wikilink" href="{escapeHtml(anchor_fragment(anchor))}">{escapeHtml(text)}</a>'
    hit = ctx.linker.note(target, ctx.source)
    if hit is not None:
        path, href = hit
        if meta["embed"]:
            return _embed(path, href, anchor, ctx)
        href += anchor_fragment(anchor)
        return f'<a class="wikilink" href="{escapeHtml(href)}">{escapeHtml(text)}</a>'
    file_href = ctx.linker.attachment(target)
    if file_href is not None:
        if meta["embed"] and target.lower().endswith(_IMAGE_SUFFIXES):
            alt = escapeHtml(shown or target.rsplit("/", 1)[-1])
            return f'<img class="embed-image" src="{escapeHtml(file_href)}" alt="{alt}" loading="lazy">'
        return f'<a class="wikilink attachment" href="{escapeHtml(file_href)}">{escapeHtml(text)}</a>'
    return f'<span class="wikilink broken" title="{escapeHtml(f"No note named {target}")}">{escapeHtml(text)}</span>'


def _embed(path: RelPath, href: str, anchor: str | None, ctx: _Ctx) -> str:
    note = ctx.linker.note_by_path(path)
    link = f'<a class="embed-source" href="{escapeHtml(href + anchor_fragment(anchor))}">{escapeHtml(note.title)}</a>'
    if path in ctx.stack or len(ctx.stack) > 3:
        return f'<span class="embed cycle">{link} (not embedded: it would embed itself)</span>'
    is_section = anchor is not None and not anchor.startswith("^")
    tokens = section_tokens(tokens_of(note), anchor or "") if is_section else drop_title(tokens_of(note))
    inner = render_tokens(tokens, ctx.linker, path, (*ctx.stack, path))
    return f'<span class="embed" role="note">{link}<span class="embed-body">{inner}</span></span>'


def _hashtag(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    name = tokens[idx].content
    mark = _mark(env, "tag", name)
    return mark if mark is not None else _tag_html(name, _ctx(env))


def _tag_html(name: str, ctx: _Ctx) -> str:
    return f'<a class="tag" href="{escapeHtml(ctx.linker.tag(name))}">#{escapeHtml(name)}</a>'


def _blockid(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    return f'<span class="block-id" id="block-{slugify(tokens[idx].content)}"></span>'


def _image(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    tok = tokens[idx]
    src = str(tok.attrGet("src") or "")
    alt = self.renderInlineAsText(tok.children or [], options, env)
    if src.startswith(("http:", "https:", "//")):
        return f'<a class="external-image" href="{escapeHtml(src)}">{escapeHtml(alt or src)}</a>'
    return f'<img src="{escapeHtml(src)}" alt="{escapeHtml(alt)}" loading="lazy">'


def _heading_open(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    tok = tokens[idx]
    inline = tokens[idx + 1]
    text = "".join(c.content for c in inline.children or () if c.type in ("text", "code_inline", "wikilink"))
    return f'<{tok.tag} id="{heading_id(text)}">'


def _renderer() -> RendererHTML:
    md = parser()
    renderer = md.renderer
    assert isinstance(renderer, RendererHTML)
    if "wikilink" not in renderer.rules:
        md.add_render_rule("wikilink", _wikilink)
        md.add_render_rule("hashtag", _hashtag)
        md.add_render_rule("blockid", _blockid)
        md.add_render_rule("image", _image)
        md.add_render_rule("heading_open", _heading_open)
    return renderer


def render_tokens(tokens: Sequence[Token], linker: Linker, source: RelPath, stack: tuple[RelPath, ...] = ()) -> str:
    renderer = _renderer()
    env: EnvType = {"sdwiki": _Ctx(linker, source, stack or (source,))}
    return renderer.render(list(tokens), parser().options, env)


_MARK = "\x00"  # never in rendered text: markdown-it replaces NUL characters while parsing
_MARKS = re.compile(f"{_MARK}([0-9]+){_MARK}")


@dataclass(frozen=True, slots=True)
class Prerendered:
    """A note's text as HTML before its links are known: each wikilink and tag is a numbered mark
    (see :func:`fill`). Made where the note is parsed and cached with it, so pages are made
    without parsing the markdown again."""

    preamble: str | None
    """The text before the first section (None: there is none)."""
    sections: tuple[tuple[str, str], ...]
    """Each top-level section's heading and its text (the heading itself left out)."""
    marks: tuple[tuple[str, Any], ...]
    """What each mark stands for: ("link", the wikilink token's meta) or ("tag", the name)."""


def prerender(tokens: Sequence[Token]) -> Prerendered:
    """The text of a note's tokens, split as :func:`split_sections` splits it (see :class:`Prerendered`)."""
    renderer = _renderer()
    marks: list[tuple[str, Any]] = []
    env: EnvType = {"marks": marks}
    options = parser().options
    preamble, sections = split_sections(tokens)
    return Prerendered(
        renderer.render(preamble, options, env) if preamble else None,
        tuple((heading, renderer.render(toks[3:], options, env)) for heading, toks in sections),
        tuple(marks),
    )


def fill(html: str, marks: Sequence[tuple[str, Any]], linker: Linker, source: RelPath) -> str:
    """Prerendered text with its marks replaced by the links and tags they stand for, exactly as
    :func:`render_tokens` would have rendered them."""
    if _MARK not in html:
        return html
    ctx = _Ctx(linker, source, (source,))

    def one(m: re.Match[str]) -> str:
        kind, value = marks[int(m.group(1))]
        return _link_html(value, ctx) if kind == "link" else _tag_html(value, ctx)

    return _MARKS.sub(one, html)


def drop_title(tokens: Sequence[Token]) -> list[Token]:
    """The tokens without the first H1 (the page shows the title itself)."""
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.tag == "h1":
            return [*tokens[:i], *tokens[i + 3 :]]
    return list(tokens)


def split_sections(tokens: Sequence[Token]) -> tuple[list[Token], list[tuple[str, list[Token]]]]:
    """Preamble tokens, then (heading, tokens) for each top-level section (title H1 dropped)."""
    body = drop_title(tokens)
    levels = [int(t.tag[1]) for t in body if t.type == "heading_open"]
    if not levels:
        return body, []
    top = min(levels)
    preamble: list[Token] = []
    sections: list[tuple[str, list[Token]]] = []
    i = 0
    while i < len(body):
        tok = body[i]
        if tok.type == "heading_open" and int(tok.tag[1]) == top:
            sections.append((body[i + 1].content, [tok]))
        elif sections:
            sections[-1][1].append(tok)
        else:
            preamble.append(tok)
        i += 1
    return preamble, sections


def section_tokens(tokens: Sequence[Token], heading: str) -> list[Token]:
    """The tokens under ``heading`` (any level, heading excluded), for ``![[Note#Heading]]``."""
    want = heading_id(heading.split("#")[-1])
    start: int | None = None
    level = 0
    for i, tok in enumerate(tokens):
        if tok.type != "heading_open":
            continue
        lvl = int(tok.tag[1])
        if start is not None and lvl <= level:
            return list(tokens[start:i])
        if start is None and heading_id(tokens[i + 1].content) == want:
            start, level = i + 3, lvl
    return list(tokens[start:]) if start is not None else []
