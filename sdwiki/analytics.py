"""Network analysis of the graph (networkx)."""

from __future__ import annotations

from sdwiki.pipeline import Project


class PathError(Exception):
    """No such entity, or no path between the two."""


def stats_report(project: Project, fmt: str) -> str:
    raise PathError("stats is not available yet in this version")


def explain_path(project: Project, a: str, b: str, all_paths: bool) -> str:
    raise PathError("path is not available yet in this version")


def export_network(project: Project, fmt: str) -> str:
    raise PathError("network export is not available yet in this version")
