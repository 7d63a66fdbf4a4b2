"""The address and prefix patterns the API's bodies state: what they accept parses, what the parsers
accept (in its canonical spelling) matches, and a refusal says what was expected in words."""

from __future__ import annotations

import ipaddress
import re

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabric.adapters.store.bodies import IpAcquire, NetworkCreate, PartitionCreate
from fabric.core.ipam import parse_allowed
from fabric.errors import ValidationError
from fabric.model import problems_of
from fabric.model.prefixes import ADDRESS_PATTERN, ALLOWED_PATTERN, IPV4_PREFIX_PATTERN, PREFIX_PATTERN

PARTITION = {
    "name": "fra",
    "vni_range": {"first": 1, "last": 9},
    "machine_asn_range": {"first": 1, "last": 9},
    "switch_asn_range": {"first": 10, "last": 19},
    "loopback_prefix": "10.0.0.0/24",
}


@settings(max_examples=400, deadline=None)
@given(st.from_regex(ADDRESS_PATTERN))
def test_every_address_the_pattern_takes_parses(text: str) -> None:
    ipaddress.ip_address(text.strip())


@settings(max_examples=400, deadline=None)
@given(st.from_regex(PREFIX_PATTERN))
def test_every_prefix_the_pattern_takes_parses(text: str) -> None:
    ipaddress.ip_network(text.strip(), strict=False)  # host bits: the store's rule, not the pattern's


@settings(max_examples=300, deadline=None)
@given(st.ip_addresses(), st.integers(0, 128))
def test_every_canonical_address_and_prefix_matches(address: ipaddress._BaseAddress, length: int) -> None:
    assert re.match(ADDRESS_PATTERN, str(address))
    net = ipaddress.ip_network((address, min(length, address.max_prefixlen)), strict=False)
    assert re.match(PREFIX_PATTERN, str(net))
    assert re.match(IPV4_PREFIX_PATTERN, str(net)) or net.version == 6


@pytest.mark.parametrize(
    "text",
    ["", "10.0.0.0", "010.0.0.0/8", "10.0.0.0/33", "2001:db8::/129", "fe80::1%eth0/64", " 10.0.0.0/8"],
)
def test_not_a_prefix(text: str) -> None:
    assert not re.match(PREFIX_PATTERN, text)


def test_a_refusal_says_what_was_expected_in_words() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        PartitionCreate.model_validate({**PARTITION, "loopback_prefix": ""})
    assert problems_of(info.value, "body") == [
        ("loopback_prefix", "'' is not an IPv4 prefix such as 10.0.0.0/24")
    ]
    with pytest.raises(pydantic.ValidationError) as info:
        IpAcquire.model_validate({"network": "internet", "address": "10.0.0.256"})
    assert problems_of(info.value, "body") == [("address", "'10.0.0.256' is not an IPv4 or IPv6 address")]


@pytest.mark.parametrize(
    "text",
    [
        "10.244.0.0/16 ge 24",  # FRR's word, but the documents take only `le`
        "10.244.0.0/16 le 24\nrouter bgp 1",  # nothing may follow into a rendered prefix-list
        "10.244.0.0/16  le 24",
        "10.244.0.0/16 le",
    ],
)
def test_extra_prefixes_take_a_prefix_and_le_only(text: str) -> None:
    assert not re.fullmatch(ALLOWED_PATTERN, text)
    assert re.fullmatch(ALLOWED_PATTERN, "10.244.0.0/16 le 24")
    body = {"name": "n", "partition": "fra", "kind": "private", "parent": "p", "project": "a"}
    with pytest.raises(pydantic.ValidationError):
        NetworkCreate.model_validate({**body, "extra_prefixes": [text]})


def test_le_is_longer_than_the_prefix_and_within_its_family() -> None:
    assert str(parse_allowed("10.244.0.0/16 le 24", "extra_prefixes[0]")) == "10.244.0.0/16"
    assert str(parse_allowed("fd00::/56 le 128", "extra_prefixes[0]")) == "fd00::/56"
    for text, why in [
        ("10.244.0.0/16 le 16", "le 16 must be greater than the prefix length 16 and at most 32"),
        ("10.244.0.0/16 le 33", "le 33 must be greater than the prefix length 16 and at most 32"),
        ("10.244.0.1/16", "has host bits set"),
    ]:
        with pytest.raises(ValidationError, match=why) as info:
            parse_allowed(text, "extra_prefixes[2]")
        assert info.value.problems[0][0] == "extra_prefixes[2]"
