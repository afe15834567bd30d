"""Records: frozen dataclasses that pickle quickly, and values kept per record between builds.

A frozen dataclass with slots is unpickled by ``dataclasses``' own ``__setstate__``, which looks
its fields up again for every object: reading 10,000 cached notes (a hundred records each) spent
most of its time there. :func:`quick_pickle` pickles a record as its class and field values
instead, so unpickling is one call of the class.

``serve`` keeps notes and note graphs that did not change as the same objects from one build
to the next: :func:`by_object` works a value out once per such object, and :func:`replaced`
finds the few a save changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from operator import attrgetter
from typing import Any, TypeVar

K = TypeVar("K")
T = TypeVar("T")
V = TypeVar("V")


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


def by_object(last: Mapping[int, tuple[T, V]], objects: Iterable[T], make: Callable[[T], V]) -> dict[int, tuple[T, V]]:
    """``make(o)`` for each of ``objects``, taken from ``last`` for an object it holds (the same
    object, by identity), keyed by ``id`` in the objects' order: what to keep for the next time."""
    now: dict[int, tuple[T, V]] = {}
    for obj in objects:
        known = last.get(id(obj))
        now[id(obj)] = known if known is not None and known[0] is obj else (obj, make(obj))
    return now


def replaced(last: Mapping[K, V], now: Mapping[K, V]) -> list[K] | None:
    """The keys whose value in ``now`` is another object than in ``last``, in ``now``'s order,
    when both have the same keys (None: they have not)."""
    if last.keys() != now.keys():
        return None
    return [key for key, value in now.items() if last[key] is not value]


def replaced_since(
    since: tuple[Mapping[K, V], Iterable[K]] | None, last: Mapping[K, V], now: Mapping[K, V]
) -> list[K] | None:
    """:func:`replaced`, looking only at the keys ``since`` names when it holds ``last``: what made
    ``now`` from ``last`` (the same keys, other values at those keys alone, listed in ``now``'s order)."""
    if since is not None and since[0] is last:
        return [key for key in since[1] if last[key] is not now[key]]
    return replaced(last, now)
