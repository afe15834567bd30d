"""Running a command as a child process: wall time, peak memory, exit status."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Run:
    """One finished (or stopped) command."""

    seconds: float
    """Wall-clock time from start to exit."""
    peak_rss: int
    """The largest resident set, in bytes, of the command or any process it waited for."""
    returncode: int
    """The exit code; -N when killed by signal N."""
    timed_out: bool
    stderr: str
    """The last lines of standard error (for the reason a step failed)."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def reason(self) -> str:
        if self.timed_out:
            return f"did not finish within {self.seconds:.0f} s"
        tail = " ".join(self.stderr.strip().splitlines()[-3:])
        return f"exit {self.returncode}: {tail[:300]}" if tail else f"exit {self.returncode}"


def run(
    cmd: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Run:
    """Run ``cmd`` to completion (or until ``timeout``), measuring its own resource use.

    ``os.wait4`` gives the child's own rusage, so peak memory is this command's, not the largest of
    every child the benchmark ever started.
    """
    full_env = {**os.environ, **(env or {})}
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(c) for c in cmd],
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        stopped = threading.Event()

        def stop() -> None:
            stopped.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, stop) if timeout is not None else None
        if timer is not None:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read()[-4000:].decode("utf-8", "replace")
    return Run(seconds, usage.ru_maxrss * 1024, proc.returncode, stopped.is_set(), stderr)
