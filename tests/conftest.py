from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
SEED = ROOT.parent / "shared" / "seeds" / "000_20270cf2da051b2a.txt"
SEED_NOTE = Path(__file__).parent / "data" / "seed" / "Security Dilemma.md"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its bytes (symlinks by their target)."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(folder))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture()
def vault(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    folder.mkdir()
    return folder
