"""Small builders of Kubernetes objects (as dicts, the way kubectl writes them) for the policy tests."""

from __future__ import annotations

import ipaddress
from typing import Any

from fabric.core.policy.compiler import compile_policy
from fabric.core.policy.explain import Explanation, explain, parse_flow
from fabric.core.policy.ir import CompiledPolicy, Isolation
from fabric.core.policy.manifests import parse_objects

CLUSTER = ["10.244.0.0/16", "2001:db8:10::/56"]


def pod(
    name: str, ips: list[str], labels: dict[str, str] | None = None, ns: str = "app", **ports: Any
) -> dict:
    containers = [
        {
            "name": "c",
            "ports": [{"name": k, "containerPort": v[0], "protocol": v[1]} for k, v in ports.items()],
        }
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "spec": {"containers": containers},
        "status": {"phase": "Running", "podIP": ips[0], "podIPs": [{"ip": i} for i in ips]},
    }


def policy(name: str, spec: dict, ns: str = "app") -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def lb(
    name: str, ips: list[str], ports: list[dict], ranges: list[str] | None = None, ns: str = "app"
) -> dict:
    spec: dict[str, Any] = {"type": "LoadBalancer", "ports": ports}
    if ranges is not None:
        spec["loadBalancerSourceRanges"] = ranges
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
        "status": {"loadBalancer": {"ingress": [{"ip": i} for i in ips]}},
    }


def compiled(objects: list[dict], isolation: Isolation = "boundary") -> CompiledPolicy:
    nets = [ipaddress.ip_network(c) for c in CLUSTER]
    return compile_policy(parse_objects(objects), nets, isolation)


def verdict(
    objects: list[dict], src: str, dst: str, port: str, isolation: Isolation = "boundary"
) -> Explanation:
    return explain(compiled(objects, isolation), parse_flow(src, dst, port))
