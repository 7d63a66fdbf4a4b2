"""Random clusters and flows (hypothesis strategies) shared by the property tests and the packet sample."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import strategies as st

from tests.unit.policy_helpers import lb, pod, policy

POD_IPS = [("10.244.1.1", "2001:db8:10::1"), ("10.244.1.2", "2001:db8:10::2"), ("10.244.2.3", None)]
LB_IPS = ["203.0.113.10", "2001:db8:ffff::10"]
REMOTES = ["192.0.2.1", "192.0.2.77", "192.0.2.200", "198.51.100.9", "2001:db8:99::1", "2001:db8:99:8000::5"]
BLOCKS = [
    ("192.0.2.0/24", ["192.0.2.64/26"]),
    ("192.0.2.0/25", []),
    ("192.0.2.128/25", ["192.0.2.192/27"]),
    ("0.0.0.0/0", ["198.51.100.0/24"]),
    ("2001:db8:99::/48", ["2001:db8:99:8000::/49"]),
    ("::/0", []),
]
PORTS = [80, 443, 5353, 8080, 9000]
LABELS = st.fixed_dictionaries(
    {}, optional={"app": st.sampled_from(["a", "b"]), "tier": st.sampled_from(["x", "y"])}
)


@st.composite
def port_entries(draw: Any) -> list[dict[str, Any]]:
    entries = []
    for _ in range(draw(st.integers(0, 2))):
        entry: dict[str, Any] = {}
        proto = draw(st.sampled_from([None, "TCP", "UDP", "SCTP"]))
        if proto:
            entry["protocol"] = proto
        shape = draw(st.sampled_from(["port", "range", "none", "named"]))
        if shape == "port":
            entry["port"] = draw(st.sampled_from(PORTS))
        elif shape == "range":
            entry["port"] = draw(st.sampled_from(PORTS))
            entry["endPort"] = entry["port"] + draw(st.integers(0, 500))
        elif shape == "named":
            entry["port"] = draw(st.sampled_from(["web", "dns"]))
        entries.append(entry)
    return entries


@st.composite
def peers(draw: Any) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["block", "block", "pods"]))
        if kind == "pods":
            out.append({"podSelector": {"matchLabels": draw(LABELS)}})
        else:
            cidr, excepts = draw(st.sampled_from(BLOCKS))
            out.append(
                {"ipBlock": {"cidr": cidr, "except": excepts}} if excepts else {"ipBlock": {"cidr": cidr}}
            )
    return out


@st.composite
def policies(draw: Any, index: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": {"matchLabels": draw(LABELS)}}
    for key, peer_key in (("ingress", "from"), ("egress", "to")):
        if draw(st.booleans()):
            rules = []
            for _ in range(draw(st.integers(0, 2))):
                rule: dict[str, Any] = {}
                if draw(st.booleans()):
                    rule[peer_key] = draw(peers())
                if draw(st.booleans()):
                    rule["ports"] = draw(port_entries())
                rules.append(rule)
            spec[key] = rules
    if draw(st.booleans()):
        spec["policyTypes"] = draw(st.sampled_from([["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
    return policy(f"p{index}", spec)


@st.composite
def clusters(draw: Any) -> list[dict[str, Any]]:
    objects = []
    for i, (v4, v6) in enumerate(POD_IPS):
        ips = [v4] + ([v6] if v6 else [])
        objects.append(pod(f"pod{i}", ips, draw(LABELS), web=(8080, "TCP"), dns=(5353, "UDP")))
    objects += [draw(policies(i)) for i in range(draw(st.integers(0, 4)))]
    if draw(st.booleans()):
        ranges = draw(st.sampled_from([None, ["192.0.2.0/25"], ["192.0.2.0/25", "2001:db8:99::/48"]]))
        objects.append(lb("svc", LB_IPS, [{"port": 443}, {"port": 5353, "protocol": "UDP"}], ranges))
    return objects


def local_addresses() -> list[str]:
    return [a for pair in POD_IPS for a in pair if a] + LB_IPS


@st.composite
def flows(draw: Any) -> tuple[str, str, int, str]:
    """(src, dst, port, PROTO) of one family, in either direction."""
    local = draw(st.sampled_from(local_addresses()))
    family = ipaddress.ip_address(local).version
    remote = draw(st.sampled_from([r for r in REMOTES if ipaddress.ip_address(r).version == family]))
    port = draw(st.sampled_from([*PORTS, 8080, 5353, 9300, 22]))
    proto = draw(st.sampled_from(["TCP", "UDP", "SCTP"]))
    return (remote, local, port, proto) if draw(st.booleans()) else (local, remote, port, proto)
