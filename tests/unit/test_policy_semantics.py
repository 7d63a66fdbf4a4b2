"""The semantics table: NetworkPolicy and LoadBalancer rules as Kubernetes defines them
(docs/concepts.md#firewall), judged for traffic crossing the firewall, and metal-stack
firewall-controller's known failures each as a row."""

from __future__ import annotations

import pytest

from tests.unit.policy_helpers import lb, pod, policy, verdict

WEB = pod("web", ["10.244.1.10", "2001:db8:10::a"], {"app": "web"}, http=(8080, "TCP"), dns=(53, "UDP"))
DB = pod("db", ["10.244.1.20"], {"app": "db"})


def ingress(*rules: dict, types: list[str] | None = None, selector: dict | None = None) -> dict:
    spec: dict = {
        "podSelector": selector if selector is not None else {"matchLabels": {"app": "web"}},
        "ingress": list(rules),
    }
    if types is not None:
        spec["policyTypes"] = types
    return spec


TWO_BLOCKS = ingress(
    {
        "from": [
            {"ipBlock": {"cidr": "198.51.100.0/24", "except": ["198.51.100.128/25"]}},
            {"ipBlock": {"cidr": "198.51.100.128/26"}},
        ]
    }
)

# (case, objects, src, dst, port, isolation, expected verdict)
TABLE = [
    (
        "except is scoped to its own ipBlock",
        [WEB, policy("p", TWO_BLOCKS)],
        "198.51.100.130",
        "10.244.1.10",
        "80/tcp",
        "boundary",
        "allow",
    ),
    (
        "except still removes from its own block",
        [WEB, policy("p", TWO_BLOCKS)],
        "198.51.100.200",
        "10.244.1.10",
        "80/tcp",
        "boundary",
        "deny",
    ),
    (
        "except leaves the rest of its block",
        [WEB, policy("p", TWO_BLOCKS)],
        "198.51.100.5",
        "10.244.1.10",
        "80/tcp",
        "boundary",
        "allow",
    ),
    (
        "empty ports = all ports",
        [WEB, policy("p", ingress({"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}))],
        "192.0.2.1",
        "10.244.1.10",
        "31337/udp",
        "boundary",
        "allow",
    ),
    (
        "empty ports = all protocols (sctp too)",
        [WEB, policy("p", ingress({}))],
        "192.0.2.1",
        "10.244.1.10",
        "9/sctp",
        "boundary",
        "allow",
    ),
    (
        "protocol-only port: all ports of that protocol",
        [WEB, policy("p", ingress({"ports": [{"protocol": "UDP"}]}))],
        "192.0.2.1",
        "10.244.1.10",
        "5353/udp",
        "boundary",
        "allow",
    ),
    (
        "protocol-only port: not other protocols",
        [WEB, policy("p", ingress({"ports": [{"protocol": "UDP"}]}))],
        "192.0.2.1",
        "10.244.1.10",
        "5353/tcp",
        "boundary",
        "deny",
    ),
    (
        "endPort is inclusive (last)",
        [WEB, policy("p", ingress({"ports": [{"port": 9000, "endPort": 9010}]}))],
        "192.0.2.1",
        "10.244.1.10",
        "9010/tcp",
        "boundary",
        "allow",
    ),
    (
        "endPort is inclusive (beyond)",
        [WEB, policy("p", ingress({"ports": [{"port": 9000, "endPort": 9010}]}))],
        "192.0.2.1",
        "10.244.1.10",
        "9011/tcp",
        "boundary",
        "deny",
    ),
    (
        "SCTP is its own protocol",
        [WEB, policy("p", ingress({"ports": [{"protocol": "SCTP", "port": 80}]}))],
        "192.0.2.1",
        "10.244.1.10",
        "80/tcp",
        "boundary",
        "deny",
    ),
    (
        "SCTP port allowed for SCTP",
        [WEB, policy("p", ingress({"ports": [{"protocol": "SCTP", "port": 80}]}))],
        "192.0.2.1",
        "10.244.1.10",
        "80/sctp",
        "boundary",
        "allow",
    ),
    (
        "protocol defaults to TCP",
        [WEB, policy("p", ingress({"ports": [{"port": 80}]}))],
        "192.0.2.1",
        "10.244.1.10",
        "80/udp",
        "boundary",
        "deny",
    ),
    (
        "protocol default TCP allows TCP",
        [WEB, policy("p", ingress({"ports": [{"port": 80}]}))],
        "192.0.2.1",
        "10.244.1.10",
        "80/tcp",
        "boundary",
        "allow",
    ),
    (
        "named port resolved from the pod",
        [WEB, policy("p", ingress({"ports": [{"port": "http"}]}))],
        "192.0.2.1",
        "10.244.1.10",
        "8080/tcp",
        "boundary",
        "allow",
    ),
    (
        "named port needs its protocol",
        [WEB, policy("p", ingress({"ports": [{"port": "dns", "protocol": "TCP"}]}))],
        "192.0.2.1",
        "10.244.1.10",
        "53/tcp",
        "boundary",
        "deny",
    ),
    (
        "unresolvable named port never widens to all ports",
        [WEB, policy("p", ingress({"ports": [{"port": "nope"}]}))],
        "192.0.2.1",
        "10.244.1.10",
        "8080/tcp",
        "boundary",
        "deny",
    ),
    (
        "policyTypes default: ingress only, egress not isolated",
        [WEB, policy("p", ingress())],
        "10.244.1.10",
        "192.0.2.1",
        "443/tcp",
        "kubernetes",
        "allow",
    ),
    (
        "policyTypes default: ingress isolated",
        [WEB, policy("p", ingress())],
        "192.0.2.1",
        "10.244.1.10",
        "443/tcp",
        "kubernetes",
        "deny",
    ),
    (
        "egress rules add Egress to the default",
        [WEB, policy("p", {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}]})],
        "10.244.1.10",
        "203.0.113.1",
        "443/tcp",
        "kubernetes",
        "deny",
    ),
    (
        "egress allowed by its ipBlock",
        [WEB, policy("p", {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}]})],
        "10.244.1.10",
        "192.0.2.7",
        "443/tcp",
        "kubernetes",
        "allow",
    ),
    (
        "ingress rules ignored without Ingress type",
        [WEB, policy("p", ingress({}, types=["Egress"]))],
        "192.0.2.1",
        "10.244.1.10",
        "80/tcp",
        "boundary",
        "deny",
    ),
    (
        "Egress-only policy leaves ingress unisolated",
        [WEB, policy("p", ingress({}, types=["Egress"]))],
        "192.0.2.1",
        "10.244.1.10",
        "80/tcp",
        "kubernetes",
        "allow",
    ),
    (
        "dual stack: IPv6 empty from allows IPv6",
        [WEB, policy("p", ingress({"ports": [{"port": 80}]}))],
        "2001:db8:99::1",
        "2001:db8:10::a",
        "80/tcp",
        "boundary",
        "allow",
    ),
    (
        "dual stack: IPv4 block does not allow IPv6",
        [WEB, policy("p", ingress({"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}))],
        "2001:db8:99::1",
        "2001:db8:10::a",
        "80/tcp",
        "boundary",
        "deny",
    ),
    (
        "dual stack: IPv6 block",
        [WEB, policy("p", ingress({"from": [{"ipBlock": {"cidr": "2001:db8:99::/48"}}]}))],
        "2001:db8:99::1",
        "2001:db8:10::a",
        "80/tcp",
        "boundary",
        "allow",
    ),
    (
        "pod selectors never match the far side",
        [WEB, policy("p", ingress({"from": [{"podSelector": {}}, {"namespaceSelector": {}}]}))],
        "192.0.2.1",
        "10.244.1.10",
        "80/tcp",
        "boundary",
        "deny",
    ),
    (
        "union of policies",
        [
            WEB,
            policy("a", ingress({"ports": [{"port": 80}]})),
            policy("b", ingress({"ports": [{"port": 81}]})),
        ],
        "192.0.2.1",
        "10.244.1.10",
        "81/tcp",
        "boundary",
        "allow",
    ),
    (
        "union of rules, other pod denied",
        [WEB, DB, policy("a", ingress({"ports": [{"port": 80}]}))],
        "192.0.2.1",
        "10.244.1.20",
        "80/tcp",
        "boundary",
        "deny",
    ),
    ("boundary: unselected pod denied", [WEB, DB], "192.0.2.1", "10.244.1.20", "80/tcp", "boundary", "deny"),
    (
        "kubernetes: unselected pod allowed",
        [WEB, DB, policy("a", ingress())],
        "192.0.2.1",
        "10.244.1.20",
        "80/tcp",
        "kubernetes",
        "allow",
    ),
    (
        "LB without source ranges: open",
        [lb("s", ["203.0.113.10"], [{"port": 443}])],
        "192.0.2.1",
        "203.0.113.10",
        "443/tcp",
        "boundary",
        "allow",
    ),
    (
        "LB: only its ports",
        [lb("s", ["203.0.113.10"], [{"port": 443}])],
        "192.0.2.1",
        "203.0.113.10",
        "444/tcp",
        "boundary",
        "deny",
    ),
    (
        "LB: only its protocol",
        [lb("s", ["203.0.113.10"], [{"port": 443}])],
        "192.0.2.1",
        "203.0.113.10",
        "443/udp",
        "boundary",
        "deny",
    ),
    (
        "LB source range present: inside",
        [lb("s", ["203.0.113.10"], [{"port": 443}], ["192.0.2.0/28"])],
        "192.0.2.1",
        "203.0.113.10",
        "443/tcp",
        "boundary",
        "allow",
    ),
    (
        "LB source range present: outside",
        [lb("s", ["203.0.113.10"], [{"port": 443}], ["192.0.2.0/28"])],
        "192.0.2.99",
        "203.0.113.10",
        "443/tcp",
        "boundary",
        "deny",
    ),
    (
        "LB source range enforced in kubernetes mode",
        [lb("s", ["203.0.113.10"], [{"port": 443}], ["192.0.2.0/28"])],
        "192.0.2.99",
        "203.0.113.10",
        "443/tcp",
        "kubernetes",
        "deny",
    ),
    (
        "LB opens its port in kubernetes mode",
        [lb("s", ["203.0.113.10"], [{"port": 80}])],
        "192.0.2.99",
        "203.0.113.10",
        "80/tcp",
        "kubernetes",
        "allow",
    ),
    (
        "LB opens no other port in kubernetes mode (a load-balancer IP is not a pod: never 'not isolated')",
        [lb("s", ["203.0.113.10"], [{"port": 80}])],
        "192.0.2.99",
        "203.0.113.10",
        "443/tcp",
        "kubernetes",
        "deny",
    ),
    (
        "LB opens no other protocol in kubernetes mode",
        [lb("s", ["203.0.113.10"], [{"port": 80}])],
        "192.0.2.99",
        "203.0.113.10",
        "80/udp",
        "kubernetes",
        "deny",
    ),
    (
        "LB opens no other port in boundary mode either",
        [lb("s", ["203.0.113.10"], [{"port": 80}])],
        "192.0.2.99",
        "203.0.113.10",
        "443/tcp",
        "boundary",
        "deny",
    ),
    (
        "LB IPv6 with only IPv4 source ranges: closed",
        [lb("s", ["2001:db8:ffff::1"], [{"port": 443}], ["192.0.2.0/28"])],
        "2001:db8:1::1",
        "2001:db8:ffff::1",
        "443/tcp",
        "boundary",
        "deny",
    ),
    (
        "one IPv6 address never blocks the rest",
        [WEB, lb("s", ["2001:db8:ffff::1", "203.0.113.10"], [{"port": 443}])],
        "192.0.2.1",
        "203.0.113.10",
        "443/tcp",
        "boundary",
        "allow",
    ),
    ("inside the cluster: not crossing", [WEB], "10.244.1.20", "10.244.1.10", "80/tcp", "boundary", "allow"),
    ("neither side in the cluster", [WEB], "192.0.2.1", "198.51.100.1", "80/tcp", "boundary", "deny"),
]


@pytest.mark.parametrize(
    ("case", "objects", "src", "dst", "port", "isolation", "expected"), TABLE, ids=[t[0] for t in TABLE]
)
def test_semantics(  # noqa: PLR0917 - one table row
    case: str, objects: list[dict], src: str, dst: str, port: str, isolation: str, expected: str
) -> None:
    result = verdict(objects, src, dst, port, isolation)  # type: ignore[arg-type]
    assert result.verdict == expected, f"{case}: {result}"


def test_allow_names_the_deciding_objects() -> None:
    objects = [WEB, policy("a", ingress({"ports": [{"port": 80}]})), policy("b", ingress({}))]
    result = verdict(objects, "192.0.2.1", "10.244.1.10", "80/tcp")
    assert result.objects == ("NetworkPolicy/app/a", "NetworkPolicy/app/b")


def test_isolating_policies_named_on_deny() -> None:
    result = verdict(
        [WEB, policy("a", ingress({"ports": [{"port": 80}]}))],
        "192.0.2.1",
        "10.244.1.10",
        "81/tcp",
        "kubernetes",
    )
    assert (result.verdict, result.objects) == ("deny", ("NetworkPolicy/app/a",))
