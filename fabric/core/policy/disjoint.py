"""Union of boxes → disjoint boxes, keeping which origins cover each piece.

nftables interval sets with concatenations refuse overlapping elements, and a canonical element list
makes element-level diffs exact.  A box is a tuple of inclusive integer ranges, one per dimension.  The
result covers exactly the union of the input; adjacent pieces with the same origins are merged again.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence

from fabric.core.policy.ir import Interval

Box = tuple[Interval, ...]
Piece = tuple[Box, frozenset[str]]


def disjoint(boxes: Sequence[tuple[Box, str]]) -> list[Piece]:
    """Disjoint pieces covering the union of `boxes`, each with the origins of the boxes covering it."""
    if not boxes:
        return []
    if len(boxes) == 1:
        box, origin = boxes[0]
        return [(box, frozenset({origin}))]
    return _split([(b, frozenset({o})) for b, o in boxes], 0, len(boxes[0][0]))


def _split(boxes: list[Piece], dim: int, dims: int) -> list[Piece]:
    if dim == dims - 1:
        return [((r,), origins) for r, origins in _sweep_last(boxes, dim)]
    out: list[Piece] = []
    previous: tuple[Interval, list[Piece]] | None = None
    for segment, active in _elementary(boxes, dim):
        sub = _split(active, dim + 1, dims)
        if previous is not None and previous[0][1] + 1 == segment[0] and previous[1] == sub:
            previous = ((previous[0][0], segment[1]), sub)
            continue
        if previous is not None:
            out.extend(((previous[0], *box), origins) for box, origins in previous[1])
        previous = (segment, sub)
    if previous is not None:
        out.extend(((previous[0], *box), origins) for box, origins in previous[1])
    return out


def _elementary(boxes: list[Piece], dim: int) -> list[tuple[Interval, list[Piece]]]:
    """Segments of dimension `dim` between consecutive box edges, with the boxes covering each.

    Each box is placed into the segments it spans by bisection, so the cost follows the coverage, not
    segments x boxes (20,000 services on distinct addresses are 20,000 one-box segments).
    """
    edges = sorted({b[dim][0] for b, _ in boxes} | {b[dim][1] + 1 for b, _ in boxes})
    covering: list[list[Piece]] = [[] for _ in edges]
    for piece in boxes:
        lo, hi = piece[0][dim]
        for index in range(bisect_left(edges, lo), bisect_left(edges, hi + 1)):
            covering[index].append(piece)
    return [((edges[i], edges[i + 1] - 1), covering[i]) for i in range(len(edges) - 1) if covering[i]]


def _sweep_last(boxes: list[Piece], dim: int) -> list[tuple[Interval, frozenset[str]]]:
    """The last dimension by an event sweep: O(n log n) however many ranges overlap."""
    events: list[tuple[int, int, frozenset[str]]] = []
    for box, origins in boxes:
        events.append((box[dim][0], 1, origins))
        events.append((box[dim][1] + 1, -1, origins))
    events.sort(key=lambda e: e[0])
    active: Counter[str] = Counter()
    out: list[tuple[Interval, frozenset[str]]] = []
    i = 0
    while i < len(events):
        at = events[i][0]
        while i < len(events) and events[i][0] == at:
            _, delta, origins = events[i]
            for origin in origins:
                active[origin] += delta
                if not active[origin]:
                    del active[origin]
            i += 1
        if active and i < len(events):
            current = frozenset(active)
            end = events[i][0] - 1
            if out and out[-1][0][1] + 1 == at and out[-1][1] == current:
                out[-1] = ((out[-1][0][0], end), current)
            else:
                out.append(((at, end), current))
    return out
