"""The fast Service parser accepts exactly what the pydantic model accepts and reads the same values;
whatever it does not take on itself goes to the model, so errors keep naming the field."""

from __future__ import annotations

import ipaddress
from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabric.core.policy.kube import Service
from fabric.core.policy.manifests import parse_objects
from fabric.core.policy.services import ServiceView, _ip, _local, fast_service


def mostly(valid: list[Any], odd: list[Any]) -> st.SearchStrategy[Any]:
    """Valid values six times as likely as odd ones (most services must get past the first field)."""
    return st.sampled_from(valid * 6 + odd)


NAMES = mostly(["web", "a", "Web.v2", "a_b"], ["-bad", "bad-", "x" * 254, "", "web\n", 7, None])
NAMESPACES = mostly(["app", "kube-system", "default"], ["App", "a.b", "", "x" * 64, "ns\n", None])
IPS = mostly(
    ["203.0.113.10", "2001:db8::1", "0.0.0.0", "fe80::1%eth0", "::ffff:1.2.3.4"],
    ["010.0.0.1", "1.2.3", "256.0.0.1", " 1.2.3.4", "1.2.3.4 ", 5],
)
CIDRS = mostly(
    ["192.0.2.0/24", " 10.0.0.1/8 ", "2001:db8::/48", "10.0.0.0/024", "10.0.0.0/255.0.0.0"],
    ["10.0.0.0/33", "x", 3],
)
PORTS = st.fixed_dictionaries(
    {"port": mostly([80, 443, 1, 65535], [0, 65536, "80", True, 8080.0])},
    optional={
        "protocol": mostly(["TCP", "UDP", "SCTP"], ["tcp", "ICMP", None]),
        "name": mostly(["http", ""], [None]),
        "targetPort": st.sampled_from([8080, "http"]),
    },
)
LABELS = mostly([None, {}, {"app": "web"}], [{"app": 1}, ["x"]])


@st.composite
def services(draw: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": draw(NAMES)}
    if draw(st.booleans()):
        meta["namespace"] = draw(NAMESPACES)
    if draw(st.booleans()):
        meta["labels"] = draw(LABELS)
    spec: dict[str, Any] = {}
    if draw(st.booleans()):
        spec["type"] = draw(mostly(["LoadBalancer", "ClusterIP"], [None]))
    if draw(st.booleans()):
        spec["ports"] = draw(st.lists(PORTS, max_size=3) | mostly([[]], [None, "80"]))
    if draw(st.booleans()):
        spec["loadBalancerIP"] = draw(st.one_of(IPS, st.none()))
    if draw(st.booleans()):
        spec["loadBalancerSourceRanges"] = draw(st.one_of(st.lists(CIDRS, max_size=3), st.none()))
    if draw(mostly([False], [True])):
        spec[draw(st.sampled_from(["load_balancer_ip", "load_balancer_source_ranges"]))] = "203.0.113.9"
    raw: dict[str, Any] = {"kind": "Service", "metadata": meta, "spec": spec}
    if draw(st.booleans()):
        entries = st.lists(
            st.one_of(st.fixed_dictionaries({}, optional={"ip": IPS}), st.just("x")), max_size=3
        )
        raw["status"] = {"loadBalancer": {"ingress": draw(entries)}}
    return raw


@settings(max_examples=600, deadline=None)
@given(raw=services())
def test_fast_parser_agrees_with_the_model(raw: dict[str, Any]) -> None:
    fast = fast_service(raw)
    try:
        model = ServiceView.of(Service.model_validate(raw))
    except pydantic.ValidationError:
        assert fast is None, f"fast path accepted what the model rejects: {fast}"
        return
    assert fast is None or fast == model


@pytest.mark.parametrize(
    "raw",
    [
        {
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "app", "labels": {"app": "web"}, "uid": "x"},
            "spec": {
                "type": "LoadBalancer",
                "ports": [{"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}],
                "loadBalancerSourceRanges": ["192.0.2.0/24", "2001:db8::/48"],
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10", "ipMode": "VIP"}]}},
        },
        {"kind": "Service", "metadata": {"name": "db"}, "spec": {"ports": [{"port": 5432}]}},
    ],
)
def test_the_kubectl_shape_takes_the_fast_path(raw: dict[str, Any]) -> None:
    fast = fast_service(raw)
    assert fast is not None and fast == ServiceView.of(Service.model_validate(raw))


def test_a_bad_service_is_rejected_naming_the_field() -> None:
    bad = {
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"loadBalancerSourceRanges": ["10.0.0.0/33"]},
    }
    cluster = parse_objects([bad])
    assert not cluster.services
    assert cluster.rejected[0].object == "Service/default/web"
    assert cluster.rejected[0].reason == "spec.loadBalancerSourceRanges.0: '10.0.0.0/33' is not a CIDR"


OCTETS = st.one_of(
    st.integers(0, 300).map(str), st.sampled_from(["00", "01", "010", "-1", "", "a", "\u0661", "0x1"])
)
SPACES = st.sampled_from(["", " ", "\n", "\x00", "."])


@given(st.lists(OCTETS, min_size=3, max_size=5), SPACES, SPACES)
def test_the_dotted_quad_shortcut_is_ipaddress(octets: list[str], before: str, after: str) -> None:
    text = f"{before}{'.'.join(octets)}{after}"
    try:
        slow: object = ipaddress.ip_address(text)
    except ValueError:
        slow = "rejected"
    try:
        fast: object = _ip(text)
    except ValueError:
        fast = "rejected"
    assert fast == slow
    assert type(fast) is type(slow)
    try:
        local: object = _local(text)
    except ValueError:
        local = "rejected"
    if isinstance(slow, ipaddress.IPv4Address | ipaddress.IPv6Address):
        assert local == (slow.version, int(slow))
    else:
        assert local == "rejected"
