"""Settings: ``[tool.sdwiki]`` in pyproject.toml, or sdwiki.toml, in the working folder."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from sdwiki.types import DEFAULT_BASE


class SettingsError(Exception):
    """The settings file is unreadable or holds an unknown or ill-typed key."""


@dataclass(frozen=True, slots=True)
class Settings:
    content: Path = Path("content")
    """The folder of notes."""
    output: Path = Path("site")
    """Where ``sdwiki build`` writes the site."""
    base_iri: str = DEFAULT_BASE
    """The base of every resource IRI; must end with ``/`` or ``#``."""
    engine: str = "oxigraph"
    """The SPARQL engine: ``oxigraph`` or ``rdflib``."""
    query_timeout: float = 10.0
    """Seconds a query may run before it is stopped."""
    result_limit: int = 10_000
    """Rows a query may return before the result is truncated."""
    title: str = "sdwiki"
    """The site's name, shown in every page header."""


def load_settings(folder: Path | None = None) -> Settings:
    folder = folder or Path.cwd()
    data: dict[str, Any] = {}
    source: Path | None = None
    for candidate, table in ((folder / "sdwiki.toml", None), (folder / "pyproject.toml", "sdwiki")):
        if candidate.is_file():
            try:
                parsed = tomllib.loads(candidate.read_text("utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise SettingsError(f"{candidate}: {exc}") from exc
            section = parsed if table is None else parsed.get("tool", {}).get(table)
            if section:
                data, source = section, candidate
                break
    settings = Settings()
    known = {f.name: f for f in fields(Settings)}
    changes: dict[str, Any] = {}
    for raw_key, value in data.items():
        name = raw_key.replace("-", "_")
        if name not in known:
            raise SettingsError(f"{source}: unknown setting {raw_key!r}")
        default = getattr(settings, name)
        if isinstance(default, Path):
            value = (folder / str(value)) if not Path(str(value)).is_absolute() else Path(str(value))
        elif isinstance(default, float) and isinstance(value, int):
            value = float(value)
        if not isinstance(value, type(default)):
            raise SettingsError(f"{source}: {raw_key} must be {type(default).__name__}")
        changes[name] = value
    settings = replace(settings, **changes)
    if not settings.base_iri.endswith(("/", "#")) or ">" in settings.base_iri or " " in settings.base_iri:
        raise SettingsError(f"{source}: base_iri must be an IRI ending with / or #")
    return settings
