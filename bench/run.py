"""The benchmark: one run, the same notes, sdwiki against Hugo and raw pyoxigraph.

For each size it generates a vault (:mod:`bench.generate`), then measures in order: Hugo's build
(median of the repetitions), sdwiki's cold build (empty output and cache folders), a rebuild with
nothing changed, a rebuild after editing one note, the build's peak memory, SPARQL latency
(:mod:`bench.sparql`), and, unless ``quick``, ``sdwiki serve``: edit-to-HTML latency in watch
mode and ``/sparql`` throughput (:mod:`bench.serve`). Every step has a time limit; a step that
cannot run is reported as n/a with its reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.generate import Vault, generate
from bench.hugo import hugo_build, hugo_version
from bench.process import Run, run
from bench.serve import ServeError, Server, edit_note, median, settle_server, throughput, watch_latency
from bench.sparql import aggregate_queries

Value = float | int | str | None
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Options:
    sizes: tuple[int, ...] = (1000, 10000)
    quick: bool = False
    """One repetition; no ``serve`` (watch mode, endpoint)."""
    seed: int = 1
    reps: int = 3
    """Repetitions of each measurement (the median is reported); Hugo always gets them all."""
    budget: float = 600.0
    """Seconds after which a measurement of sdwiki is not repeated again (long builds run fewer times)."""
    timeout: float = 3600.0
    """Seconds any one step may take."""
    workdir: Path = Path("bench-work")
    verbose: bool = False


@dataclass
class SizeResult:
    notes: int
    metrics: dict[str, Value] = field(default_factory=dict)
    na: dict[str, str] = field(default_factory=dict)
    """Why a metric could not be measured."""

    def put(self, name: str, value: Value) -> None:
        self.metrics[name] = value

    def skip(self, names: Sequence[str], reason: str) -> None:
        for name in names:
            self.metrics[name] = None
            self.na[name] = reason

    def num(self, name: str) -> float | None:
        value = self.metrics.get(name)
        return float(value) if isinstance(value, int | float) else None

    def ratio(self, a: str, b: str) -> float | None:
        x, y = self.num(a), self.num(b)
        return x / y if x is not None and y else None


def _say(options: Options, message: str) -> None:
    if options.verbose:
        print(message, file=sys.stderr, flush=True)


def page_of(title: str) -> str:
    """The site address of a concept page, as sdwiki writes it."""
    from sdwiki.slugs import slugify

    return f"concept/{slugify(title)}"


def cache_folders(site: Path, folder: Path) -> list[Path]:
    """Every place a build may keep its cache: emptied before each cold build."""
    found = [folder / "cache"]  # XDG_CACHE_HOME of the build
    try:
        from sdwiki.build import cache_dir
    except ImportError:
        return found
    return [*found, cache_dir(site)]


def sdwiki_build(content: Path, output: Path, workdir: Path, timeout: float) -> Run:
    """``sdwiki build`` as a user runs it, from a folder without settings, with its own cache folder."""
    cwd = workdir / "cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    env = {"XDG_CACHE_HOME": str(workdir / "cache")}
    return run([sys.executable, "-m", "sdwiki", "build", content, "-o", output], cwd=cwd, env=env, timeout=timeout)


def measure_size(notes: int, options: Options) -> SizeResult:
    result = SizeResult(notes)
    result.put("load_average_at_start", os.getloadavg()[0])
    folder = (options.workdir / f"n{notes}").absolute()
    shutil.rmtree(folder, ignore_errors=True)
    vault = generate(folder, notes, options.seed)
    reps = 1 if options.quick else options.reps
    options = replace(options, reps=reps)
    _say(options, f"{notes} notes: generated in {folder}")
    _hugo(vault, folder, options, result)
    _say(options, f"{notes} notes: hugo {result.metrics.get('hugo_build_s')}")
    _builds(vault, folder, options, result)
    _say(options, f"{notes} notes: sdwiki builds {result.metrics.get('cold_build_s')}")
    _sparql(vault, folder, 2 if options.quick else 5, options, result)
    _say(options, f"{notes} notes: sparql done")
    if options.quick:
        result.skip(SERVE_METRICS, "skipped (--quick)")
    else:
        _serve(vault, folder, options, result)
        _say(options, f"{notes} notes: serve done")
    return result


def _hugo(vault: Vault, folder: Path, options: Options, result: SizeResult) -> None:
    times: list[float] = []
    peak = 0
    for _ in range(options.reps):
        outcome = hugo_build(vault.hugo, folder / "hugo-public", options.timeout)
        if isinstance(outcome, str):
            result.skip(["hugo_build_s", "hugo_peak_mb"], outcome)
            return
        times.append(outcome.seconds)
        peak = max(peak, outcome.peak_rss)
    result.put("hugo_build_s", statistics.median(times))
    result.put("hugo_peak_mb", peak / MB)


BUILD_METRICS = ("cold_build_s", "build_peak_mb", "nochange_rebuild_s", "edit_rebuild_s", "site_files", "site_mb")
IDENTITY_CHECKS = ("cold_identical", "nochange_identical", "revert_identical")
"""Byte-identity of the site: across cold builds, after a no-change rebuild, after an edit is undone."""


def site_digests(site: Path) -> dict[str, str]:
    """Every file of the site (its path under ``site``) and the SHA-256 of its bytes."""
    out = {}
    for path in sorted(site.rglob("*")):
        if path.is_file():
            out[path.relative_to(site).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _differences(a: dict[str, str], b: dict[str, str]) -> str:
    changed = sorted(k for k in a.keys() & b.keys() if a[k] != b[k])
    only = sorted(a.keys() ^ b.keys())
    shown = ", ".join([*changed, *only][:5])
    return f"{len(changed)} files differ, {len(only)} on one side only (e.g. {shown})"


def _identical(result: SizeResult, name: str, before: dict[str, str], after: dict[str, str]) -> None:
    result.put(name, before == after)
    if before != after:
        result.na[name] = _differences(before, after)


def _repeat(options: Options, step: Callable[[int], Run | str]) -> list[Run] | str:
    """Run ``step(k)`` up to ``options.reps`` times, fewer once ``options.budget`` is spent.

    A step returns its finished :class:`Run`, or the reason it failed (which ends the repetitions).
    """
    runs: list[Run] = []
    for k in range(options.reps):
        outcome = step(k)
        if isinstance(outcome, str):
            return outcome
        runs.append(outcome)
        if sum(r.seconds for r in runs) + outcome.seconds > options.budget:
            break
    return runs


def _builds(vault: Vault, folder: Path, options: Options, result: SizeResult) -> None:
    site = folder / "site"
    snapshots: list[dict[str, str]] = []

    def build() -> Run | str:
        outcome = sdwiki_build(vault.content, site, folder, options.timeout)
        return outcome if outcome.ok else f"sdwiki build failed: {outcome.reason()}"

    def cold(_: int) -> Run | str:
        shutil.rmtree(site, ignore_errors=True)
        for cache in cache_folders(site, folder):
            shutil.rmtree(cache, ignore_errors=True)
        outcome = build()
        if isinstance(outcome, Run):
            snapshots.append(site_digests(site))
        return outcome

    runs = _repeat(options, cold)
    if isinstance(runs, str):
        result.skip([*BUILD_METRICS, *IDENTITY_CHECKS], runs)
        return
    snapshot = snapshots[-1]
    result.put("cold_build_s", statistics.median(r.seconds for r in runs))
    result.put("cold_build_runs", len(runs))
    result.put("build_peak_mb", max(r.peak_rss for r in runs) / MB)
    result.put("site_files", len(snapshot))
    result.put("site_mb", sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / MB)
    if len(snapshots) > 1:
        _identical(result, "cold_identical", snapshots[0], snapshots[1])

    def unchanged(_: int) -> Run | str:
        outcome = build()
        if isinstance(outcome, Run) and result.metrics.get("nochange_identical", True):
            _identical(result, "nochange_identical", snapshot, site_digests(site))
        return outcome

    runs = _repeat(options, unchanged)
    if isinstance(runs, str):
        result.skip(["nochange_rebuild_s", "nochange_identical"], runs)
    else:
        result.put("nochange_rebuild_s", statistics.median(r.seconds for r in runs))
        result.put("nochange_rebuild_runs", len(runs))
        result.put("nochange_peak_mb", max(r.peak_rss for r in runs) / MB)

    title = vault.concepts[len(vault.concepts) // 2]
    note = vault.concept_path(title)
    original = note.read_bytes()
    page = site / page_of(title) / "index.html"

    def edited(k: int) -> Run | str:
        marker = f"cli-edit-{k}"
        edit_note(note, marker)
        outcome = build()
        if isinstance(outcome, Run) and (not page.is_file() or marker.encode() not in page.read_bytes()):
            return f"the edit did not reach {page.relative_to(site)}"
        return outcome

    runs = _repeat(options, edited)
    if isinstance(runs, str):
        result.skip(["edit_rebuild_s"], runs)
    else:
        result.put("edit_rebuild_s", statistics.median(r.seconds for r in runs))
        result.put("edit_rebuild_runs", len(runs))
    note.write_bytes(original)
    outcome = build()
    if isinstance(outcome, Run):
        _identical(result, "revert_identical", snapshot, site_digests(site))
    else:
        result.skip(["revert_identical"], outcome)


SPARQL_ENGINES = ("raw", "oxigraph", "rdflib")
RDFLIB_MEMORY_GB = 12.0
"""rdflib's in-memory store holds every quad as Python objects: capped so it cannot exhaust the machine."""


