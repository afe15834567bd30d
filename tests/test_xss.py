"""Markup, scripts and dangerous links in notes render inert everywhere on the site."""

from __future__ import annotations

from pathlib import Path

from sdwiki.build import build_site
from sdwiki.settings import Settings
from tests.sitecheck import parse

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'

NOTES = {
    "evil.md": f"""---
title: '{PAYLOAD} Evil'
aliases: ['<svg onload=alert(2)>', '"><script>alert(3)</script>']
tags: ['<b>bold</b>', 'x" onmouseover="alert(4)']
category: '<iframe src=javascript:alert(5)>'
type: concept
---

## Definition
Raw <script>alert(6)</script> and <a href="javascript:alert(7)">a</a> and <div onclick="alert(8)">d</div>.

[click](javascript:alert(9)) [data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxMCk8L3NjcmlwdD4=)
[vb](vbscript:msgbox(11)) ![img](javascript:alert(12)) <style>body{{display:none}}</style>

[[Other|<script>alert(13)</script>]] [[<img src=x onerror=alert(14)>]] #<script>

## Key Thinkers
- <script>alert(15)</script> Person (coined term, 1950)
- [[Other|Evil" onclick="alert(16)]]

## Historical Examples
### <img src=x onerror=alert(17)>
- <b onmouseover=alert(18)>example</b>
""",
    "other.md": """---
type: concept
aliases: ["javascript:alert(19)"]
---
# Other

## Definition
A normal note linking to [[<script>alert("x")</script><img src=x onerror=alert(1)> Evil]].
""",
}

OUR_SCRIPTS = {"../../assets/graph.js", "../../pagefind/pagefind-ui.js", "../../assets/site.js"}


def test_nothing_from_notes_is_live(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    for name, text in NOTES.items():
        (content / name).write_text(text, "utf-8")
    site = tmp_path / "site"
    build_site(content, site, Settings(), search=False)
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 5
    for page in pages:
        doc = parse(page)
        for tag, attrs in doc.tags:
            assert tag not in ("iframe", "object", "embed", "style", "svg") or (tag == "svg" and "role" in attrs), (
                page,
                tag,
            )
            for name, value in attrs.items():
                assert not name.startswith("on"), (page, tag, name, value)
                v = (value or "").strip().lower()
                if name in ("href", "src", "action", "formaction", "xlink:href"):
                    assert not v.startswith(("javascript:", "vbscript:", "data:")), (page, tag, name, value)
        for attrs, text in doc.scripts:
            src = attrs.get("src")
            kind = attrs.get("type")
            if src is not None:
                assert not src.startswith(("javascript:", "data:", "http")), (page, src)
                continue
            # inline scripts are data only, and data cannot close its script element
            assert kind in ("application/ld+json", "application/json"), (page, attrs, text[:80])
            assert "</script" not in text.lower()
            assert "<script" not in text.lower()
    evil_pages = [p for p in pages if "evil" in p.as_posix()]
    assert evil_pages
    text = evil_pages[0].read_text("utf-8")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text or "&lt;script&gt;alert(" in text
