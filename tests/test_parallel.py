"""Work in forked processes: :func:`sdwiki.parallel.run_forked` (``serve``'s follow-up work)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sdwiki.parallel import ForkedError, run_forked

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
