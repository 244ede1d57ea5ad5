"""Keeping the outermost of overlapping spans: one item per span, none inside a longer one."""

from __future__ import annotations

from typing import Callable, Hashable, Iterable, TypeVar

T = TypeVar("T")


def outermost(items: Iterable[T], span: Callable[[T], tuple[Hashable, int, int]],
              rank: Callable[[T], tuple]) -> list[T]:
    """One item per ``(group, start, end)`` span -- the one with the smallest ``rank`` -- and none
    whose span lies inside a longer span of the same group (``Vape`` inside ``Vape pen``). A set
    operation: the result, sorted by span, never depends on the order of ``items``."""
    by_span: dict[tuple, T] = {}
    for item in items:
        k = span(item)
        cur = by_span.get(k)
        if cur is None or rank(item) < rank(cur):
            by_span[k] = item
    kept: list[tuple] = []
    group, reach = object(), -1
    # sweep each group's spans by start, longest first: a span is inside another exactly when an
    # earlier span of the same group reaches at least as far
    for k in sorted(by_span, key=lambda k: (k[0], k[1], -k[2])):
        if k[0] != group:
            group, reach = k[0], -1
        if k[2] <= reach:
            continue
        reach = k[2]
        kept.append(k)
    return [by_span[k] for k in sorted(kept)]
