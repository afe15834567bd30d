"""Records pickle as their class and values (cached notes are read back in one call each)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sdwiki.notes import discover, read_note
from sdwiki.pipeline import load_project
from sdwiki.records import quick_pickle

CONTENT = Path(__file__).parent.parent / "content"


def test_notes_and_note_graphs_come_back_equal_and_made_by_their_class() -> None:
    paths, _, _ = discover(CONTENT)
    notes = [read_note(CONTENT, p) for p in paths]
    assert pickle.loads(pickle.dumps(notes)) == notes
    graphs = load_project(CONTENT).ordered_graphs()
    assert pickle.loads(pickle.dumps(graphs)) == graphs
    note = next(n for n in notes if n.sections and n.links)
    for record in (note, note.sections[0], note.links[0], graphs[0]):
        made_by, values = record.__reduce__()  # type: ignore[misc]
        assert made_by is type(record) and made_by(*values) == record


def test_a_record_with_a_field_init_does_not_set_is_refused() -> None:
    @dataclass(frozen=True)
    class Derived:
        a: int
        b: int = field(init=False, default=0)

    with pytest.raises(TypeError, match="Derived"):
        quick_pickle(Derived)

    assert pickle.loads(pickle.dumps(One((1, 2)))) == One((1, 2))  # one field: still a tuple of values


@quick_pickle
@dataclass(frozen=True, slots=True)
class One:
    a: tuple[int, ...]
