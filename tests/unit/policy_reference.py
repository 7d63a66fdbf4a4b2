"""An independent reference evaluator of the Kubernetes rules, written from the specification, not
from fabric's compiler: it reads the raw manifests (dicts) and judges one flow at a time, the slow and
obvious way.  The property tests compare `fabric firewall explain` (and the loaded ruleset) with it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

Addr = ipaddress.IPv4Address | ipaddress.IPv6Address


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def _pod_ips(pod: dict[str, Any]) -> set[Addr]:
    status = pod.get("status") or {}
    ips = {ipaddress.ip_address(p["ip"]) for p in status.get("podIPs") or []}
    if status.get("podIP"):
        ips.add(ipaddress.ip_address(status["podIP"]))
    return ips


def _types(spec: dict[str, Any]) -> set[str]:
    if spec.get("policyTypes"):
        return set(spec["policyTypes"])
    return {"Ingress", "Egress"} if spec.get("egress") else {"Ingress"}


def _peer_matches(peers: list[dict[str, Any]] | None, remote: Addr) -> bool:
    if not peers:
        return True
    for peer in peers:
        block = peer.get("ipBlock")
        if block is None:
            continue  # selects pods: the remote end of a crossing flow is never a pod
        cidr = ipaddress.ip_network(block["cidr"], strict=False)
        if remote.version != cidr.version or remote not in cidr:
            continue
        if any(remote in ipaddress.ip_network(e, strict=False) for e in block.get("except") or []):
            continue
        return True
    return False


def _port_matches(
    ports: list[dict[str, Any]] | None, proto: str, port: int, pod: dict[str, Any] | None
) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != proto:
            continue
        want = entry.get("port")
        if want is None:
            return True
        if isinstance(want, str):
            if pod is not None and any(
                c.get("name") == want and c.get("protocol", "TCP") == proto and c["containerPort"] == port
                for container in pod["spec"].get("containers", [])
                for c in container.get("ports") or []
            ):
                return True
            continue
        if want <= port <= entry.get("endPort", want):
            return True
    return False


def reference_verdict(  # noqa: PLR0917 - one flow, spelled out
    objects: list[dict[str, Any]],
    cluster: list[str],
    isolation: str,
    src: str,
    dst: str,
    port: int,
    proto: str,
) -> bool:
    """True when the flow src → dst:port/proto (proto: TCP, UDP, SCTP) may cross the firewall."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    pods = [o for o in objects if o["kind"] == "Pod"]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    services = [o for o in objects if o["kind"] == "Service" and o["spec"].get("type") == "LoadBalancer"]
    lb_ips = {
        ipaddress.ip_address(i["ip"]) for svc in services for i in svc["status"]["loadBalancer"]["ingress"]
    }
    nets = [ipaddress.ip_network(c) for c in cluster]

    def inside(a: Addr) -> bool:
        return a in lb_ips or any(a.version == n.version and a in n for n in nets)

    if inside(s) and inside(d):
        return True
    if not inside(s) and not inside(d):
        return False
    ingress = inside(d)
    local, remote = (d, s) if ingress else (s, d)
    if ingress:
        for svc in services:
            ips = {ipaddress.ip_address(i["ip"]) for i in svc["status"]["loadBalancer"]["ingress"]}
            ranges = svc["spec"].get("loadBalancerSourceRanges") or []
            opens = any(p.get("protocol", "TCP") == proto and p["port"] == port for p in svc["spec"]["ports"])
            if (
                local in ips
                and opens
                and (
                    not ranges
                    or any(
                        remote in ipaddress.ip_network(r, strict=False)
                        for r in ranges
                        if ipaddress.ip_network(r, strict=False).version == remote.version
                    )
                )
            ):
                return True
    kind, rules_key, peers_key = ("Ingress", "ingress", "from") if ingress else ("Egress", "egress", "to")
    isolated = False
    for pod in pods:
        if local not in _pod_ips(pod):
            continue
        for pol in policies:
            spec = pol["spec"]
            if pol["metadata"]["namespace"] != pod["metadata"]["namespace"] or kind not in _types(spec):
                continue
            if not _selects(spec["podSelector"], pod["metadata"].get("labels") or {}):
                continue
            isolated = True
            for rule in spec.get(rules_key) or []:
                named_pod = pod if ingress else None
                if _peer_matches(rule.get(peers_key), remote) and _port_matches(
                    rule.get("ports"), proto, port, named_pod
                ):
                    return True
    if isolation == "boundary":
        return False
    if ingress and local in lb_ips:
        return False  # a load-balancer IP opens its Service's ports from its source ranges, nothing else
    return not isolated
