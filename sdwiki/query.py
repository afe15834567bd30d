"""One SPARQL path for the command line, the HTTP endpoint and the tests.

:func:`run` checks a query (read-only, nothing that could reach the network or the file system),
evaluates it with the chosen engine through rdflib's API, and returns a :class:`Answer` that
:func:`serialize` turns into any of the result formats.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from typing import Literal as Lit

from rdflib import BNode, Dataset, Graph, Literal, URIRef
from rdflib.query import Result
from rdflib.term import Identifier, Node

from sdwiki import terms
from sdwiki.diagnostics import Diagnostic
from sdwiki.ontology import PREFIXES

if TYPE_CHECKING:
    import pyoxigraph

T = TypeVar("T")
R = TypeVar("R")

TABULAR_FORMATS = ("table", "csv", "tsv", "json", "xml")
GRAPH_FORMATS = ("ttl", "nt", "jsonld", "xml")
MEDIA_TYPES = {
    "json": "application/sparql-results+json",
    "xml": "application/sparql-results+xml",
    "csv": "text/csv; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "table": "text/plain; charset=utf-8",
    "ttl": "text/turtle; charset=utf-8",
    "nt": "application/n-triples",
    "jsonld": "application/ld+json",
    "rdfxml": "application/rdf+xml",
}
_RDFLIB_GRAPH_FORMAT = {"ttl": "turtle", "nt": "nt", "jsonld": "json-ld", "xml": "xml"}


class QueryError(Exception):
    """A query that cannot be run: a syntax error or a refused construct."""

    def __init__(self, message: str, line: int = 0, column: int = 0, kind: str = "syntax") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.kind: Lit["syntax", "refused", "timeout"] = kind  # type: ignore[assignment]

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return f"{where}{self.message}"


_STRIP = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'(?:[^'\\\n]|\\.)*'"
    r"|<[^<>\"{}|^`\\\s]*>"
    r"|#[^\n]*",
    re.S,
)
_UPDATE = re.compile(r"(?<![\w:?$])(INSERT|DELETE|LOAD|CLEAR|DROP|CREATE|ADD|MOVE|COPY)(?![\w:-])", re.I)
_SERVICE = re.compile(r"(?<![\w:?$])SERVICE(?![\w:-])", re.I)
_FROM = re.compile(r"(?<![\w:?$])FROM\s+(NAMED\s+)?(<[^>]*>|[\w-]*:[\w.-]*)", re.I)
_ANY_REFUSED = re.compile(
    r"(?<![\w:?$])(INSERT|DELETE|LOAD|CLEAR|DROP|CREATE|ADD|MOVE|COPY|SERVICE|FROM)(?![\w:-])", re.I
)
"""Any keyword :func:`check` looks for, searched in the raw text: blanking strings, IRIs and comments
only removes characters (the delimiters next to a word stay non-word characters), so a text with no
match here has none once blanked either, and the blanking can be skipped."""


def blank_out(text: str) -> str:
    """The query with strings, IRIs and comments blanked (same length), keywords left."""

    def blank(m: re.Match[str]) -> str:
        s = m.group(0)
        if s.startswith("<"):
            return "<" + "_" * (len(s) - 2) + ">"
        return re.sub(r"[^\n]", " ", s)

    return _STRIP.sub(blank, text)


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def check(text: str, graphs: Collection[str] = ()) -> None:
    """Refuse updates, SERVICE, and FROM clauses naming anything but the dataset's own graphs."""
    if _ANY_REFUSED.search(text) is None:
        return
    blanked = blank_out(text)
    if m := _UPDATE.search(blanked):
        raise QueryError(
            f"{m.group(1).upper()} is refused: this endpoint is read-only",
            *_position(text, m.start()),
            kind="refused",
        )
    if m := _SERVICE.search(blanked):
        raise QueryError(
            "SERVICE is refused: queries may not reach other hosts",
            *_position(text, m.start()),
            kind="refused",
        )
    for m in _FROM.finditer(blanked):
        raw = text[m.start(2) : m.end(2)]
        iri = raw[1:-1] if raw.startswith("<") else None
        if iri is None or iri not in graphs:
            raise QueryError(
                f"FROM {raw} is refused: only the wiki's own named graphs may be named "
                "(nothing is read from files or URLs)",
                *_position(text, m.start()),
                kind="refused",
            )


