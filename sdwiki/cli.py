"""The command line: one function per verb; heavy modules are imported only when used."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from sdwiki import __version__

if TYPE_CHECKING:
    from sdwiki.pipeline import Project
    from sdwiki.settings import Settings


def _settings() -> Settings:
    from sdwiki.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        _fail(str(exc))


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"sdwiki: {message}", err=True)
    sys.exit(code)


def _project(content: Path | None, settings: Settings) -> Project:
    from sdwiki.pipeline import ContentError, load_project

    try:
        return load_project(content or settings.content, settings.base_iri)
    except ContentError as exc:
        _fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sdwiki")
def main() -> None:
    """sdwiki: a knowledge-graph concept wiki.

    Markdown concept notes (YAML frontmatter, ## sections, [[wikilinks]]) become an RDF graph,
    a static cross-linked site, and answers to SPARQL questions.
    """


CONTENT = click.argument("content", required=False, type=click.Path(path_type=Path))


@main.command()
@CONTENT
@click.option("--strict", is_flag=True, help="Warnings count as problems (exit 1).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def check(content: Path | None, strict: bool, fmt: str) -> None:
    """Report every problem in the notes as file:line:col: severity code: message.

    Exit 0 when clean, 1 when errors are found (or warnings, with --strict), 2 when the
    content folder cannot be read.
    """
    from sdwiki.diagnostics import to_json
    from sdwiki.query import check_saved_queries
    from sdwiki.shapes import validate

    settings = _settings()
    project = _project(content, settings)
    diags = sorted({*project.diagnostics, *validate(project), *check_saved_queries(project.root)})
    if fmt == "json":
        click.echo(to_json(diags))
    else:
        for d in diags:
            click.echo(d.format())
        errors = sum(d.severity == "error" for d in diags)
        warnings = sum(d.severity == "warning" for d in diags)
        click.echo(f"{len(project.corpus.notes)} notes: {errors} errors, {warnings} warnings", err=True)
    failing = {"error", "warning"} if strict else {"error"}
    sys.exit(1 if any(d.severity in failing for d in diags) else 0)


@main.command()
@click.argument("query")
@click.option("--content", type=click.Path(path_type=Path), help="Content folder (default: content).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "tsv", "json", "xml", "ttl", "nt", "jsonld"]),
    default="table",
    show_default=True,
)
@click.option("--engine", type=click.Choice(["oxigraph", "rdflib"]), default=None)
@click.option("--endpoint", help="Query a remote SPARQL endpoint instead of the local notes.")
def query(query: str, content: Path | None, fmt: str, engine: str | None, endpoint: str | None) -> None:
    """Answer a SPARQL query: inline text, a .rq file, or - for standard input.

    The prefixes sd, rdf, rdfs, owl, xsd, skos, dcterms, foaf and prov are predeclared.
    """
    from sdwiki.query import QueryError, run, serialize

    settings = _settings()
    if query == "-":
        text = sys.stdin.read()
    elif query.endswith(".rq") and Path(query).is_file():
        try:
            text = Path(query).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"{query}: cannot read: {exc}")
    else:
        text = query
    if endpoint:
        from sdwiki.remote import RemoteError, remote_query

        try:
            click.echo(remote_query(endpoint, text, fmt), nl=False)
        except RemoteError as exc:
            _fail(str(exc))
        return
    from sdwiki.pipeline import analytics_graph

    project = _project(content, settings)
    ds = project.dataset(engine or settings.engine, [analytics_graph(project)])  # type: ignore[arg-type]
    try:
        answer = run(ds, text, engine=engine or settings.engine, limit=settings.result_limit)
    except QueryError as exc:
        _fail(f"{query if query.endswith('.rq') else '<query>'}:{exc.line}:{exc.column}: {exc.message}")
    click.echo(serialize(answer, fmt), nl=False)


@main.command()
@CONTENT
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ttl", "nt", "nq", "trig", "jsonld", "graphml", "gexf"]),
    default="ttl",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to a file, not stdout.")
def export(content: Path | None, fmt: str, output: Path | None) -> None:
    """Export the whole graph (RDF formats, or GraphML/GEXF for network tools)."""
    settings = _settings()
    project = _project(content, settings)
    if fmt in ("graphml", "gexf"):
        from sdwiki.analytics import export_network

        text = export_network(project, fmt)
    else:
        from sdwiki.export import export as export_rdf

        text = export_rdf(project.ordered_graphs(), fmt)
    if output:
        output.write_text(text, "utf-8")
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("kind", type=click.Choice(["concept", "theory", "thinker", "example"]))
@click.argument("title")
@click.option("--content", type=click.Path(path_type=Path), help="Content folder (default: content).")
def new(kind: str, title: str, content: Path | None) -> None:
    """Create a note with frontmatter and the standard sections (never overwrites)."""
    from sdwiki.scaffold import create

    settings = _settings()
    try:
        path = create(content or settings.content, kind, title)
    except FileExistsError as exc:
        _fail(f"{exc}: a note with this title already exists; nothing written")
    except (ValueError, OSError) as exc:
        _fail(str(exc))
    click.echo(str(path))


@main.command()
@CONTENT
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Site folder (default: site).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: one per core).")
@click.option("--timings", is_flag=True, help="Also print the time each stage of the build took.")
def build(content: Path | None, output: Path | None, jobs: int | None, timings: bool) -> None:
    """Build the static site from the notes."""
    from sdwiki.build import BuildError, SiteBuilder
    from sdwiki.timings import Progress, Timings

    settings = _settings()
    progress = Progress()
    stages = Timings(progress)
    try:
        builder = SiteBuilder(timings=stages, jobs=jobs)
        report = builder(content or settings.content, output or settings.output, settings)
    except BuildError as exc:
        progress.done()
        _fail(str(exc))
    progress.done()
    click.echo(report, err=True)
    if timings:
        click.echo(stages.report(), err=True)


@main.command()
@CONTENT
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--cors", is_flag=True, help="Send CORS headers on /sparql.")
def serve(content: Path | None, host: str, port: int, cors: bool) -> None:
    """Build, serve the site and /sparql, rebuild on save and reload open pages."""
    from sdwiki.server import serve as run_server

    settings = _settings()
    run_server(content or settings.content, host, port, cors, settings)


@main.command()
@CONTENT
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def stats(content: Path | None, fmt: str) -> None:
    """Counts, most central concepts and thinkers, communities, orphans and cycles."""
    from sdwiki.analytics import stats_report

    settings = _settings()
    click.echo(stats_report(_project(content, settings), fmt), nl=False)


@main.command()
@click.argument("a")
@click.argument("b")
@click.option("--content", type=click.Path(path_type=Path))
@click.option("--all", "all_paths", is_flag=True, help="Every shortest path, not just one.")
def path(a: str, b: str, content: Path | None, all_paths: bool) -> None:
    """The shortest explanation between two entities, by title or alias."""
    from sdwiki.analytics import PathError, explain_path

    settings = _settings()
    try:
        click.echo(explain_path(_project(content, settings), a, b, all_paths), nl=False)
    except PathError as exc:
        _fail(str(exc), 1)


@main.command()
@CONTENT
@click.option("--endpoint", required=True, help="Graph Store Protocol endpoint URL.")
@click.option("--graph", "graph_iri", help="Load everything into this one graph instead.")
@click.option("--user", envvar="SDWIKI_USER", help="User name (or SDWIKI_USER).")
@click.option("--password", envvar="SDWIKI_PASSWORD", help="Password (or SDWIKI_PASSWORD).")
def publish(
    content: Path | None,
    endpoint: str,
    graph_iri: str | None,
    user: str | None,
    password: str | None,
) -> None:
    """Load the graph into a SPARQL 1.1 store, one named graph per note (idempotent)."""
    from sdwiki.remote import RemoteError
    from sdwiki.remote import publish as do_publish

    settings = _settings()
    project = _project(content, settings)
    try:
        n = do_publish(project, endpoint, graph_iri, user, password)
    except RemoteError as exc:
        _fail(str(exc))
    click.echo(f"published {n} graphs to {endpoint}", err=True)
