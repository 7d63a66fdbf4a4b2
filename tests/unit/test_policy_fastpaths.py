"""Shortcuts taken for speed give exactly what the slow way gives: IPv4 CIDRs parsed without
`ipaddress`'s string parser, and the declared size of hash sets (an element-only update never meets it)."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from fabric.core.policy.ir import network_range
from fabric.core.policy.kube import _network
from fabric.core.policy.ruleset import hash_size

OCTETS = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["00", "01", "010", "-1", "", "a"]))
LENGTHS = st.one_of(st.integers(0, 40).map(str), st.sampled_from(["024", "08", "", "255.0.0.0", "x"]))
SPACES = st.sampled_from(["", " ", "\t", "\n"])


def _slow(text: str) -> object:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return "rejected"


def _fast(text: str) -> object:
    try:
        return _network(text)
    except ValueError:
        return "rejected"


@given(st.lists(OCTETS, min_size=3, max_size=5), LENGTHS, SPACES, SPACES)
def test_ipv4_cidr_fast_path_is_ipaddress(octets: list[str], length: str, before: str, after: str) -> None:
    text = f"{before}{'.'.join(octets)}/{length}{after}"
    fast, slow = _fast(text), _slow(text)
    assert fast == slow
    assert type(fast) is type(slow)


def test_cidr_examples() -> None:
    assert _network("10.0.0.1/8") == ipaddress.IPv4Network("10.0.0.0/8")
    assert _network("2001:db8::1/48") == ipaddress.IPv6Network("2001:db8::/48")
    assert _fast("1.2.3.4/33") == "rejected"


@given(st.integers(0, 2_000_000))
def test_hash_size_leaves_room_for_element_updates(count: int) -> None:
    size = hash_size(count)
    assert size & (size - 1) == 0  # a power of two: the size only changes at thresholds
    assert size > count + count // 2  # element-only updates keep the size, so at most size/1.5 ...
    assert hash_size(count + 1) >= size  # ... and a larger table never gets a smaller size


def test_hash_size_examples() -> None:
    assert hash_size(0) == 64
    assert hash_size(20_000) == 32_768
    assert hash_size(40_000) == 65_536


@given(
    st.one_of(st.ip_addresses(v=4).map(lambda a: (a, 32)), st.ip_addresses(v=6).map(lambda a: (a, 128))),
    st.data(),
)
def test_network_range_is_network_to_broadcast(address: tuple[object, int], data: st.DataObject) -> None:
    net = ipaddress.ip_network(f"{address[0]}/{data.draw(st.integers(0, address[1]))}", strict=False)
    assert network_range.__wrapped__(net) == (int(net.network_address), int(net.broadcast_address))
