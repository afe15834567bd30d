"""Work in forked processes that inherit the build's memory.

:func:`fork_map` spreads work over the machine's cores. Workers are forked after everything
they need is in memory (the notes, the graph index, the analytics), so they receive only small
work items (file paths, IRIs) and send back results. Where forking is unsafe (another thread is
running, as in ``serve``) or not worth it (little work), the same function runs in this
process: results are identical either way.

:func:`beside` starts one piece of work in a copy of this process and lets this one go on
meanwhile (the command line's N-Quads file). :func:`run_forked` runs one piece of work in a copy
of this process that can be killed at any moment (``serve``'s follow-up work after a save). The
copy runs only that function, with its collector and the parent's signal handlers off, and exits
without returning to the caller's threads or event loop, so forking it from a threaded server is
safe.

Once such a copy is gone, :func:`own_pages` makes this process's memory its own again ahead of
time (see there): otherwise the next save would pay for it, page by page.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_work: Callable[[Any], Any] | None = None
"""The function workers apply (set before the fork, so workers inherit it)."""
MIN_ITEMS = 400
"""Fewer items than this are not worth starting workers for (about a tenth of a second)."""
pools = 0
"""How many times work was spread over forked workers in this process (tests read it)."""
besides = 0
"""How many times :func:`beside` started work in a copy of this process (tests read it)."""


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


MADV_POPULATE_WRITE = 23
"""``madvise``'s advice to fault pages in writable without writing to them (Linux 5.14)."""
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_CHUNK = 2048
"""Pages made writable per call: between calls, a new copy of this process stops the work."""
_copies = 0
"""Copies of this process made by :func:`run_forked` and not yet gone."""
_owning: threading.Thread | None = None
_lock = threading.Lock()
owned = 0
"""Pages :func:`own_pages` made writable in this process, all told (tests read it)."""


def own_pages(wait: bool = False) -> None:
    """After a forked copy of this process is gone, fault this process's memory in writable
    now, in a thread, instead of at the first write to each page.

    Forking shares every page with the copy and marks it read-only in both; once the copy is
    gone, the first write to each page still takes a fault to make it writable again. In a 3 GB
    ``serve`` at 10,000 notes, the save after each copy took 60,000-110,000 such faults (about
    half its time), and a reference count changed is a write. ``madvise(MADV_POPULATE_WRITE)``
    takes those faults in the kernel for the pages present (``/proc/self/pagemap``) of the
    process's private writable memory, without writing to them and without the interpreter's
    lock: a save meanwhile runs beside it. It stops as soon as another copy is made (it would
    copy the pages the two still share). Where the kernel lacks the advice, nothing is done.
    """
    global _owning
    with _lock:
        if _copies or not os.path.exists("/proc/self/pagemap"):
            return
        if _owning is None or not _owning.is_alive():
            _owning = threading.Thread(target=_own_pages, name="sdwiki-own-pages", daemon=True)
            _owning.start()
        thread = _owning
    if wait:
        thread.join()


def owning() -> bool:
    """Whether :func:`own_pages` is at work (in the background, after a forked copy ended)."""
    thread = _owning
    return thread is not None and thread.is_alive()


def _own_pages() -> None:
    global owned
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        with open("/proc/self/pagemap", "rb", buffering=0) as pagemap:
            for start, end in _private_memory():
                for first in range(start, end, _CHUNK * _PAGE):
                    if _copies:
                        return
                    count = min(_CHUNK, (end - first) // _PAGE)
                    entries = os.pread(pagemap.fileno(), count * 8, first // _PAGE * 8)
                    for run_start, run_end in _present_runs(entries):
                        if madvise(first + run_start * _PAGE, (run_end - run_start) * _PAGE, MADV_POPULATE_WRITE):
                            if ctypes.get_errno() == 22:  # EINVAL: an older kernel, or memory not so used
                                return
                            continue
                        owned += run_end - run_start
    except (OSError, AttributeError):  # no such interface here: the pages fault in as they are written
        return


def _private_memory() -> list[tuple[int, int]]:
    """The address ranges of this process's private, writable, anonymous memory (its heap)."""
    out = []
    with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) < 5 or fields[1] != "rw-p" or (len(fields) > 5 and fields[5] != "[heap]"):
                continue
            start, _, end = fields[0].partition("-")
            out.append((int(start, 16), int(end, 16)))
    return out


_PRESENT = bytes(1 if b & 0x80 else 0 for b in range(256))


def _present_runs(entries: bytes) -> list[tuple[int, int]]:
    """The runs of present pages in ``/proc/self/pagemap`` entries (bit 63 of each 8 bytes,
    little-endian), as (first, end) page numbers."""
    flags = entries[7::8].translate(_PRESENT)
    runs = []
    at = flags.find(1)
    while at >= 0:
        end = flags.find(0, at)
        end = len(flags) if end < 0 else end
        runs.append((at, end))
        at = flags.find(1, end)
    return runs


class ForkedError(Exception):
    """The work run by :func:`run_forked` or :func:`beside` failed (its message says how) or its
    process died."""


def _child(fn: Callable[[], Any], conn: Any, background: bool) -> None:
    import gc
    import signal

    gc.disable()  # a short-lived copy of a large process: a full collection would copy its every page
    if background:
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
    process, receive = _fork(fn, background=True)
    try:
        while not receive.poll(poll):  # a copy that dies unanswered closes the pipe: poll says yes
            if stop():
                return None
        answer: R = _answer(process, receive)
    finally:
        _reap(process, receive)
        own_pages()
    return answer


def _fork(fn: Callable[[], Any], background: bool) -> tuple[BaseProcess, Connection]:
    """A copy of this process running ``fn`` (see :func:`_child`), and where its answer comes."""
    global _copies
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(fn, send, background), daemon=True)
    with _lock:
        _copies += 1
    try:
        process.start()
    except BaseException:
        with _lock:
            _copies -= 1
        receive.close()
        raise
    finally:
        send.close()
    return process, receive


def _answer(process: BaseProcess, receive: Connection) -> Any:
    """The copy's answer (waited for), or :class:`ForkedError` if its work failed or it died."""
    try:
        ok, result = receive.recv()
    except EOFError:
        process.join()
        raise ForkedError(f"the work's process ended without an answer (exit code {process.exitcode})") from None
    if not ok:
        raise ForkedError(result)
    return result


def _reap(process: BaseProcess, receive: Connection) -> None:
    """The copy gone (killed if it still runs), and counted out."""
    global _copies
    receive.close()
    if process.is_alive():
        process.kill()
    process.join()
    process.close()
    with _lock:
        _copies -= 1


def beside(fn: Callable[[], R], jobs: int, items: int) -> Callable[[], R]:
    """Start ``fn()`` in a forked copy of this process and return what waits for its answer, so
    that this process goes on with other work meanwhile. The copy sees memory as it was at the
    fork; what it changes stays there, and only its answer (pickled) comes back. Where a copy
    cannot help or is not safe (one job, fewer than :data:`MIN_ITEMS` ``items`` of work, another
    thread running, no fork), ``fn`` itself is returned: it runs here when its answer is asked
    for. Ask for the answer once.
    """
    if (
        jobs <= 1
        or items < MIN_ITEMS
        or threading.active_count() > 1
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return fn
    global besides
    process, receive = _fork(fn, background=False)
    besides += 1

    def answer() -> R:
        try:
            done: R = _answer(process, receive)
        finally:
            _reap(process, receive)
        return done

    return answer
