"""Where a cold build spends its time: ``python -m bench.profile [--notes 1000]``.

Generates the benchmark's vault, runs :func:`sdwiki.build.build_site` once under cProfile (empty
output and cache), and prints sdwiki's own functions by cumulative time, then every function by
its own time. cProfile slows Python-heavy code more than native code, so read the shares, not
the absolute seconds.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.generate import generate


def _rows(stats: pstats.Stats, key: str, top: int, only: str | None) -> list[str]:
    entries = stats.stats  # type: ignore[attr-defined]
    rows = []
    for (file, line, func), (_cc, ncalls, tottime, cumtime, _callers) in entries.items():
        if only is not None and only not in file:
            continue
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
        rows.append((cumtime if key == "cumulative" else tottime, ncalls, tottime, cumtime, f"{where} {func}"))
    rows.sort(key=lambda r: -r[0])
    out = [f"{'cumulative':>11} {'own':>9} {'calls':>10}  function"]
    out += [f"{cum:10.2f}s {own:8.2f}s {n:10d}  {name}" for _, n, own, cum, name in rows[:top]]
    return out


def main(argv: Sequence[str] | None = None) -> None:
    from sdwiki.build import build_site
    from sdwiki.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--notes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--stats", type=Path, help="Also save the raw profile here (for snakeviz, pstats).")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sdwiki-profile-") as tmp:
        vault = generate(Path(tmp), args.notes, args.seed)
        profiler = cProfile.Profile()
        start = time.perf_counter()
        profiler.enable()
        build_site(vault.content, Path(tmp) / "site", Settings())
        profiler.disable()
        took = time.perf_counter() - start
    stats = pstats.Stats(profiler, stream=io.StringIO())
    if args.stats:
        stats.dump_stats(args.stats)
    print(f"cold build of {args.notes} notes under cProfile: {took:.1f} s\n")
    print("sdwiki's functions by cumulative time:")
    print("\n".join(_rows(stats, "cumulative", args.top, "/sdwiki/")))
    print("\nall functions by own time:")
    print("\n".join(_rows(stats, "own", args.top, None)))


if __name__ == "__main__":
    main()
