"""SPARQL latency: a fixed mix of query shapes through sdwiki's query path and raw pyoxigraph.

Run as ``python -m bench.sparql CONTENT RESULT.json`` (the benchmark starts it as a child process
with a time and memory limit, so a slow or hungry engine cannot stall the run or the machine): it
loads the notes once, then times every query of the mix on raw pyoxigraph and on
:func:`sdwiki.query.run` with Oxigraph, interleaved so both see the same machine, and afterwards
(or, with ``--engines rdflib``, alone) with rdflib's engine. The result file is rewritten after
each engine, so a run stopped at its limit still reports what finished.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

SHAPES: dict[str, str] = {
    "lookup": 'SELECT ?s ?type WHERE {{ ?s rdfs:label "{title}" ; a ?type }}',
    "backlinks": (
        'SELECT ?s ?label WHERE {{ ?t rdfs:label "{title}" . ?s sd:linksTo ?t ; rdfs:label ?label }} ORDER BY ?label'
    ),
    "two_hop": (
        'SELECT DISTINCT ?far ?label WHERE {{ ?c rdfs:label "{title}" ; sd:linksTo/sd:linksTo ?far . '
        "?far rdfs:label ?label }} ORDER BY ?label"
    ),
    "group_by": (
        "SELECT ?o (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s {prop} ?o }} GROUP BY ?o ORDER BY DESC(?n) ?o LIMIT 20"
    ),
    "contains": (
        "SELECT ?c ?label WHERE {{ ?c skos:definition ?d ; rdfs:label ?label "
        'FILTER(CONTAINS(LCASE(?d), "{word}")) }} ORDER BY ?label LIMIT 50'
    ),
}
"""The query shapes of the mix: lookup by label, backlinks, 2-hop path, GROUP BY count, text filter."""
GROUP_PROPERTIES = ("sd:keyThinker", "sd:tag", "sd:category", "sd:mitigatedBy", "sd:hasExample")


def aggregate_queries(count: int, properties: Sequence[str] = GROUP_PROPERTIES) -> list[str]:
    """``count`` distinct GROUP BY counts over the whole graph (the LIMIT varies; the work does not)."""
    return [
        f"SELECT ?o (COUNT(?s) AS ?n) WHERE {{ ?s {properties[i % len(properties)]} ?o }} "
        f"GROUP BY ?o ORDER BY DESC(?n) ?o LIMIT {10 + i // len(properties)}"
        for i in range(count)
    ]


WORDS = ("naval", "doctrine", "bargaining", "nuclear", "intelligence")
ENGINES = ("raw", "oxigraph", "rdflib")


@dataclass(frozen=True, slots=True)
class Query:
    shape: str
    text: str
    """Without PREFIX lines (sdwiki predeclares them; raw pyoxigraph gets them prepended)."""


def query_mix(titles: Sequence[str], per_shape: int = 5) -> list[Query]:
    """Five queries of each shape; titles are picked evenly from ``titles`` (deterministic)."""
    step = max(1, len(titles) // per_shape)
    picked = [titles[(i * step) % len(titles)] for i in range(per_shape)]
    mix: list[Query] = []
    for shape, template in SHAPES.items():
        for i in range(per_shape):
            title = picked[i].replace("\\", "\\\\").replace('"', '\\"')
            text = template.format(
                title=title, prop=GROUP_PROPERTIES[i % len(GROUP_PROPERTIES)], word=WORDS[i % len(WORDS)]
            )
            mix.append(Query(shape, text))
    return mix


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0–100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


Runner = Callable[[str], int]
"""Answers a query completely; returns the number of result rows."""


def _summary(samples: dict[str, list[float]], load_seconds: float, complete: bool) -> dict[str, object]:
    every = [s for values in samples.values() for s in values]
    return {
        "p50_ms": percentile(every, 50) * 1000 if every else None,
        "p95_ms": percentile(every, 95) * 1000 if every else None,
        "samples": len(every),
        "load_s": load_seconds,
        "complete": complete,
        "shapes_p50_ms": {shape: percentile(v, 50) * 1000 for shape, v in samples.items() if v},
    }


def measure(content: Path, result: Path, reps: int, engines: Sequence[str], budget: float) -> None:
    import pyoxigraph as ox

    from sdwiki.graph import nquads
    from sdwiki.ontology import PREFIXES
    from sdwiki.pipeline import load_project
    from sdwiki.query import run

    out: dict[str, object] = {}

    def save() -> None:
        result.write_text(json.dumps(out, indent=2, sort_keys=True), "utf-8")

    start = time.perf_counter()
    project = load_project(content)
    out["project_load_s"] = time.perf_counter() - start
    concept_titles = sorted(n.title for n in project.corpus.notes.values() if n.path.startswith("concepts/"))
    mix = query_mix(concept_titles)
    prolog = "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in PREFIXES.items())

    runners: dict[str, tuple[Runner, float]] = {}
    if "raw" in engines:
        start = time.perf_counter()
        store = ox.Store()
        store.load(nquads(project.ordered_graphs(), with_default=True), format=ox.RdfFormat.N_QUADS)
        out["quads"] = len(store)

        def raw(text: str) -> int:
            answer = store.query(prolog + text)
            assert isinstance(answer, ox.QuerySolutions)
            names = answer.variables
            return len([[solution[v] for v in names] for solution in answer])

        runners["raw"] = (raw, time.perf_counter() - start)
    if "oxigraph" in engines:
        start = time.perf_counter()
        ox_ds = project.dataset("oxigraph")

        def through(text: str) -> int:
            return len(run(ox_ds, text, engine="oxigraph").rows)

        runners["oxigraph"] = (through, time.perf_counter() - start)

    def timed(runner: Runner, q: Query, samples: dict[str, list[float]]) -> None:
        t = time.perf_counter()
        runner(q.text)
        samples.setdefault(q.shape, []).append(time.perf_counter() - t)

    # raw pyoxigraph and sdwiki/Oxigraph interleaved, query by query, after one warm-up pass
    fast = [e for e in ("raw", "oxigraph") if e in runners]
    samples: dict[str, dict[str, list[float]]] = {e: {} for e in fast}
    rows: dict[str, list[int]] = {e: [runners[e][0](q.text) for q in mix] for e in fast}
    for _ in range(reps):
        for q in mix:
            for e in fast:
                timed(runners[e][0], q, samples[e])
    for e in fast:
        out[e] = _summary(samples[e], runners[e][1], True)
    if len(fast) == 2 and rows["raw"] != rows["oxigraph"]:
        out["mismatch"] = "sdwiki's query path and raw pyoxigraph returned different row counts"
    save()

    if "rdflib" in engines:
        start = time.perf_counter()
        rd_ds = project.dataset("rdflib")
        load = time.perf_counter() - start

        def rdflib_run(text: str) -> int:
            return len(run(rd_ds, text, engine="rdflib").rows)

        rdflib_run(mix[0].text)  # warm-up: rdflib imports its SPARQL machinery on first use
        rd: dict[str, list[float]] = {}
        deadline = time.perf_counter() + budget
        complete = True
        for _ in range(reps):
            for q in mix:
                if time.perf_counter() > deadline:
                    complete = False
                    break
                timed(rdflib_run, q, rd)
            out["rdflib"] = _summary(rd, load, complete)
            save()
        out["rdflib"] = _summary(rd, load, complete)
    save()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sparql", description=__doc__)
    parser.add_argument("content", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--budget", type=float, default=300.0, help="Seconds the rdflib engine may take in all.")
    parser.add_argument("--memory-gb", type=float, help="Address space this process may use (protects the machine).")
    args = parser.parse_args(argv)
    if args.memory_gb:
        import resource

        cap = int(args.memory_gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    measure(args.content, args.result, args.reps, args.engines.split(","), args.budget)


if __name__ == "__main__":
    main()
