"""Where the files shipped beside the code are: the ontology and the site templates.

In a checkout (or an editable install) they are the top-level ``ontology/`` and
``site_templates/`` folders; in an installed wheel they are packaged as ``sdwiki._ontology`` and
``sdwiki._templates``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def _folder(top_level: str, package: str) -> Path:
    local = _CHECKOUT / top_level
    if local.is_dir() and (_CHECKOUT / "pyproject.toml").is_file():
        return local
    return Path(str(resources.files(package)))


def ontology_dir() -> Path:
    return _folder("ontology", "sdwiki._ontology")


def templates_dir() -> Path:
    return _folder("site_templates", "sdwiki._templates")
