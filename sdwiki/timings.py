"""Wall-clock time per build stage, for ``sdwiki build --timings`` and the benchmark."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Timings:
    """Seconds spent in each named stage, in the order the stages first ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
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
