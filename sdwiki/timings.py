"""Wall-clock time per build stage, for ``sdwiki build --timings`` and the benchmark."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO


class Timings:
    """Seconds spent in each named stage, in the order the stages first ran."""

    def __init__(self, listener: Callable[[str], None] | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self.listener = listener
        """Told the name of each stage as it starts (a progress line on a terminal)."""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.listener is not None:
            self.listener(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def report(self) -> str:
        total = sum(self.seconds.values()) or 1.0
        width = max((len(n) for n in self.seconds), default=5)
        lines = [f"{name:<{width}}  {s:8.3f}s  {100 * s / total:5.1f}%" for name, s in self.seconds.items()]
        return "\n".join([*lines, f"{'total':<{width}}  {sum(self.seconds.values()):8.3f}s"])


class Progress:
    """A one-line progress display on a terminal: the running stage and the time so far.

    Silent unless ``stream`` is a terminal and no ``CI`` variable is set, so logs stay clean.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() and not os.environ.get("CI")
        self.start = time.perf_counter()

    def __call__(self, stage: str) -> None:
        if self.enabled:
            took = time.perf_counter() - self.start
            self.stream.write(f"\r\033[K{took:6.1f}s  {stage}…")
            self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()
