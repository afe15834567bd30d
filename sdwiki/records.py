"""Frozen dataclasses that pickle quickly.

A frozen dataclass with slots is unpickled by ``dataclasses``' own ``__setstate__``, which looks
its fields up again for every object: reading 10,000 cached notes (a hundred records each) spent
most of its time there. :func:`quick_pickle` pickles a record as its class and field values
instead, so unpickling is one call of the class.
"""

from __future__ import annotations

import dataclasses
from operator import attrgetter
from typing import Any, TypeVar

T = TypeVar("T")


def quick_pickle(cls: type[T]) -> type[T]:
    """Pickle instances of the dataclass ``cls`` as ``cls(*values)`` (every field must be an
    ``__init__`` argument, in order, with no ``__post_init__``)."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if not all(f.init for f in fields) or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: not every field is set by __init__ alone")
    names = [f.name for f in fields]
    values = attrgetter(*names) if len(names) > 1 else (lambda obj: (getattr(obj, names[0]),))

    def __reduce__(self: Any) -> tuple[type[T], tuple[Any, ...]]:
        return cls, values(self)

    cls.__reduce__ = __reduce__  # type: ignore[method-assign]
    return cls