@dataclass(frozen=True, slots=True)
class Answer:
    """The result of a query: rows (SELECT), a boolean (ASK) or a graph (CONSTRUCT/DESCRIBE)."""

    kind: Lit["SELECT", "ASK", "GRAPH"]
    variables: tuple[str, ...] = ()
    rows: tuple[tuple[Identifier | None, ...], ...] = ()
    boolean: bool | None = None
    graph: Graph | None = None
    truncated: bool = False


def run(
    ds: Dataset,
    text: str,
    *,
    engine: str = "oxigraph",
    limit: int | None = None,
    graphs: Collection[str] | None = None,
) -> Answer:
    """Check and evaluate ``text``; the common prefixes are predeclared."""
    _check_on(ds, text, graphs)
    if hasattr(ds.store, "_inner"):  # Oxigraph: its own store, queried directly
        return oxigraph_answer(_evaluate(ds, text), limit)
    try:
        return _answer(ds.query(text, initNs=PREFIXES), limit)
    except QueryError:
        raise
    except Exception as exc:
        line = getattr(exc, "lineno", 0)
        col = getattr(exc, "col", 0)
        if type(exc).__name__ in ("ParseException", "ParseSyntaxException"):
            raise QueryError(str(getattr(exc, "msg", exc)), line, col) from None
        raise QueryError(f"{type(exc).__name__}: {exc}", kind="syntax") from None


def _check_on(ds: Dataset, text: str, graphs: Collection[str] | None = None) -> None:
    """:func:`check` ``text`` against ``graphs``, by default the dataset's named graphs."""
    if graphs is None:
        # listing the named graphs costs a scan of the store: only queries with FROM need it
        graphs = {str(c.identifier) for c in ds.graphs()} if _FROM.search(blank_out(text)) else ()
    check(text, graphs)


Cell = URIRef | str | None
"""A solution's value as a page shows it: an IRI, the text of anything else, or unbound."""


def solutions(ds: Dataset, text: str, limit: int) -> tuple[tuple[str, ...], list[tuple[Cell, ...]]]:
    """A SELECT query's variables and rows, each value an IRI or its text (see :data:`Cell`):
    what a saved query's page shows. On Oxigraph, no rdflib term is made for literals."""
    if not hasattr(ds.store, "_inner"):
        answer = run(ds, text, limit=limit)
        return answer.variables, [tuple(_cell_text(v) for v in row) for row in answer.rows]
    import pyoxigraph as ox

    _check_on(ds, text)
    result = _evaluate(ds, text)
    if not isinstance(result, ox.QuerySolutions):
        return (), []
    rows, _ = _capped(result, limit, lambda row: tuple(_ox_cell(v) for v in row))
    return tuple(v.value for v in result.variables), rows


def _cell_text(term: Identifier | None) -> Cell:
    return term if term is None or isinstance(term, URIRef) else str(term)


def _ox_cell(term: object) -> Cell:
    """The :data:`Cell` of an Oxigraph term: the text rdflib would give (see :func:`_lexical`)."""
    import pyoxigraph as ox
    from oxrdflib._converter import from_ox

    if term is None:
        return None
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.Literal):
        datatype = term.datatype.value
        return term.value if term.language or datatype == _XSD_STRING else _lexical(term.value, datatype)
    if isinstance(term, ox.BlankNode):
        return term.value
    return _cell_text(from_ox(term))  # type: ignore[arg-type]


_COMMON = {p: str(ns) for p, ns in PREFIXES.items()}


def _evaluate(ds: Dataset, text: str) -> object:
    """:func:`evaluate_oxigraph` on an Oxigraph-backed dataset with :func:`prefixes_of` it. Listing
    the dataset's bindings costs more than a small query: the common prefixes are tried first,
    and the bindings only for a query that uses some other prefix (:data:`PREFIXES` wins over a
    binding of the same name either way, so the answer is the same)."""
    store = ds.store._inner  # type: ignore[attr-defined]
    try:
        return evaluate_oxigraph(store, text, _COMMON)
    except QueryError:
        return evaluate_oxigraph(store, text, prefixes_of(ds))


def prefixes_of(ds: Dataset) -> dict[str, str]:
    """The prefixes a query on ``ds`` may use undeclared: the dataset's bindings and :data:`PREFIXES`."""
    return {**{p: str(ns) for p, ns in ds.namespaces()}, **{p: str(ns) for p, ns in PREFIXES.items()}}


