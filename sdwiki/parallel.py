"""Work in forked processes that inherit the build's memory.

:func:`fork_map` spreads work over the machine's cores. Workers are forked after everything
they need is in memory (the notes, the graph index, the analytics), so they receive only small
work items (file paths, IRIs) and send back results. Where forking is unsafe (another thread is
running, as in ``serve``) or not worth it (little work), the same function runs in this
process: results are identical either way.

:func:`run_forked` runs one piece of work in a copy of this process that can be killed at any
moment (``serve``'s follow-up work after a save). The copy runs only that function, with its
collector and the parent's signal handlers off, and exits without returning to the caller's
threads or event loop, so forking it from a threaded server is safe.
"""

from __future__ import annotations

import contextlib
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


class ForkedError(Exception):
    """The work run by :func:`run_forked` failed (its message says how) or its process died."""


def _child(fn: Callable[[], Any], conn: Any) -> None:
    import gc
    import signal

    gc.disable()  # a short-lived copy of a large process: a full collection would copy its every page
    with contextlib.suppress(OSError):  # work in the background: the next save comes first
        os.nice(10)
    with contextlib.suppress(ValueError):  # the parent's signal handlers and event loop are not ours
        signal.set_wakeup_fd(-1)
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_DFL)
    try:
        result: tuple[bool, Any] = (True, fn())
    except BaseException as exc:  # reported to the parent, which raises it there
        result = (False, f"{type(exc).__name__}: {exc}")
    conn.send(result)
    conn.close()


def run_forked(fn: Callable[[], R], stop: Callable[[], bool], poll: float = 0.005) -> R | None:
    """``fn()``, in a forked copy of this process that is killed as soon as ``stop()`` says yes
    (asked every ``poll`` seconds, and before starting): the answer is then None. The copy runs
    at a lower priority (``nice`` 10): it is background work, and the process that forked it
    may have a saved note to show meanwhile.

    The work may hold the interpreter for seconds at a time in one call (loading or writing a
    large graph); in its own process it leaves this one free, and stopping it takes no longer
    than killing it. What it changes in memory stays in the copy: only its result (pickled)
    comes back. A process that is killed may leave files half written: the caller cleans up.
    Where forking is not available, ``fn`` runs here and ``stop`` is asked only before it starts.
    """
    if stop():
        return None
    if "fork" not in multiprocessing.get_all_start_methods():
        return fn()
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(fn, send), daemon=True)
    process.start()
    send.close()
    try:
        while not receive.poll(poll):  # a copy that dies unanswered closes the pipe: poll says yes
            if stop():
                return None
        try:
            ok, result = receive.recv()
        except EOFError:
            process.join()
            raise ForkedError(f"the work's process ended without an answer (exit code {process.exitcode})") from None
    finally:
        receive.close()
        if process.is_alive():
            process.kill()
        process.join()
        process.close()
    if not ok:
        raise ForkedError(result)
    answer: R = result
    return answer
