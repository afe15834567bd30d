"""Work spread over the machine's cores: forked worker processes that inherit the build's memory.

Workers are forked after everything they need is in memory (the notes, the graph index, the
analytics), so they receive only small work items (file paths, IRIs) and send back results. Where
forking is unsafe (another thread is running, as in ``serve``) or not worth it (little work), the
same function runs in this process: results are identical either way.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_work: Callable[[Any], Any] | None = None
"""The function workers apply (set before the fork, so workers inherit it)."""
MIN_ITEMS = 400
"""Fewer items than this are not worth starting workers for (about a tenth of a second)."""
pools = 0
"""How many times work was spread over forked workers in this process (tests read it)."""


def default_jobs() -> int:
    """Worker processes to use: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _run(chunk: Sequence[Any]) -> list[Any]:
    assert _work is not None
    return [_work(item) for item in chunk]


def fork_map(fn: Callable[[T], R], items: Sequence[T], jobs: int) -> list[R]:
    """``[fn(x) for x in items]``, in ``jobs`` forked processes when that can help."""
    global _work, pools
    if (
        jobs <= 1
        or len(items) < MIN_ITEMS
        or threading.active_count() > 1
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return [fn(x) for x in items]
    size = max(1, min(64, len(items) // (jobs * 4)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    _work = fn
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            done = pool.map(_run, chunks, chunksize=1)
        pools += 1
    finally:
        _work = None
    return [r for chunk in done for r in chunk]