def used_prefixes(text: str, prefixes: dict[str, str]) -> dict[str, str]:
    """The ``prefixes`` whose name followed by a colon occurs in ``text``: the only ones a query
    can use. Oxigraph parses every predeclared namespace IRI on every query (tens of
    microseconds for thirty, as much as a whole lookup), so only these are handed to it."""
    return {p: ns for p, ns in prefixes.items() if p + ":" in text}


def evaluate_oxigraph(
    store: pyoxigraph.Store,
    text: str,
    prefixes: dict[str, str],
    default_graphs: Sequence[str] | None = None,
    named_graphs: Sequence[str] | None = None,
) -> object:
    """Evaluate a checked query on an Oxigraph store: its solutions, boolean or triples.

    Without ``default_graphs``/``named_graphs`` the query's own FROM clauses (or else the store's
    default graph, the merge of the notes) are its dataset; with them, the protocol's dataset.
    """
    import pyoxigraph as ox

    prefixes = used_prefixes(text, prefixes)
    try:
        if default_graphs is None and named_graphs is None:
            return store.query(text, prefixes=prefixes)
        return store.query(
            text,
            prefixes=prefixes,
            default_graph=[ox.NamedNode(g) for g in default_graphs or ()],
            named_graphs=[ox.NamedNode(g) for g in named_graphs or ()],
        )
    except SyntaxError as exc:  # Oxigraph: "error at L:C: message"
        m = re.match(r"error at (\d+):(\d+): (.*)", str(exc), re.S)
        if m:
            raise QueryError(m.group(3), int(m.group(1)), int(m.group(2))) from None
        raise QueryError(str(exc)) from None
    except Exception as exc:
        raise QueryError(f"{type(exc).__name__}: {exc}", kind="syntax") from None


def result_kind(result: object) -> Lit["SELECT", "ASK", "GRAPH"]:
    """What an Oxigraph result holds."""
    import pyoxigraph as ox

    if isinstance(result, ox.QueryBoolean):
        return "ASK"
    return "SELECT" if isinstance(result, ox.QuerySolutions) else "GRAPH"


def oxigraph_answer(result: object, limit: int | None) -> Answer:
    """An Oxigraph result as an :class:`Answer` (terms converted as oxrdflib converts them)."""
    import pyoxigraph as ox
    from oxrdflib._converter import from_ox

    if isinstance(result, ox.QueryBoolean):
        return Answer("ASK", boolean=bool(result))
    if isinstance(result, ox.QuerySolutions):
        variables = tuple(v.value for v in result.variables)
        rows, truncated = _capped(
            result,
            limit,
            lambda row: tuple(_rdflib_term(v) for v in row),
        )
        return Answer("SELECT", variables, tuple(rows), truncated=truncated)
    return _graph_answer(from_ox(t) for t in result)  # type: ignore[attr-defined, misc]


_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


@functools.lru_cache(maxsize=65536)
def _lexical(value: str, datatype: str) -> str:
    """The lexical form rdflib gives a typed literal (it normalises some datatypes)."""
    return str(Literal(value, datatype=URIRef(datatype)))


class _Unusual(Exception):
    """A term the direct JSON writer does not handle (a triple term): use :func:`oxigraph_answer`."""


def _json_cell(term: object) -> dict[str, str]:
    import pyoxigraph as ox

    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.Literal):
        if term.language:
            return {"type": "literal", "value": term.value, "xml:lang": term.language.lower()}
        datatype = term.datatype.value
        if datatype == _XSD_STRING:
            return {"type": "literal", "value": term.value}
        return {"type": "literal", "value": _lexical(term.value, datatype), "datatype": datatype}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    raise _Unusual


def json_results(result: object, limit: int | None) -> tuple[bytes, bool] | None:
    """SPARQL JSON (compact) for an ASK or SELECT result, and whether rows were cut at ``limit``.

    The document is the one ``json.dumps(results_json(oxigraph_answer(result, limit)))`` gives,
    written without building rdflib terms; None if the result holds a term only
    :func:`oxigraph_answer` handles (the result is then partly consumed: evaluate it again).
    """
    import pyoxigraph as ox

    if isinstance(result, ox.QueryBoolean):
        doc: dict[str, object] = {"head": {}, "boolean": bool(result)}
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), False
    assert isinstance(result, ox.QuerySolutions)
    variables = [v.value for v in result.variables]
    try:
        bindings, truncated = _capped(
            result,
            limit,
            lambda row: {var: _json_cell(term) for var, term in zip(variables, row, strict=True) if term is not None},
        )
    except _Unusual:
        return None
    head: dict[str, object] = {"vars": variables, "link": ["truncated"]} if truncated else {"vars": variables}
    doc = {"head": head, "results": {"bindings": bindings}}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), truncated