def _sparql(vault: Vault, folder: Path, reps: int, options: Options, result: SizeResult) -> None:
    """Raw pyoxigraph and sdwiki/Oxigraph in one child; rdflib in another, with a memory cap."""
    data: dict[str, dict[str, object]] = {}
    reasons: dict[str, str] = {}
    for engines, memory in (("raw,oxigraph", None), ("rdflib", RDFLIB_MEMORY_GB)):
        out = folder / f"sparql-{engines.replace(',', '-')}.json"
        out.unlink(missing_ok=True)
        cmd: list[str | Path] = [sys.executable, "-m", "bench.sparql", vault.content, out, "--engines", engines]
        cmd += ["--reps", str(reps), "--budget", str(min(300.0, options.timeout / 4))]
        if memory:
            cmd += ["--memory-gb", str(memory)]
        outcome = run(cmd, cwd=Path(__file__).resolve().parent.parent, timeout=options.timeout)
        if out.is_file():
            data.update(json.loads(out.read_text("utf-8")))
        if not outcome.ok:
            reason = outcome.reason()
            if memory and "MemoryError" in outcome.stderr:
                reason = f"needs more than {memory:g} GB of address space (MemoryError)"
            for engine in engines.split(","):
                reasons[engine] = reason
    for engine in SPARQL_ENGINES:
        names = [f"sparql_{engine}_p50_ms", f"sparql_{engine}_p95_ms"]
        stats = data.get(engine)
        if not isinstance(stats, dict) or stats.get("p50_ms") is None:
            result.skip(names, f"not measured: {reasons.get(engine, 'no result')}")
            continue
        result.put(names[0], stats["p50_ms"])  # type: ignore[arg-type]
        result.put(names[1], stats["p95_ms"])  # type: ignore[arg-type]
        result.put(f"sparql_{engine}_load_s", stats["load_s"])  # type: ignore[arg-type]
        if not stats.get("complete"):
            result.na[names[0]] = result.na[names[1]] = f"only {stats['samples']} queries within the time budget"
        for shape, ms in dict(stats.get("shapes_p50_ms") or {}).items():  # type: ignore[call-overload]
            result.put(f"sparql_{engine}_{shape}_p50_ms", ms)
    if "mismatch" in data:
        result.na["sparql_oxigraph_p50_ms"] = str(data["mismatch"])


