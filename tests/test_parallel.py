"""Work in forked processes: :func:`sdwiki.parallel.run_forked` (``serve``'s follow-up work),
:func:`sdwiki.parallel.own_pages` once it is done, and :func:`sdwiki.parallel.beside` (work
done in a copy while this process goes on)."""

from __future__ import annotations

import os
import platform
import resource
import sys
import threading
import time
from pathlib import Path

import pytest

from sdwiki import parallel
from sdwiki.parallel import ForkedError, beside, run_forked

STATE = {"touched": False}


def test_the_answer_comes_back_and_what_the_copy_changes_stays_there() -> None:
    def work() -> tuple[int, bool]:
        STATE["touched"] = True
        return os.getpid(), STATE["touched"]

    pid, touched = run_forked(work, lambda: False) or (0, False)
    assert pid not in (0, os.getpid()) and touched  # made in another process…
    assert STATE["touched"] is False  # …whose memory is its own


def test_a_failure_in_the_copy_is_raised_here_with_its_message() -> None:
    def work() -> None:
        raise OSError("the disk is full")

    with pytest.raises(ForkedError, match="OSError: the disk is full"):
        run_forked(work, lambda: False)

    def dies() -> None:
        os._exit(3)

    with pytest.raises(ForkedError, match="exit code 3"):
        run_forked(dies, lambda: False)


def test_stopping_kills_the_work_at_once_even_inside_one_long_call(tmp_path: Path) -> None:
    started, finished = tmp_path / "started", tmp_path / "finished"

    def work() -> str:
        started.write_text(str(os.getpid()))
        time.sleep(60)  # one call that never returns to ask whether to stop
        finished.write_text("done")
        return "done"

    asked = time.monotonic()
    assert run_forked(work, started.exists) is None
    assert time.monotonic() - asked < 30 and not finished.exists()
    pid = int(started.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        os.kill(pid, 0)


def test_nothing_starts_when_it_is_already_time_to_stop(tmp_path: Path) -> None:
    def work() -> str:
        (tmp_path / "ran").touch()
        return "ran"

    assert run_forked(work, lambda: True) is None
    assert not (tmp_path / "ran").exists()


def test_the_copy_works_at_a_lower_priority_than_the_process_that_forked_it() -> None:
    """The follow-up work must not take the processor from the next save."""
    here = os.getpriority(os.PRIO_PROCESS, 0)
    there = run_forked(lambda: os.getpriority(os.PRIO_PROCESS, 0), lambda: False)
    assert there == min(here + 10, 19)
    assert os.getpriority(os.PRIO_PROCESS, 0) == here


def _write_faults(buf: bytearray) -> int:
    """Minor page faults taken while writing one byte in each page of ``buf``."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for at in range(0, len(buf), 4096):
        buf[at] = 1
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def _populate_write_known() -> bool:
    major, minor = (int(x) for x in platform.release().split(".")[:2])
    return sys.platform == "linux" and (major, minor) >= (5, 14)


@pytest.mark.skipif(not _populate_write_known(), reason="MADV_POPULATE_WRITE needs Linux 5.14")
def test_once_the_copy_is_gone_the_memory_is_made_writable_ahead_of_the_next_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fork leaves every page read-only until written: the next save would take a fault per
    page it writes. :func:`own_pages` takes them beforehand, in the kernel."""
    buf = bytearray(b"x" * (64 << 20))  # 16,384 pages, every one written once
    pages = len(buf) // 4096
    with monkeypatch.context() as m:  # first without: each page written after the fork faults
        m.setattr(parallel, "own_pages", lambda wait=False: None)
        assert run_forked(lambda: None, lambda: False) is None
        assert _write_faults(buf) > pages * 0.9
    assert run_forked(lambda: None, lambda: False) is None  # starts own_pages in a thread
    parallel.own_pages(wait=True)
    assert not parallel.owning()
    assert _write_faults(buf) < pages * 0.1


def test_memory_is_not_made_writable_while_a_copy_still_shares_it(tmp_path: Path) -> None:
    """While a copy lives, making a page writable would copy it: own_pages waits for it to go."""
    started = tmp_path / "started"
    seen: list[int] = []

    def stop() -> bool:
        if started.exists():
            before = parallel.owned
            parallel.own_pages(wait=True)
            seen.append(parallel.owned - before)
            return True
        return False

    def work() -> None:
        started.touch()
        time.sleep(60)

    assert run_forked(work, stop) is None
    assert seen == [0]


@pytest.fixture
def one_thread() -> None:
    """No thread but this one (an earlier test's :func:`own_pages` may still be at work)."""
    deadline = time.monotonic() + 30
    while threading.active_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == 1


@pytest.mark.usefixtures("one_thread")
def test_work_beside_runs_in_a_copy_while_this_process_goes_on(tmp_path: Path) -> None:
    started = tmp_path / "started"

    def work() -> tuple[int, bool]:
        STATE["touched"] = True
        started.write_text("yes")
        time.sleep(0.3)
        return os.getpid(), STATE["touched"]

    before = parallel.besides
    answer = beside(work, 2, parallel.MIN_ITEMS)
    assert parallel.besides == before + 1
    deadline = time.monotonic() + 10
    while not started.exists() and time.monotonic() < deadline:  # this process is free meanwhile
        time.sleep(0.01)
    assert started.exists()
    pid, touched = answer()
    assert pid != os.getpid() and touched
    assert STATE["touched"] is False


@pytest.mark.usefixtures("one_thread")
def test_work_beside_runs_here_with_one_job_little_work_or_beside_another_thread() -> None:
    def work() -> int:
        return os.getpid()

    assert beside(work, 1, parallel.MIN_ITEMS) is work
    assert beside(work, 2, parallel.MIN_ITEMS - 1) is work  # too little work for a copy
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert beside(work, 2, parallel.MIN_ITEMS) is work  # a fork beside another thread is not safe
    finally:
        stop.set()
        thread.join()
    assert beside(work, 2, parallel.MIN_ITEMS)() != os.getpid()


@pytest.mark.usefixtures("one_thread")
def test_a_failure_beside_is_raised_when_the_answer_is_asked_for() -> None:
    def work() -> None:
        raise ValueError("no room")

    answer = beside(work, 2, parallel.MIN_ITEMS)
    with pytest.raises(ForkedError, match="ValueError: no room"):
        answer()

    def dies() -> None:
        os._exit(4)

    with pytest.raises(ForkedError, match="exit code 4"):
        beside(dies, 2, parallel.MIN_ITEMS)()
