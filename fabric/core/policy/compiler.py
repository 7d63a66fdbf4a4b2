"""Kubernetes objects → `CompiledPolicy`: exact NetworkPolicy and LoadBalancer semantics, pure.

Only traffic that crosses the firewall is decided here: between the cluster (its prefixes and its
load-balancer IPs) and the outside.  Peers that select pods or namespaces therefore never match crossing
traffic; `ipBlock`s and empty peer lists (all sources or destinations) do.  Each `except` removes
addresses from its own `ipBlock` only.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from fabric.core.policy.ir import (
    ALL_PORTS,
    ALL_PROTOCOLS,
    DIRECTIONS,
    FAMILIES,
    PROTOCOL_NUMBERS,
    Allow,
    Closure,
    CompiledPolicy,
    Condition,
    Direction,
    Family,
    Fragment,
    Interval,
    Isolation,
    all_addresses,
    network_range,
    subtract,
)
from fabric.core.policy.kube import Address, Network, NetworkPolicy, Pod, PolicyPeer, PolicyPort
from fabric.core.policy.manifests import Cluster, Rejection, object_id
from fabric.core.policy.services import ServiceView

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def compile_policy(
    cluster: Cluster, cluster_prefixes: Iterable[Network], isolation: Isolation
) -> CompiledPolicy:
    """Compile every accepted object; rejected ones become conditions and never widen what is allowed."""
    pods = pods_by_namespace(cluster.pods)
    fragments = [
        *(
            compile_network_policy(p, pods.get(p.metadata.namespace, []))
            for p in sorted(cluster.policies, key=lambda p: (p.metadata.namespace, p.metadata.name))
        ),
        *(compile_service(s, isolation) for s in sorted(cluster.services, key=_service_order)),
        *(quarantine(r, pods, isolation) for r in cluster.rejected),
    ]
    return merge(fragments, cluster_prefixes, isolation)


def _service_order(service: ServiceView) -> tuple[str, str]:
    return service.namespace, service.name


def merge(
    fragments: Iterable[Fragment], cluster_prefixes: Iterable[Network], isolation: Isolation
) -> CompiledPolicy:
    """One `CompiledPolicy` from per-object fragments, in their order (conditions keep it)."""
    compiled = CompiledPolicy(isolation=isolation, cluster={4: [], 6: []})
    for net in cluster_prefixes:
        compiled.cluster[_family(net)].append(network_range(net))
    allows: list[Allow] = []
    closures: list[Closure] = []
    conditions: list[Condition] = []
    compiled.allows, compiled.closures, compiled.conditions = allows, closures, conditions
    for fragment in fragments:
        allows.extend(fragment.allows)
        closures.extend(fragment.closures)
        for family, rng in fragment.cluster:
            compiled.cluster[family].append(rng)
        for direction, family, address, origin in fragment.isolated:
            table = compiled.isolated.setdefault((direction, family), {})
            table.setdefault(address, []).append(origin)
        if fragment.condition is not None:
            conditions.append(fragment.condition)
    for values in compiled.cluster.values():
        values.sort()
    return compiled


def _family(obj: Network | Address) -> Family:
    return 4 if obj.version == 4 else 6


def pods_by_namespace(pods: Iterable[Pod]) -> dict[str, list[Pod]]:
    """Pods by namespace, each list sorted by name (the order isolation origins are listed in)."""
    out: dict[str, list[Pod]] = defaultdict(list)
    for pod in sorted(pods, key=lambda p: (p.metadata.namespace, p.metadata.name)):
        out[pod.metadata.namespace].append(pod)
    return out


def compile_network_policy(policy: NetworkPolicy, pods: list[Pod]) -> Fragment:
    """What one policy allows and isolates, given the pods of its namespace."""
    meta, spec = policy.metadata, policy.spec
    origin = object_id("NetworkPolicy", meta.namespace, meta.name)
    fragment = Fragment()
    selected = [p for p in pods if spec.pod_selector.matches(p.metadata.labels)]
    notes: list[str] = []
    types = spec.types()
    for direction in DIRECTIONS:
        if direction.capitalize() not in types:
            continue
        _isolate(fragment, direction, [a for p in selected for a in p.addresses()], origin)
        rules = (
            [(r.from_, r.ports) for r in spec.ingress]
            if direction == "ingress"
            else [(r.to, r.ports) for r in spec.egress]
        )
        for index, (peers, rule_ports) in enumerate(rules):
            where = f"{direction}[{index}]"
            # A rule's remote ranges depend on its peers only: made once (both families in one pass),
            # not once per selected pod address (a rule can list thousands of ipBlocks).
            remotes = _peer_ranges(peers) if selected else {}
            for pod in selected:
                ports = _rule_ports(rule_ports, pod if direction == "ingress" else None, where, notes)
                for address in pod.addresses():
                    family, local = _family(address), int(address)
                    fragment.allows += [
                        _new(Allow, (direction, family, local, protocols, port_range, remote, origin))
                        for remote in remotes[family]
                        for protocols, port_range in ports
                    ]
    reason = "; ".join(dict.fromkeys(notes)) or f"selects {len(selected)} pod(s)"
    fragment.condition = Condition(origin, True, reason)
    return fragment


_new = tuple.__new__  # Allow(...) without its Python-level __new__ frame, on hot paths


def _isolate(fragment: Fragment, direction: Direction, addresses: list[Address], origin: str) -> None:
    for address in addresses:
        fragment.isolated.append((direction, _family(address), int(address), origin))


def _peer_ranges(peers: list[PolicyPeer]) -> dict[Family, list[Interval]]:
    """Remote address ranges the peers allow, by family; an empty peer list allows every address."""
    if not peers:
        return {f: [all_addresses(f)] for f in FAMILIES}
    out: dict[Family, list[Interval]] = {4: [], 6: []}
    for peer in peers:
        block = peer.ip_block
        if block is None:
            continue  # pod and namespace selectors pick cluster pods: never on the far side
        ranges = out[_family(block.cidr)]
        if block.except_:
            ranges.extend(subtract(network_range(block.cidr), [network_range(e) for e in block.except_]))
        else:  # the usual block: nothing to subtract
            ranges.append(network_range(block.cidr))
    return out


def _rule_ports(
    ports: list[PolicyPort], pod: Pod | None, where: str, notes: list[str]
) -> list[tuple[Interval, Interval]]:
    """(protocol range, port range) pairs of a rule; no ports means every protocol and port."""
    if not ports:
        return [(ALL_PROTOCOLS, ALL_PORTS)]
    out: list[tuple[Interval, Interval]] = []
    for i, port in enumerate(ports):
        proto = PROTOCOL_NUMBERS[port.protocol]
        if port.port is None:
            out.append(((proto, proto), ALL_PORTS))
        elif isinstance(port.port, int):
            out.append(((proto, proto), (port.port, port.end_port or port.port)))
        else:
            number = pod.named_port(port.port, port.protocol) if pod is not None else None
            if number is None:
                notes.append(_named_port_note(where, i, port, pod))
            else:
                out.append(((proto, proto), (number, number)))
    return out


def _named_port_note(where: str, index: int, port: PolicyPort, pod: Pod | None) -> str:
    what = f"{where}.ports[{index}] named port {port.port!r}/{port.protocol}"
    if pod is None:
        return f"{what} rejected: it names a port of the destination pod, and the far side has no pods"
    return f"{what} rejected for pod {pod.metadata.name}: no container port of that name and protocol"


def compile_service(service: ServiceView, isolation: Isolation) -> Fragment:
    """What one Service opens: its load-balancer IPs on its ports, from its source ranges."""
    if service.type != "LoadBalancer":
        return Fragment()
    origin = f"Service/{service.namespace}/{service.name}"  # object_id, inlined on this hot path
    addresses = service.addresses
    if not addresses:
        return Fragment(condition=Condition(origin, True, "no load-balancer IP assigned yet"))
    shape = _shape_of(service.ports, service.source_ranges, isolation)
    allows: list[Allow] = []
    closures: list[Closure] = []
    cluster: list[tuple[Family, Interval]] = []
    for family, local in addresses:
        cluster.append((family, (local, local)))
        allows += [
            _new(Allow, ("ingress", family, local, p, q, r, origin)) for p, q, r in shape.boxes[family]
        ]
        if shape.closures:
            closures += [_new(Closure, (family, local, p, q, origin)) for p, q in shape.closures]
    condition = _new(Condition, (origin, True, f"{len(addresses)} address(es){shape.reason}"))
    return Fragment(allows, closures, cluster, [], condition)


_SHAPES: dict[tuple[int, int, Isolation], tuple[object, object, _Shape]] = {}


def _shape_of(
    ports: tuple[tuple[str, int], ...], ranges: tuple[Network, ...], isolation: Isolation
) -> _Shape:
    """`_service_shape`, memoised by the identity of `ports` and `ranges` first: the fast parser hands
    out one tuple object per value, and hashing `ipaddress` networks runs Python code per network.
    Each entry keeps its tuples alive (so their ids are not reused) and checks them on a hit."""
    key = (id(ports), id(ranges), isolation)
    hit = _SHAPES.get(key)
    if hit is not None and hit[0] is ports and hit[1] is ranges:
        return hit[2]
    if len(_SHAPES) >= 4096:
        _SHAPES.clear()  # bounded like the lru caches behind it; refilled from them
    shape = _SHAPES[key] = (ports, ranges, _service_shape(ports, ranges, isolation))
    return shape[2]


class _Shape(NamedTuple):
    """What a Service opens on each of its addresses: per family the (protocols, ports, remote) boxes in
    port then range order, the closures' (protocols, ports), and the tail of its condition's reason."""

    boxes: dict[Family, tuple[tuple[Interval, Interval, Interval], ...]]
    closures: tuple[tuple[Interval, Interval], ...]
    reason: str


@functools.lru_cache(maxsize=4096)
def _service_shape(
    ports: tuple[tuple[str, int], ...], ranges: tuple[Network, ...], isolation: Isolation
) -> _Shape:
    """The `_Shape` of a Service's ports and source ranges, memoised: it recurs across thousands."""
    by_family = _source_ranges(ranges)
    pairs = [((n, n), (port, port)) for n, port in ((PROTOCOL_NUMBERS[p], port) for p, port in ports)]
    boxes = {f: tuple((p, q, r) for p, q in pairs for r in by_family[f]) for f in FAMILIES}
    # "Not isolated" is the kubernetes-mode default of a *pod*: a load-balancer address opens exactly its
    # Service's ports from its source ranges in both modes, so in kubernetes mode the whole address is
    # closed (boundary mode denies what nothing allows anyway).
    closures = ((ALL_PROTOCOLS, ALL_PORTS),) if isolation == "kubernetes" else ()
    reason = f", {len(ports)} port(s)" + (f", from {len(ranges)} source range(s)" if ranges else "")
    return _Shape(boxes, closures, reason)