SERVE_METRICS = (
    "serve_startup_s",
    "watch_disk_ms",
    "watch_browser_ms",
    "serve_settle_s",
    "endpoint_simple_qps",
    "endpoint_simple_errors",
    "endpoint_aggregate_qps",
    "endpoint_aggregate_errors",
    "endpoint_cached_qps",
)
SIMPLE_REQUESTS = 12000
"""Distinct lookups asked (fewer where the vault has fewer names): enough for a window of seconds,
not one a pause can dominate."""
AGGREGATE_REQUESTS = 200


def simple_queries(vault: Vault, count: int) -> list[str]:
    """Distinct lookups (by label, by alias), so the endpoint's reply cache cannot answer them."""
    from bench.generate import plural

    names = [*vault.concepts, *vault.thinkers]
    forms = [
        *(f'SELECT ?s WHERE {{ ?s rdfs:label "{n}" }}' for n in names),
        *(f'SELECT ?s WHERE {{ ?s skos:altLabel "{plural(n)}" }}' for n in vault.concepts),
    ]
    return forms[:count]


def _serve(vault: Vault, folder: Path, options: Options, result: SizeResult) -> None:
    with Server(vault.content, folder) as server:
        try:
            server.start(options.timeout)
        except ServeError as exc:
            result.skip(SERVE_METRICS, str(exc))
            return
        result.put("serve_startup_s", server.startup_seconds)
        title = vault.concepts[len(vault.concepts) // 3]
        watch = watch_latency(server, vault.concept_path(title), page_of(title), max(3, options.reps), options.timeout)
        result.put("watch_disk_ms", median(watch.disk_ms))
        result.put("watch_browser_ms", median(watch.browser_ms))
        if watch.problem:
            for name in ("watch_disk_ms", "watch_browser_ms"):
                if result.metrics[name] is None:
                    result.na[name] = watch.problem
        # the last save's follow-up work (whole-graph files, the endpoint) ends before throughput is measured
        result.put("serve_settle_s", settle_server(server, options.timeout))
        status, _ = _probe(server)
        if status != 200:
            result.skip(SERVE_METRICS[4:], f"/sparql answered {status}")
            return
        for name, queries in (
            ("simple", simple_queries(vault, SIMPLE_REQUESTS)),
            ("aggregate", aggregate_queries(AGGREGATE_REQUESTS)),
            ("cached", [simple_queries(vault, 1)[0]] * SIMPLE_REQUESTS),
        ):
            t = throughput(server, queries, limit=min(120.0, options.timeout))
            result.put(f"endpoint_{name}_qps", t.per_second)
            if name != "cached":
                result.put(f"endpoint_{name}_errors", t.errors)
            if t.requests < len(queries):
                result.na[f"endpoint_{name}_qps"] = f"{t.requests} of {len(queries)} requests within the time limit"


def _probe(server: Server) -> tuple[int, bytes]:
    try:
        return server.get("/sparql?query=ASK%7B%7D")
    except OSError as exc:
        return 0, str(exc).encode()


# -- targets and report ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    value: Callable[[SizeResult], float | None]
    limit: float
    at_most: bool
    unit: str


TARGETS = (
    Target("cold build ≤ 1.0 × Hugo", lambda r: r.ratio("cold_build_s", "hugo_build_s"), 1.0, True, "×"),
    Target("no-change rebuild ≤ 0.2 × Hugo", lambda r: r.ratio("nochange_rebuild_s", "hugo_build_s"), 0.2, True, "×"),
    Target("one-note edit (CLI) ≤ 0.2 × Hugo", lambda r: r.ratio("edit_rebuild_s", "hugo_build_s"), 0.2, True, "×"),
    Target("watch: edit on disk as HTML ≤ 100 ms", lambda r: r.num("watch_disk_ms"), 100, True, " ms"),
    Target("watch: edit in the browser ≤ 300 ms", lambda r: r.num("watch_browser_ms"), 300, True, " ms"),
    Target("build peak memory ≤ 600 MB", lambda r: r.num("build_peak_mb"), 600, True, " MB"),
    Target(
        "SPARQL p50 ≤ 1.2 × raw pyoxigraph",
        lambda r: r.ratio("sparql_oxigraph_p50_ms", "sparql_raw_p50_ms"),
        1.2,
        True,
        "×",
    ),
    Target(
        "SPARQL p95 ≤ 1.2 × raw pyoxigraph",
        lambda r: r.ratio("sparql_oxigraph_p95_ms", "sparql_raw_p95_ms"),
        1.2,
        True,
        "×",
    ),
    Target("endpoint ≥ 3,000 simple q/s (8 clients)", lambda r: r.num("endpoint_simple_qps"), 3000, False, " q/s"),
    Target("endpoint ≥ 50 aggregate q/s (8 clients)", lambda r: r.num("endpoint_aggregate_qps"), 50, False, " q/s"),
    Target(
        "endpoint errors = 0",
        lambda r: _sum(r.num("endpoint_simple_errors"), r.num("endpoint_aggregate_errors")),
        0,
        True,
        "",
    ),
)


def _sum(*values: float | None) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def judge(result: SizeResult) -> list[dict[str, Value]]:
    out: list[dict[str, Value]] = []
    for t in TARGETS:
        value = t.value(result)
        if value is None:
            status = "n/a"
        else:
            ok = value <= t.limit if t.at_most else value >= t.limit
            status = "pass" if ok else "FAIL"
        out.append({"target": t.name, "value": value, "limit": t.limit, "unit": t.unit, "status": status})
    return out


def machine() -> dict[str, str]:
    repo = Path(__file__).resolve().parent.parent

    def sh(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=repo).stdout.strip()
        except OSError:
            return "unknown"

    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from sdwiki import __version__

    return {
        "nproc": sh("nproc"),
        "cpu": cpu,
        "memory": sh("free", "-h"),
        "os": platform.platform(),
        "python": platform.python_version(),
        "hugo": hugo_version(),
        "sdwiki": __version__,
        "commit": (sh("git", "rev-parse", "--short", "HEAD") or "unknown")
        + (" (with uncommitted changes)" if sh("git", "status", "--porcelain", "--", "sdwiki", "ontology") else ""),
    }


def run_all(options: Options, save: Callable[[dict[str, object]], None] | None = None) -> dict[str, object]:
    """Measure every size; ``save`` gets the results so far after each size (a long run keeps them)."""
    options.workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {
        "machine": machine(),
        "options": {
            "sizes": list(options.sizes),
            "quick": options.quick,
            "seed": options.seed,
            "reps": options.reps,
            "budget": options.budget,
        },
        "sizes": {},
    }
    sizes: dict[str, object] = results["sizes"]  # type: ignore[assignment]
    for n in options.sizes:
        r = measure_size(n, options)
        sizes[str(r.notes)] = {"metrics": r.metrics, "na": r.na, "targets": judge(r)}
        if save is not None:
            save(results)
    return results


# -- the table -------------------------------------------------------------------------------

ROWS: tuple[tuple[str, str, str, str | None], ...] = (
    # (label, metric, unit, ratio-to metric)
    ("Hugo build (median)", "hugo_build_s", "s", None),
    ("Hugo peak memory", "hugo_peak_mb", "MB", None),
    ("sdwiki cold build", "cold_build_s", "s", "hugo_build_s"),
    ("sdwiki no-change rebuild", "nochange_rebuild_s", "s", "hugo_build_s"),
    ("sdwiki rebuild after 1 edit (CLI)", "edit_rebuild_s", "s", "hugo_build_s"),
    ("sdwiki build peak memory", "build_peak_mb", "MB", "hugo_peak_mb"),
    ("site files / size", "site_files", "files", None),
    ("byte-identical: 2 cold builds", "cold_identical", "bool", None),
    ("byte-identical: cold vs no-change rebuild", "nochange_identical", "bool", None),
    ("byte-identical: cold vs edit undone + rebuild", "revert_identical", "bool", None),
    ("serve: start-up (first build)", "serve_startup_s", "s", "hugo_build_s"),
    ("watch: edit → HTML on disk", "watch_disk_ms", "ms", None),
    ("watch: edit → page reloaded", "watch_browser_ms", "ms", None),
    ("watch: last edit → server idle", "serve_settle_s", "s", None),
    ("SPARQL raw pyoxigraph p50", "sparql_raw_p50_ms", "ms", None),
    ("SPARQL raw pyoxigraph p95", "sparql_raw_p95_ms", "ms", None),
    ("SPARQL sdwiki/oxigraph p50", "sparql_oxigraph_p50_ms", "ms", "sparql_raw_p50_ms"),
    ("SPARQL sdwiki/oxigraph p95", "sparql_oxigraph_p95_ms", "ms", "sparql_raw_p95_ms"),
    ("SPARQL sdwiki/rdflib p50", "sparql_rdflib_p50_ms", "ms", "sparql_raw_p50_ms"),
    ("SPARQL sdwiki/rdflib p95", "sparql_rdflib_p95_ms", "ms", "sparql_raw_p95_ms"),
    ("endpoint simple q/s (8 clients)", "endpoint_simple_qps", "q/s", None),
    ("endpoint aggregate q/s (8 clients)", "endpoint_aggregate_qps", "q/s", None),
    ("endpoint errors (simple + aggregate)", "endpoint_simple_errors", "", None),
    ("endpoint repeated query q/s (cached)", "endpoint_cached_qps", "q/s", None),
)
SHAPES = ("lookup", "backlinks", "two_hop", "group_by", "contains")


def _fmt(value: float, unit: str) -> str:
    if unit in ("s",):
        return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"
    if unit in ("MB", "q/s"):
        return f"{value:,.0f} {unit}"
    if unit == "files":
        return f"{value:,.0f}"
    return f"{value:,.0f}"


def _cell(data: dict[str, object], metric: str, unit: str, base: str | None) -> str:
    metrics: dict[str, Value] = data["metrics"]  # type: ignore[assignment]
    value = metrics.get(metric)
    if unit == "bool":
        return "n/a" if not isinstance(value, bool) else "yes" if value else "NO"
    if metric == "endpoint_simple_errors" and isinstance(value, int | float):
        other = metrics.get("endpoint_aggregate_errors")
        value = value + (other if isinstance(other, int | float) else 0)
    if not isinstance(value, int | float):
        return "n/a"
    text = _fmt(float(value), unit)
    if metric == "site_files" and isinstance(metrics.get("site_mb"), int | float):
        text += f" / {float(metrics['site_mb']):,.0f} MB"  # type: ignore[arg-type]
    other = metrics.get(base) if base else None
    if isinstance(other, int | float) and other:
        text += f" ({float(value) / float(other):.2f}×)"
    return text


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows)]