def _answer(result: Result, limit: int | None) -> Answer:
    if result.type == "ASK":
        return Answer("ASK", boolean=bool(result.askAnswer))
    if result.type in ("CONSTRUCT", "DESCRIBE"):
        assert result.graph is not None
        return _graph_answer(result.graph)
    variables = tuple(str(v) for v in result.vars or ())
    rows, truncated = _capped(result, limit, lambda row: tuple(_plain_literal(v) for v in row))  # type: ignore[union-attr]
    return Answer("SELECT", variables, tuple(rows), truncated=truncated)


def _capped(items: Iterable[T], limit: int | None, convert: Callable[[T], R]) -> tuple[list[R], bool]:
    """``convert`` of the first ``limit`` items (all with None), and whether any were left over."""
    out: list[R] = []
    for item in items:
        if limit is not None and len(out) >= limit:
            return out, True
        out.append(convert(item))
    return out, False


def _graph_answer(triples: Iterable[tuple[Node, Node, Node]]) -> Answer:
    """A CONSTRUCT or DESCRIBE answer: the triples, string literals made plain (see :func:`_plain_literal`)."""
    g = Graph()
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns)
    for s, p, o in triples:
        g.add((s, p, _plain_literal(o) or o))
    return Answer("GRAPH", graph=g)


def _rdflib_term(term: object) -> Identifier | None:
    """An Oxigraph term as rdflib's, as oxrdflib converts it, xsd:string literals made plain (see
    :func:`_plain_literal`); IRIs and plain strings, most of any answer, are made directly."""
    kind, ox = type(term), _ox()
    if kind is ox.NamedNode:
        return terms.iri(term.value)  # type: ignore[attr-defined]
    if kind is ox.Literal and not term.language and term.datatype.value == _XSD_STRING:  # type: ignore[attr-defined]
        return terms.literal(term.value)  # type: ignore[attr-defined]
    from oxrdflib._converter import from_ox

    return None if term is None else _plain_literal(from_ox(term))  # type: ignore[arg-type]


@functools.cache
def _ox() -> Any:
    import pyoxigraph

    return pyoxigraph


def _plain_literal(term: Node | None) -> Identifier | None:
    """xsd:string literals as plain literals (both engines then give identical answers)."""
    if isinstance(term, Literal) and str(term.datatype) == "http://www.w3.org/2001/XMLSchema#string":
        return Literal(str(term), lang=term.language)
    return term  # type: ignore[return-value]


# -- serialisation --------------------------------------------------------------------------


def serialize(answer: Answer, fmt: str) -> str:
    """The answer in ``fmt`` (see TABULAR_FORMATS / GRAPH_FORMATS)."""
    if answer.kind == "GRAPH":
        assert answer.graph is not None
        if fmt not in _RDFLIB_GRAPH_FORMAT:
            fmt = "ttl"
        return str(answer.graph.serialize(format=_RDFLIB_GRAPH_FORMAT[fmt]))
    if fmt == "json":
        return json.dumps(results_json(answer), ensure_ascii=False, indent=1) + "\n"
    if fmt == "xml":
        return _xml(answer)
    if fmt in ("csv", "tsv"):
        return _delimited(answer, fmt)
    return table(answer)


def results_json(answer: Answer) -> dict[str, object]:
    if answer.kind == "ASK":
        return {"head": {}, "boolean": bool(answer.boolean)}
    bindings = []
    for row in answer.rows:
        b: dict[str, dict[str, str]] = {}
        for var, term in zip(answer.variables, row, strict=True):
            if term is not None:
                b[var] = _json_term(term)
        bindings.append(b)
    out: dict[str, object] = {
        "head": {"vars": list(answer.variables)},
        "results": {"bindings": bindings},
    }
    if answer.truncated:
        out["head"] = {"vars": list(answer.variables), "link": ["truncated"]}
    return out


def _json_term(term: Identifier) -> dict[str, str]:
    if isinstance(term, URIRef):
        return {"type": "uri", "value": str(term)}
    if isinstance(term, BNode):
        return {"type": "bnode", "value": str(term)}
    assert isinstance(term, Literal)
    d = {"type": "literal", "value": str(term)}
    if term.language:
        d["xml:lang"] = term.language
    elif term.datatype:
        d["datatype"] = str(term.datatype)
    return d


