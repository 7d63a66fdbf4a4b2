"""Why a flow is allowed or denied: the compiled policy evaluated the way the ruleset decides it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from fabric.core.policy.ir import PROTOCOL_NUMBERS, CompiledPolicy, Direction, Family, Interval

Verdict = str  # "allow" or "deny"


@dataclass(frozen=True)
class Flow:
    """One new connection: source, destination, destination port and protocol (tcp, udp, sctp)."""

    src: ipaddress.IPv4Address | ipaddress.IPv6Address
    dst: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class Explanation:
    """The verdict, the direction it was judged in, why, and the objects that decided."""

    verdict: Verdict
    direction: Direction | None
    reason: str
    objects: tuple[str, ...] = field(default=())


def parse_flow(src: str, dst: str, port: str) -> Flow:
    """A flow from CLI text: `--port 443/tcp` (protocol defaults to tcp); ValueError when malformed."""
    number, _, proto = port.partition("/")
    proto = (proto or "tcp").lower()
    if proto.upper() not in PROTOCOL_NUMBERS:
        raise ValueError(f"protocol {proto!r} is not tcp, udp or sctp")
    flow = Flow(ipaddress.ip_address(src), ipaddress.ip_address(dst), int(number), proto)
    if flow.src.version != flow.dst.version:
        raise ValueError("source and destination are of different families")
    if not 0 <= flow.port <= 65535:
        raise ValueError(f"port {flow.port} is outside 0-65535")
    return flow


def _inside(ranges: list[Interval], value: int) -> bool:
    return any(lo <= value <= hi for lo, hi in ranges)


def explain(compiled: CompiledPolicy, flow: Flow) -> Explanation:
    """Evaluate `flow` in the order the forward chain does (allows, closures, isolation, default)."""
    family: Family = 4 if flow.src.version == 4 else 6
    cluster = compiled.cluster[family]
    src_in, dst_in = _inside(cluster, int(flow.src)), _inside(cluster, int(flow.dst))
    if src_in and dst_in:
        return Explanation(
            "allow", None, "both ends are in the cluster: the flow does not cross the firewall"
        )
    if not src_in and not dst_in:
        return Explanation("deny", None, "neither end is in the cluster: not the firewall's to forward")
    direction: Direction = "ingress" if dst_in else "egress"
    local, remote = (flow.dst, flow.src) if dst_in else (flow.src, flow.dst)
    proto = PROTOCOL_NUMBERS[flow.protocol.upper()]
    allowed = sorted(
        {
            a.origin
            for a in compiled.allows
            if a.direction == direction
            and a.family == family
            and a.local == int(local)
            and a.protocols[0] <= proto <= a.protocols[1]
            and a.ports[0] <= flow.port <= a.ports[1]
            and a.remote[0] <= int(remote) <= a.remote[1]
        }
    )
    if allowed:
        return Explanation("allow", direction, f"allowed {direction}", tuple(allowed))
    return _default(compiled, direction, family, int(local), proto=proto, port=flow.port)


def _default(
    compiled: CompiledPolicy, direction: Direction, family: Family, local: int, *, proto: int, port: int
) -> Explanation:
    if compiled.isolation == "boundary":
        reason = f"no NetworkPolicy rule or LoadBalancer Service allows it ({direction}, boundary isolation)"
        return Explanation("deny", direction, reason)
    if direction == "ingress":
        closures = sorted(
            {
                g.origin
                for g in compiled.closures
                if g.family == family
                and g.local == local
                and g.protocols[0] <= proto <= g.protocols[1]
                and g.ports[0] <= port <= g.ports[1]
            }
        )
        if closures:
            reason = "a load-balancer IP opens only its Service's ports, from its loadBalancerSourceRanges"
            return Explanation("deny", direction, reason, tuple(closures))
    isolating = compiled.isolated.get((direction, family), {}).get(local, [])
    if isolating:
        reason = f"pod isolated for {direction} and no rule allows it"
        return Explanation("deny", direction, reason, tuple(sorted(set(isolating))))
    return Explanation("allow", direction, f"not isolated for {direction} (kubernetes isolation)")