def report(results: dict[str, object]) -> str:
    """The results as Markdown tables: figures with ratios, per-shape latencies, targets."""
    sizes: dict[str, dict[str, object]] = results["sizes"]  # type: ignore[assignment]
    names = list(sizes)
    header = ["measure", *(f"{int(n):,} notes" for n in names)]
    rows = [[label, *(_cell(sizes[n], m, u, b) for n in names)] for label, m, u, b in ROWS]
    lines = []
    info: dict[str, str] = results.get("machine") or {}  # type: ignore[assignment]
    if info:
        lines += [
            f"sdwiki {info['sdwiki']} ({info['commit']}) · {info['nproc']} CPUs ({info['cpu']}) · "
            f"Python {info['python']} · {info['hugo'].split(' BuildDate')[0]}",
            "",
        ]
    lines += _table(header, rows)
    lines += ["", "Ratios in parentheses: to Hugo's build (times, memory) or to raw pyoxigraph (SPARQL).", ""]
    shape_rows = []
    for shape in SHAPES:
        for engine in SPARQL_ENGINES:
            base = "raw" if engine != "raw" else None
            shape_rows.append(
                [
                    f"{shape}: {engine}",
                    *(
                        _cell(
                            sizes[n],
                            f"sparql_{engine}_{shape}_p50_ms",
                            "ms",
                            f"sparql_{base}_{shape}_p50_ms" if base else None,
                        )
                        for n in names
                    ),
                ]
            )
    lines += _table(["SPARQL p50 by query shape", *header[1:]], shape_rows)
    lines.append("")
    target_rows = []
    for i, t in enumerate(TARGETS):
        cells = [t.name]
        for n in names:
            verdict: dict[str, Value] = sizes[n]["targets"][i]  # type: ignore[index]
            v = verdict["value"]
            shown = ""
            if isinstance(v, int | float):
                shown = f" ({v:,.2f}{t.unit})" if t.unit == "×" else f" ({v:,.0f}{t.unit})"
            cells.append(f"{verdict['status']}{shown}")
        target_rows.append(cells)
    lines += _table(["target (the issue's; binding at 10,000 notes)", *header[1:]], target_rows)
    na = []
    for n in names:
        by_reason: dict[str, list[str]] = {}
        for metric, why in sizes[n]["na"].items():  # type: ignore[attr-defined]
            by_reason.setdefault(why, []).append(metric)
        na += [f"- {int(n):,} notes, {', '.join(metrics)}: {why}" for why, metrics in by_reason.items()]
    if na:
        lines += ["", "Not measured or partial:", *na]
    return "\n".join(lines) + "\n"


def write_json(results: dict[str, object], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=True, ensure_ascii=False) + "\n", "utf-8")
    os.replace(tmp, path)
