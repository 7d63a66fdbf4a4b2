"""Parsed manifests → typed Kubernetes objects, each bad one rejected with its reason.

Input is what `yaml.safe_load_all` gives for `kubectl get -o yaml` output: single objects, `List` kinds
(`kind: List`, `ServiceList`, ...) with `items`, and `None` for empty documents.  Kinds the firewall does
not read are skipped silently; an object of a kind it reads but cannot parse is a `Rejection`, and the
others still load.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pydantic

from fabric.core.policy.kube import KINDS, Namespace, NetworkPolicy, Pod
from fabric.core.policy.services import ServiceView, parse_service


@dataclass(frozen=True)
class Rejection:
    """An object left out of the ruleset, and why (`object` is `Kind/namespace/name`)."""

    object: str
    reason: str
    namespace: str = ""
    addresses: tuple[str, ...] = ()
    """Load-balancer IPs a rejected Service named: the compiler closes them instead of forgetting them."""

    @property
    def kind(self) -> str:
        return self.object.split("/", 1)[0]


@dataclass
class Cluster:
    """Every object the compiler reads, by kind, plus the ones rejected while parsing."""

    services: list[ServiceView] = field(default_factory=list)
    policies: list[NetworkPolicy] = field(default_factory=list)
    pods: list[Pod] = field(default_factory=list)
    namespaces: list[Namespace] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def object_id(kind: str, namespace: str, name: str) -> str:
    """`Kind/namespace/name` (`Namespace/name` for namespaces): the key of conditions and explain output."""
    return f"{kind}/{name}" if kind == "Namespace" else f"{kind}/{namespace}/{name}"


def flatten(documents: Iterable[Any]) -> list[dict[str, Any]]:
    """Every object in `documents`, with `List` kinds unpacked (recursively) and empty documents dropped."""
    out: list[dict[str, Any]] = []
    for doc in documents:
        if type(doc) is dict and "items" not in doc:
            out.append(doc)  # the usual object: what the general test below decides, in one step
            continue
        if not isinstance(doc, dict):
            continue
        if isinstance(doc.get("items"), list) and str(doc.get("kind", "")).endswith("List"):
            out.extend(flatten(doc["items"]))
        else:
            out.append(doc)
    return out


def parse_objects(documents: Iterable[Any]) -> Cluster:
    """Typed objects of the kinds the firewall reads; duplicates keep the last one (as `kubectl apply`)."""
    seen: dict[str, tuple[str, Any]] = {}
    rejected: list[Rejection] = []
    for raw in flatten(documents):
        kind = raw.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            continue
        ident = raw_id(kind, raw)
        try:
            seen[ident] = (kind, parse_object(kind, raw))
        except pydantic.ValidationError as exc:
            seen.pop(ident, None)
            rejected.append(rejection(ident, exc, raw))
    cluster = Cluster(rejected=rejected)
    for kind, obj in seen.values():
        getattr(cluster, _BUCKET[kind]).append(obj)
    return cluster


def parse_object(kind: str, raw: dict[str, Any]) -> Any:
    """One object of a kind in `KINDS` (a `ServiceView` for Services); pydantic.ValidationError if bad.

    A field whose value is null means what the API server makes of it: the field is absent
    (`podSelector: {matchLabels: }` selects every pod, `ports:` every port).  Objects without nulls, the
    usual case, are parsed once; only one that fails and holds a null is parsed again without them.
    """
    try:
        return _parse(kind, raw)
    except pydantic.ValidationError:
        cleaned = without_nulls(raw)
        if cleaned is raw:
            raise
        return _parse(kind, cleaned)


def _parse(kind: str, raw: dict[str, Any]) -> Any:
    return parse_service(raw) if kind == "Service" else KINDS[kind].model_validate(raw)


def without_nulls(value: Any) -> Any:
    """`value` with every null-valued object field left out, at any depth (itself when it has none).
    A null inside a list stays: Kubernetes refuses those, and so does the model."""
    if isinstance(value, dict):
        kept = {k: without_nulls(v) for k, v in value.items() if v is not None}
        same = len(kept) == len(value) and all(kept[k] is value[k] for k in kept)
        return value if same else kept
    if isinstance(value, list):
        items = [without_nulls(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


def rejection(ident: str, exc: pydantic.ValidationError, raw: dict[str, Any]) -> Rejection:
    """The rejection of the object `ident` that failed to parse with `exc`."""
    namespace = ident.split("/")[1] if not ident.startswith("Namespace/") else ""
    return Rejection(ident, _reasons(exc), namespace, _raw_lb_ips(raw))


_BUCKET = {"Service": "services", "NetworkPolicy": "policies", "Pod": "pods", "Namespace": "namespaces"}


def raw_id(kind: str, raw: dict[str, Any]) -> str:
    """The object id of a manifest, read before (and whether or not) it parses."""
    meta = raw.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    namespace, name = meta.get("namespace") or "default", meta.get("name") or "?"
    if type(namespace) is not str or type(name) is not str:
        namespace, name = str(namespace), str(name)  # only then: str() of a str is a call for nothing
    return f"{kind}/{name}" if kind == "Namespace" else f"{kind}/{namespace}/{name}"  # object_id


def _reasons(exc: pydantic.ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("function-", "tagged-union")))
        parts.append(f"{path}: {str(err['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def _raw_lb_ips(raw: dict[str, Any]) -> tuple[str, ...]:
    # Best effort on an object that failed to parse: any string that is an address in the LB status.
    try:
        entries = raw["status"]["loadBalancer"]["ingress"]
        found = [str(ipaddress.ip_address(e["ip"])) for e in entries if isinstance(e, dict) and "ip" in e]
    except (KeyError, TypeError, ValueError):
        found = []
    return tuple(found)
