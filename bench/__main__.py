"""``python -m bench``: measure sdwiki against Hugo and raw pyoxigraph; print the table, write JSON."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.run import Options, report, run_all, write_json


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark sdwiki (builds, watch mode, SPARQL, endpoint) against Hugo on generated notes.",
    )
    parser.add_argument("--notes", type=int, nargs="+", default=[1000, 10000], help="Vault sizes (default 1000 10000).")
    parser.add_argument("--quick", action="store_true", help="One repetition; no serve (watch mode, endpoint).")
    parser.add_argument("--reps", type=int, default=3, help="Repetitions of each measurement (median; default 3).")
    parser.add_argument(
        "--budget",
        type=float,
        default=600.0,
        help="Seconds after which an sdwiki measurement is not repeated again (default 600).",
    )
    parser.add_argument("--seed", type=int, default=1, help="Seed of the generated notes (default 1).")
    parser.add_argument("--timeout", type=float, default=3600.0, help="Seconds any one step may take.")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"), help="Where to write the results.")
    parser.add_argument("--workdir", type=Path, help="Keep the vaults and sites here (default: a temporary folder).")
    parser.add_argument("-v", "--verbose", action="store_true", help="Say which step is running (on stderr).")
    args = parser.parse_args(argv)
    if any(n < 20 for n in args.notes) or args.reps < 1:
        parser.error("--notes must be at least 20 and --reps at least 1")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sdwiki-bench-"))
    options = Options(
        sizes=tuple(args.notes),
        quick=args.quick,
        seed=args.seed,
        reps=args.reps,
        budget=args.budget,
        timeout=args.timeout,
        workdir=workdir,
        verbose=args.verbose,
    )
    try:
        results = run_all(options, save=lambda partial: write_json(partial, args.json))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.write(report(results))
    print(f"\nresults: {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