@functools.lru_cache(maxsize=4096)
def _source_ranges(ranges: tuple[Network, ...]) -> dict[Family, list[Interval]]:
    """`loadBalancerSourceRanges` by family (every address when there are none); memoised, as the same
    ranges recur across services.  Callers only read the lists."""
    if not ranges:
        return {4: [all_addresses(4)], 6: [all_addresses(6)]}
    return {f: [network_range(n) for n in ranges if _family(n) == f] for f in (4, 6)}


def quarantine(rejection: Rejection, pods: dict[str, list[Pod]], isolation: Isolation) -> Fragment:
    """A rejected object allows nothing; in kubernetes mode it also closes what it might have closed."""
    fragment = Fragment(condition=Condition(rejection.object, False, rejection.reason))
    if isolation != "kubernetes":
        return fragment  # boundary mode denies by default: allowing nothing is already the narrow side
    if rejection.kind == "NetworkPolicy":
        addresses = [a for p in pods.get(rejection.namespace, []) for a in p.addresses()]
        for direction in DIRECTIONS:
            _isolate(fragment, direction, addresses, rejection.object)
    elif rejection.kind == "Service":
        for text in rejection.addresses:
            address = ipaddress.ip_address(text)
            family = _family(address)
            fragment.cluster.append((family, (int(address), int(address))))
            fragment.closures.append(
                Closure(family, int(address), ALL_PROTOCOLS, ALL_PORTS, rejection.object)
            )
    return fragment
