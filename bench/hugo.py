"""The reference: Hugo building the same notes with a minimal template."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bench.process import Run, run


def hugo_binary() -> str | None:
    return shutil.which("hugo")


def hugo_version() -> str:
    binary = hugo_binary()
    if binary is None:
        return "not installed"
    out = subprocess.run([binary, "version"], capture_output=True, text=True, check=False).stdout.strip()
    return out or "unknown"


def hugo_build(site: Path, output: Path, timeout: float) -> Run | str:
    """One build of ``site`` into a fresh ``output``; the reason as text when Hugo cannot run."""
    binary = hugo_binary()
    if binary is None:
        return "hugo is not installed (apt-get install hugo)"
    shutil.rmtree(output, ignore_errors=True)
    result = run([binary, "--quiet", "-s", site, "-d", output], timeout=timeout)
    return result if result.ok else f"hugo failed: {result.reason()}"
