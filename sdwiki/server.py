"""``sdwiki serve``: the authoring server."""

from __future__ import annotations

import sys
from pathlib import Path

from sdwiki.settings import Settings


def serve(content: Path, host: str, port: int, cors: bool, settings: Settings) -> None:
    print("sdwiki: serve is not available yet in this version", file=sys.stderr)
    sys.exit(2)