def _xml(answer: Answer) -> str:
    from xml.sax.saxutils import escape, quoteattr

    out = ['<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">\n<head>']
    out.extend(f"<variable name={quoteattr(v)}/>" for v in answer.variables)
    if answer.truncated:
        out.append('<link href="truncated"/>')
    out.append("</head>\n")
    if answer.kind == "ASK":
        out.append(f"<boolean>{'true' if answer.boolean else 'false'}</boolean>\n")
    else:
        out.append("<results>\n")
        for row in answer.rows:
            out.append("<result>")
            for var, term in zip(answer.variables, row, strict=True):
                if term is None:
                    continue
                out.append(f"<binding name={quoteattr(var)}>")
                if isinstance(term, URIRef):
                    out.append(f"<uri>{escape(str(term))}</uri>")
                elif isinstance(term, BNode):
                    out.append(f"<bnode>{escape(str(term))}</bnode>")
                else:
                    assert isinstance(term, Literal)
                    attr = ""
                    if term.language:
                        attr = f" xml:lang={quoteattr(term.language)}"
                    elif term.datatype:
                        attr = f" datatype={quoteattr(str(term.datatype))}"
                    out.append(f"<literal{attr}>{escape(str(term))}</literal>")
                out.append("</binding>")
            out.append("</result>\n")
        out.append("</results>\n")
    out.append("</sparql>\n")
    return "".join(out)


def _delimited(answer: Answer, fmt: str) -> str:
    buf = io.StringIO()
    if answer.kind == "ASK":
        return ("true" if answer.boolean else "false") + "\n"
    if fmt == "csv":
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(answer.variables)
        for row in answer.rows:
            w.writerow(["" if t is None else str(t) for t in row])
        return buf.getvalue()
    buf.write("\t".join(f"?{v}" for v in answer.variables) + "\n")
    for row in answer.rows:
        buf.write("\t".join("" if t is None else t.n3() for t in row) + "\n")
    return buf.getvalue()


def short(term: Identifier | None) -> str:
    """A term as a person reads it: prefixed IRIs, literal values."""
    if term is None:
        return ""
    if isinstance(term, URIRef):
        s = str(term)
        for prefix, ns in PREFIXES.items():
            if s.startswith(ns):
                return f"{prefix}:{s[len(ns) :]}"
        return f"<{s}>"
    if isinstance(term, BNode):
        return f"_:{term}"
    return str(term)


def table(answer: Answer) -> str:
    """A plain-text table for terminals."""
    if answer.kind == "ASK":
        return ("yes" if answer.boolean else "no") + "\n"
    cells: list[Sequence[str]] = [answer.variables]
    cells.extend([" ".join(short(t).split()) for t in row] for row in answer.rows)
    widths = [min(60, max(len(r[i]) for r in cells)) for i in range(len(answer.variables))]

    def fmt_row(r: Sequence[str]) -> str:
        return " | ".join(
            (c if len(c) <= w else c[: w - 1] + "…").ljust(w) for c, w in zip(r, widths, strict=True)
        ).rstrip()

    lines = [fmt_row(cells[0]), "-+-".join("-" * w for w in widths)]
    lines.extend(fmt_row(r) for r in cells[1:])
    n = len(answer.rows)
    lines.append(f"({n} row{'s' if n != 1 else ''}{', truncated' if answer.truncated else ''})")
    return "\n".join(lines) + "\n"


def check_saved_queries(root: Path) -> list[Diagnostic]:
    """Parse every saved query (``queries/*.rq``): syntax errors and refused constructs."""
    import pyoxigraph

    from sdwiki.diagnostics import make
    from sdwiki.site import read_queries

    queries, problems = read_queries(root)
    out = list(problems)
    empty = pyoxigraph.Store()
    prologue = "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in PREFIXES.items())
    for q in queries:
        try:
            check(q.text)
            empty.query(prologue + q.text)
        except QueryError as exc:
            out.append(make(q.path, exc.line, exc.column, "bad-query", exc.message))
        except SyntaxError as exc:
            m = re.match(r"error at (\d+):(\d+): (.*)", str(exc), re.S)
            line, col, msg = (int(m.group(1)) - len(PREFIXES), int(m.group(2)), m.group(3)) if m else (0, 0, str(exc))
            out.append(make(q.path, max(line, 0), col, "bad-query", msg))
    return out
