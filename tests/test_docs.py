"""Docs that tests keep honest: commands, settings, diagnostic codes and the vocabulary."""

from __future__ import annotations

import re
from dataclasses import fields

from rdflib import OWL, RDF, RDFS, URIRef

from sdwiki.cli import main
from sdwiki.diagnostics import CODES
from sdwiki.ontology import SD, load
from sdwiki.settings import Settings
from sdwiki.vocabulary import reference
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text("utf-8")


def test_every_command_is_documented() -> None:
    for name in main.list_commands(None):  # type: ignore[arg-type]
        assert re.search(rf"^### `sdwiki {name}\b", README, re.M), f"README lacks a section for sdwiki {name}"


def test_every_option_is_documented() -> None:
    import click

    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        assert command is not None
        for param in command.params:
            if isinstance(param, click.Option):
                assert any(re.search(rf"`[^`]*{re.escape(o)}\b[^`]*`", README) for o in param.opts), (name, param.opts)


def test_every_setting_and_code_is_documented() -> None:
    for f in fields(Settings):
        assert f"`{f.name}`" in README, f.name
    for code in CODES:
        assert f"`{code}`" in README, code


def test_ci_runs_exactly_the_readme_test_command() -> None:
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    assert len(blocks) >= 2
    test_command = blocks[1].strip()
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    assert test_command in ci.splitlines()


def test_vocabulary_reference_is_current() -> None:
    assert (ROOT / "docs" / "VOCABULARY.md").read_text("utf-8") == reference(), (
        "regenerate: python -m sdwiki.vocabulary > docs/VOCABULARY.md"
    )


def test_every_sd_term_has_a_label_and_a_comment() -> None:
    g = load().graph
    terms = {
        s
        for t in (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty)
        for s in g.subjects(RDF.type, t)
        if isinstance(s, URIRef) and str(s).startswith(str(SD))
    }
    assert len(terms) > 40
    for term in sorted(terms):
        assert g.value(term, RDFS.label) is not None, term
        assert g.value(term, RDFS.comment) is not None, term
