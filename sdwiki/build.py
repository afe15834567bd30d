"""``sdwiki build``: read, analyse, render and write the site."""

from __future__ import annotations

from pathlib import Path

from sdwiki.settings import Settings


class BuildError(Exception):
    """The build cannot start or cannot write its output."""


def build_site(content: Path, output: Path, settings: Settings) -> str:
    raise BuildError("the site builder is not available yet in this version")
