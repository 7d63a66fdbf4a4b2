"""Schemathesis hooks for the contract run (`SCHEMATHESIS_HOOKS`): one check replaces
`positive_data_acceptance`.

A request the OpenAPI document allows must be accepted, except where the refusal is one of the rules
below, which JSON Schema cannot state (each says why); the server refuses them with a 422 whose every
reason is one of these, or with a 412 for an `If-Match` naming a version the object is no longer at (a
well-formed request that the object's state answers).  Anything else the document allows and the server
refuses fails the run, as schemathesis' own check would.
"""

from __future__ import annotations

import json
import re
from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

RULES = {
    # A body field cannot be tied to a path parameter in JSON Schema.
    "body name equals the path name": r"^the body names '.*' but the path names '.*'$",
    # The object as it is: a field that cannot change once created (delete and create it again).
    "immutable fields keep their value": r"cannot change \(it is .*\); delete it and create it again$",
    # Other objects as they are: what a body names must be of the kind, partition and state the
    # operation needs (a request's schema cannot describe other objects).
    "a machine is cabled before it is allocated": r"must be dual-attached to two leaves",
    "named networks exist in the partition": r"no network '.*' in partition",
    "a named network is of the kind and partition needed": (
        r"(is not a super network of partition|is in partition|is in none of the machine's networks"
        r"|has no underlay network|only external ones may follow|must be a private network of project"
        r"|a firewall serves private and external networks|is a super network: IPs come from"
        r"|is outside every prefix of network|has no IPv\d prefix|has no default"
        r"|a firewall's own addresses are in external networks|does not serve network"
        r"|network, not external)"
    ),
    "a firewall's address belongs to a firewall of its project": (
        r"(is not allocated as a firewall|belongs to its project)"
    ),
    "a carved prefix keeps its length": r"is carved already",
    # Two fields of one object compared with each other.
    "a range's first is not above its last": r"first \d+ is greater than last \d+",
    "the PXE VLAN lies outside the VLAN range": r"PXE VLAN \d+ lies inside vlan_range",
    "le is longer than the prefix": r"le \d+ must be greater than the prefix length",
    "a child length fits its family": r"(not a valid length|prefix length|longer than)",
    # Uniqueness of one field across the items of a list (uniqueItems compares whole items).
    "one exit per port": r"named by more than one exit",
    # Arithmetic on an address: a pattern cannot say that the host bits are zero.
    "host bits of a prefix are zero": r"has host bits set",
}


def _reasons(text: str) -> list[str]:
    try:
        problem: dict[str, Any] = json.loads(text)
    except ValueError:
        return []
    return [str(e.get("reason", "")) for e in problem.get("errors", [])]


def _named_rule(response: Any) -> bool:
    reasons = _reasons(response.text)
    return bool(reasons) and all(any(re.search(rx, r) for rx in RULES.values()) for r in reasons)


@schemathesis.check
def positive_data_acceptance_but_stated_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    """`positive_data_acceptance`, except for refusals by the rules above."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except AssertionError:
        if response.status_code == 412 and "If-Match" in (case.headers or {}):
            return None
        if response.status_code == 422 and _named_rule(response):
            return None
        raise
