"""The markdown parser: CommonMark without raw HTML, plus Obsidian's inline syntax.

Three inline rules are added to markdown-it-py, each emitting a token (never HTML):

- ``wikilink``: ``[[Target]]``, ``[[Target|text]]``, ``[[Target#Heading]]``, ``[[Target#^block]]``,
  ``[[#Heading]]``, ``![[Embed]]``; ``\\|`` is accepted as the separator (escaped pipes in tables).
- ``hashtag``: inline ``#tags`` (letters, digits, ``_``, ``-``, ``/``; not only digits).
- ``blockid``: a trailing `` ^block-id`` that names the paragraph or list item it ends.

Code spans and fenced blocks are handled by markdown-it first, so nothing inside them is a link.
Each token records where it starts in its inline source (``meta["pos"]``) so the reader can turn
it into a line and column.
"""

from __future__ import annotations

import re
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

_WIKILINK = re.compile(r"(!?)\[\[([^\[\]\n]*?)\]\]")
_HASHTAG = re.compile(r"#([\w/-]*[^\W\d][\w/-]*)", re.UNICODE)
_BLOCKID = re.compile(r"\^([A-Za-z0-9-]+)[ \t]*(?=\n|$)")


def split_wikilink(inner: str) -> tuple[str, str | None, str | None]:
    """Split the text between ``[[`` and ``]]`` into (target, anchor, shown text)."""
    shown: str | None = None
    for sep in ("\\|", "|"):
        if sep in inner:
            inner, shown = inner.split(sep, 1)
            shown = shown.strip() or None
            break
    anchor: str | None = None
    if "#" in inner:
        inner, anchor = inner.split("#", 1)
        anchor = anchor.strip() or None
    return inner.strip(), anchor, shown


def _wikilink(state: StateInline, silent: bool) -> bool:
    src, pos = state.src, state.pos
    if not (src.startswith("[[", pos) or src.startswith("![[", pos)):
        return False
    m = _WIKILINK.match(src, pos)
    if m is None:
        return False
    target, anchor, shown = split_wikilink(m.group(2))
    if not target and not anchor:
        return False
    if not silent:
        token = state.push("wikilink", "", 0)
        token.markup = m.group(0)
        token.content = shown or (f"{target}#{anchor}" if target and anchor else target or anchor or "")
        token.meta = {
            "target": target,
            "anchor": anchor,
            "shown": shown,
            "embed": bool(m.group(1)),
            "pos": pos,
        }
    state.pos = m.end()
    return True


def _hashtag(state: StateInline, silent: bool) -> bool:
    src, pos = state.src, state.pos
    if src[pos] != "#" or (pos > 0 and not src[pos - 1].isspace() and src[pos - 1] not in "(["):
        return False
    m = _HASHTAG.match(src, pos)
    if m is None:
        return False
    if not silent:
        token = state.push("hashtag", "", 0)
        token.markup = m.group(0)
        token.content = m.group(1)
        token.meta = {"pos": pos}
    state.pos = m.end()
    return True


def _blockid(state: StateInline, silent: bool) -> bool:
    src, pos = state.src, state.pos
    if src[pos] != "^" or pos == 0 or not src[pos - 1].isspace():
        return False
    m = _BLOCKID.match(src, pos)
    if m is None:
        return False
    if not silent:
        token = state.push("blockid", "", 0)
        token.content = m.group(1)
        token.meta = {"pos": pos}
    state.pos = m.end()
    return True


def obsidian_plugin(md: MarkdownIt) -> None:
    """Add the wikilink, hashtag and block-id inline rules to ``md``."""
    md.inline.ruler.before("link", "wikilink", _wikilink)
    md.inline.ruler.before("link", "hashtag", _hashtag)
    md.inline.ruler.before("link", "blockid", _blockid)


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    """The one configured parser (safe: ``html`` off, so notes cannot inject markup)."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.use(footnote_plugin).use(tasklists_plugin).use(obsidian_plugin)
    return md
