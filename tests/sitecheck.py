"""Helpers for checking built sites: every link, every load, every script."""

from __future__ import annotations

import posixpath
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class Tags(HTMLParser):
    """Collects (tag, attrs) of a document, and the text of script elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        d = dict(attrs)
        self.tags.append((tag, d))
        if tag == "script":
            self._in_script = d
            self.scripts.append((d, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def parse(path: Path) -> Tags:
    t = Tags()
    t.feed(path.read_text("utf-8"))
    return t


def references(site: Path) -> list[tuple[str, str, str]]:
    """(page, attribute, value) for every href and src in every HTML page."""
    out = []
    for page in sorted(site.rglob("*.html")):
        if "pagefind" in page.parts:
            continue
        rel = page.relative_to(site).as_posix()
        for _tag, attrs in parse(page).tags:
            for attr in ("href", "src"):
                value = attrs.get(attr)
                if value is not None:
                    out.append((rel, attr, value))
    return out


def broken_links(site: Path) -> list[str]:
    problems = []
    for page, attr, value in references(site):
        parts = urlsplit(value)
        if parts.scheme in ("http", "https", "mailto") or value.startswith("//"):
            continue
        if parts.scheme:
            problems.append(f"{page}: {attr}={value!r} uses scheme {parts.scheme}")
            continue
        if not parts.path:
            continue  # a fragment within the page
        if parts.path.startswith("/"):
            problems.append(f"{page}: {attr}={value!r} is absolute, not relative")
            continue
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page), unquote(parts.path)))
        if target.startswith("..") or not (site / target).exists():
            problems.append(f"{page}: {attr}={value!r} -> {target} does not exist")
    return problems


def external_loads(site: Path) -> list[str]:
    """Anything a page would load from another host (scripts, styles, images, frames, fonts)."""
    problems = []
    for page in sorted(site.rglob("*.html")):
        if "pagefind" in page.parts:
            continue
        for tag, attrs in parse(page).tags:
            for attr in ("src", "href", "data", "srcset", "poster"):
                value = attrs.get(attr) or ""
                loads = tag != "a" and not (tag == "link" and attrs.get("rel") in ("alternate",))
                if loads and (value.startswith(("http:", "https:", "//"))):
                    problems.append(f"{page.relative_to(site)}: <{tag} {attr}={value!r}>")
    for css in site.rglob("*.css"):
        text = css.read_text("utf-8", errors="replace")
        if "url(http" in text or "@import url(" in text or "url(//" in text:
            problems.append(f"{css.relative_to(site)} loads from another host")
    return problems
