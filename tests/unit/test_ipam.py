"""IPAM arithmetic: free spans compared with a plain set of values (hypothesis) and error texts."""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabric.core.ipam import (
    FreeSpace,
    Span,
    aligned_start,
    block_size,
    carve,
    key,
    merge,
    parse_prefix,
    prefix_span,
    resized,
    unkey,
)
from fabric.errors import AllocationError, ValidationError

SIZE = 64
Op = tuple[str, int]
ops = st.lists(
    st.one_of(
        st.tuples(st.just("take"), st.sampled_from([1, 1, 1, 2, 4, 8])),
        st.tuples(st.just("take_at"), st.integers(0, SIZE - 1)),
        st.tuples(st.just("release"), st.integers(0, SIZE - 1)),
    ),
    max_size=120,
)


def lowest_aligned(free: set[int], size: int) -> int | None:
    for start in range(0, SIZE, size):
        if all(v in free for v in range(start, start + size)):
            return start
    return None


@settings(max_examples=300, deadline=None)
@given(ops)
def test_free_space_matches_a_set(sequence: list[Op]) -> None:
    space = FreeSpace("test", Span(0, SIZE - 1))
    free = set(range(SIZE))
    for op, arg in sequence:
        if op == "take":
            want = lowest_aligned(free, arg)
            if want is None:
                with pytest.raises(AllocationError, match="pool test \\(size 64\\) is exhausted"):
                    space.take(arg)
            else:
                assert space.take(arg) == want
                free -= set(range(want, want + arg))
        elif op == "take_at":
            if arg in free:
                assert space.take_at(arg) == arg
                free.discard(arg)
            else:
                with pytest.raises(AllocationError, match="not free"):
                    space.take_at(arg)
        elif arg not in free:
            space.release(arg)
            free.add(arg)
        else:
            with pytest.raises(AllocationError, match="free already"):
                space.release(arg)
        spans = space.spans
        assert {v for s in spans for v in range(s.first, s.last + 1)} == free
        # Spans stay disjoint, ordered and maximal (never two touching spans).
        assert all(a.last + 1 < b.first for a, b in itertools.pairwise(spans))
        assert space.free == len(free)


@given(st.integers(0, 2**128 - 1))
def test_key_round_trip_and_order(value: int) -> None:
    assert unkey(key(value)) == value
    assert len(key(value)) == 32
    assert (key(value) < key(value + 1)) if value < 2**128 - 1 else True


@given(st.integers(0, 1000), st.integers(0, 1000), st.sampled_from([1, 2, 4, 16]))
def test_aligned_start_is_lowest_aligned_fit(a: int, b: int, size: int) -> None:
    span = Span(min(a, b), max(a, b))
    start = aligned_start(span, size)
    fits = [s for s in range(span.first, span.last + 1) if s % size == 0 and s + size - 1 <= span.last]
    assert start == (fits[0] if fits else None)


def test_carve_and_merge() -> None:
    assert carve(Span(0, 9), 0, 1) == [Span(1, 9)]
    assert carve(Span(0, 9), 4, 2) == [Span(0, 3), Span(6, 9)]
    assert carve(Span(0, 9), 8, 2) == [Span(0, 7)]
    assert merge(Span(4, 5), Span(0, 3), Span(6, 9)) == Span(0, 9)
    assert merge(Span(4, 5), Span(0, 2), Span(7, 9)) == Span(4, 5)
    with pytest.raises(ValueError):
        carve(Span(0, 9), 9, 2)


def test_prefix_span_reserves_ipv4_edges_only_for_hosts() -> None:
    net = ipaddress.ip_network("10.0.0.0/24")
    assert prefix_span(net, reserve_edges=True) == Span(int(net[1]), int(net[254]))
    assert prefix_span(net, reserve_edges=False).size == 256
    v6 = ipaddress.ip_network("2001:db8::/64")
    assert prefix_span(v6, reserve_edges=True).size == 2**64 - 1
    p2p = ipaddress.ip_network("10.0.0.0/31")
    assert prefix_span(p2p, reserve_edges=True).size == 2


def test_errors_name_field_and_pool() -> None:
    with pytest.raises(ValidationError) as exc:
        parse_prefix("10.0.0.1/24", "prefixes[0]")
    assert exc.value.path == "prefixes[0]" and "host bits" in exc.value.reason
    with pytest.raises(ValidationError) as exc:
        block_size(32, 16, 24)
    assert exc.value.path == "length"
    space = FreeSpace("network/tenant-a/10.0.0.0/30", Span(1, 2))
    space.take()
    space.take()
    with pytest.raises(AllocationError) as err:
        space.take()
    assert err.value.pool == "network/tenant-a/10.0.0.0/30" and err.value.size == 2
    assert "(size 2) is exhausted: cannot allocate a block of 1" in str(err.value)


@settings(max_examples=300, deadline=None)
@given(
    st.sets(st.integers(0, 63)),
    st.integers(0, 40),
    st.integers(0, 40),
)
def test_resized_keeps_every_taken_value_or_names_one_outside(taken: set[int], lo: int, width: int) -> None:
    whole = Span(0, 63)
    space = FreeSpace("p", whole)
    for value in sorted(taken):
        space.take_at(value)
    new = Span(lo, lo + width)
    result = resized(space.spans, whole, new)
    outside = sorted(v for v in taken if v not in new)
    if outside:
        assert result == outside[0]
        return
    assert isinstance(result, list)
    free = {v for span in result for v in range(span.first, span.last + 1)}
    assert free == {v for v in range(new.first, new.last + 1)} - taken
    assert all(a.last + 1 < b.first for a, b in itertools.pairwise(result))  # disjoint, merged
