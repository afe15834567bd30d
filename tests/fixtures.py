"""Reader for fixture files: cases of input and expected output side by side.

A fixture file is a sequence of cases, each written as::

    name of the case
    .
    input (any number of lines)
    .
    expected output (any number of lines)
    .

as in markdown-it-py's fixture files. Blank lines between cases are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Case:
    name: str
    input: str
    expected: str
    line: int


def read(name: str) -> list[Case]:
    lines = (HERE / name).read_text("utf-8").split("\n")
    cases: list[Case] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        title, start = lines[i], i + 1
        assert lines[i + 1] == ".", f"{name}:{i + 2}: expected '.' after the case name"
        j = i + 2
        parts: list[list[str]] = [[], []]
        for part in parts:
            while lines[j] != ".":
                part.append(lines[j])
                j += 1
            j += 1
        cases.append(Case(title, "\n".join(parts[0]), "\n".join(parts[1]), start))
        i = j
    return cases


def ids(cases: list[Case]) -> list[str]:
    return [f"{c.line}-{c.name}" for c in cases]
