"""Remote SPARQL stores: publishing through the Graph Store Protocol, and remote queries."""

from __future__ import annotations

from sdwiki.pipeline import Project


class RemoteError(Exception):
    """The remote store refused or could not be reached."""


def remote_query(endpoint: str, text: str, fmt: str) -> str:
    raise RemoteError("--endpoint is not available yet in this version")


def publish(
    project: Project, endpoint: str, graph: str | None, user: str | None, password: str | None
) -> int:
    raise RemoteError("publish is not available yet in this version")
