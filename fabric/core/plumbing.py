"""Kernel plumbing of a firewall's VRFs as data: `plan_plumbing(state, observed_links) -> actions`.

Per VRF of a `FirewallState` the kernel needs (FRR's L3VNI, symmetric EVPN routing):

- a VRF device named like the VRF (`Vrf100010`; `VrfName` is at most 15 characters, Linux's IFNAMSIZ)
  with routing table `table_id(vni)`, carrying the firewall's own `addresses` in that VRF (host
  routes: /32, /128) and nothing else;
- a bridge `br<vni>`, enslaved to the VRF: the L3VNI's SVI;
- a vxlan device `vx<vni>` (`id <vni> local <vtep> dstport 4789 nolearning`), a port of that bridge
  with `neigh_suppress on` and `learning off`.

And once for the firewall: its underlay addresses (VTEP, router-id) on `lo`, as a switch carries its
own on Loopback0: the source of its VXLAN packets, and the address FRR announces to the leaves (a
`network` statement announces only an address the kernel has).  Only added: an address on `lo` that
the state no longer names is left (the daemon cannot tell it from one an operator put there).

Names and table ids derive from the VNI alone, so a restarted daemon knows what it owns: VRF devices
whose name starts with `Vrf`, bridges `br<digits>` and vxlan devices `vx<digits>` (a 24-bit VNI has at
most 8 digits: `vx16777215` is 10 characters, well within 15).  The table id is the VNI itself, which
keeps `ip route show table 100010` readable; VNIs 253-255 would land on the kernel's `default`, `main`
and `local` tables and are refused.

The plan observes first and acts only on differences: a device of the wrong kind or with a wrong table,
VNI or VTEP is removed and made again; devices we own that no VRF asks for are removed, L3VNI devices
before their VRF (the reverse of adding).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from fabric.errors import ValidationError
from fabric.model.firewall import FirewallState

VXLAN_PORT = 4789
RESERVED_TABLES = frozenset({253, 254, 255})
_OWNED = {"vrf": re.compile(r"^Vrf"), "bridge": re.compile(r"^br\d+$"), "vxlan": re.compile(r"^vx\d+$")}


def bridge_name(vni: int) -> str:
    """`br<vni>`: the L3VNI's bridge (SVI)."""
    return f"br{vni}"


def vxlan_name(vni: int) -> str:
    """`vx<vni>`: the L3VNI's vxlan device."""
    return f"vx{vni}"


def table_id(vni: int, vrf: str = "") -> int:
    """The kernel routing table of VRF `vrf`: its VNI (refused where it would hit a reserved table)."""
    if vni in RESERVED_TABLES:
        raise ValidationError(
            f"VNI {vni} would use the kernel's reserved routing table {vni}", f"vrfs[{vrf}].vni"
        )
    return vni


def host_addresses(addresses: Iterable[IPv4Address | IPv6Address]) -> frozenset[str]:
    """Addresses as host routes on a device: `a/32`, `b/128`."""
    return frozenset(f"{a}/{a.max_prefixlen}" for a in addresses)


@dataclass(frozen=True)
class Link:
    """One observed network device: what the plan compares (no ifindex: it is never desired)."""

    name: str
    kind: str | None
    master: str | None = None
    table: int | None = None
    vni: int | None = None
    local: str | None = None
    up: bool = False
    addresses: frozenset[str] = frozenset()  # "address/prefixlen", link-local ones left out


@dataclass(frozen=True)
class EnsureVrf:
    """Make VRF device `name` with table `table` exist and be up, with exactly `addresses` on it."""

    name: str
    table: int
    addresses: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EnsureL3vni:
    """Make bridge `bridge` (in VRF `vrf`) and vxlan `vxlan` (VNI `vni`, local `vtep_ip`) exist, up."""

    vrf: str
    vni: int
    vtep_ip: str
    bridge: str
    vxlan: str


@dataclass(frozen=True)
class EnsureLoopback:
    """Add `addresses` ("a/32") to `lo` (the firewall's underlay addresses)."""

    addresses: frozenset[str]


@dataclass(frozen=True)
class RemoveLink:
    """Delete device `name` (gone already is fine)."""

    name: str


Action = EnsureLoopback | EnsureVrf | EnsureL3vni | RemoveLink
LOOPBACK = "lo"


def owned(link: Link) -> bool:
    """True for devices the firewall daemon manages (by kind and name rule)."""
    rule = _OWNED.get(link.kind or "")
    return bool(rule and rule.match(link.name))


def desired_devices(state: FirewallState) -> tuple[list[EnsureVrf], list[EnsureL3vni]]:
    """What every VRF of `state` needs in the kernel."""
    vtep = str(state.firewall.vtep)
    vrfs = [EnsureVrf(v.name, table_id(v.vni, v.name), host_addresses(v.addresses)) for v in state.vrfs]
    l3vnis = [EnsureL3vni(v.name, v.vni, vtep, bridge_name(v.vni), vxlan_name(v.vni)) for v in state.vrfs]
    return vrfs, l3vnis


def plan_plumbing(state: FirewallState, observed_links: Iterable[Link]) -> list[Action]:
    """The actions taking the observed devices to what `state` needs, in order; empty when in sync.

    Order: removals of L3VNI devices, removals of VRFs, then the underlay addresses on `lo`, VRFs,
    L3VNIs (each ensure is idempotent, so a partly done plan is completed by the next sync).
    """
    links = {link.name: link for link in observed_links}
    vrfs, l3vnis = desired_devices(state)
    remove_l3: list[Action] = []
    remove_vrf: list[Action] = []
    add: list[Action] = []
    lo = links.get(LOOPBACK)
    missing = host_addresses({state.firewall.vtep, state.firewall.router_id}) - (
        lo.addresses if lo else set()
    )
    if missing:
        add.append(EnsureLoopback(frozenset(missing)))
    for want in vrfs:
        have = links.get(want.name)
        if have is not None and (have.kind != "vrf" or have.table != want.table):
            remove_vrf.append(RemoveLink(want.name))
            have = None
        if have is None or not have.up or have.addresses != want.addresses:
            add.append(want)
    for l3 in l3vnis:
        stale = _stale_l3vni(l3, links)
        remove_l3.extend(RemoveLink(name) for name in stale)
        if stale or not _l3vni_ok(l3, links):
            add.append(l3)
    wanted = {w.name for w in vrfs} | {n for l3 in l3vnis for n in (l3.bridge, l3.vxlan)}
    for link in sorted(links.values(), key=lambda k: k.name):
        if owned(link) and link.name not in wanted:
            (remove_vrf if link.kind == "vrf" else remove_l3).append(RemoveLink(link.name))
    return [*remove_l3, *remove_vrf, *_vrfs_first(add)]


@dataclass(frozen=True)
class PhasedPlan:
    """A plumbing plan split around FRR's reload.

    `before` runs before FRR is given the new config: devices that must exist for it (FRR binds a
    `vrf`/`vni` to the kernel device of that name), preceded by the removal of devices that are to be
    made again under the same name (wrong kind, table, VNI or VTEP).  `after` runs once FRR no longer
    names them: the removal of devices no VRF asks for any more, so FRR never loses a device it still
    routes through.
    """

    before: list[Action]
    after: list[RemoveLink]

    @property
    def empty(self) -> bool:
        return not self.before and not self.after


def phase_plan(state: FirewallState, actions: Sequence[Action]) -> PhasedPlan:
    """`plan_plumbing`'s actions in two phases around FRR (order within each phase kept)."""
    vrfs, l3vnis = desired_devices(state)
    wanted = {w.name for w in vrfs} | {n for l3 in l3vnis for n in (l3.bridge, l3.vxlan)}
    before: list[Action] = []
    after: list[RemoveLink] = []
    for action in actions:
        if isinstance(action, RemoveLink) and action.name not in wanted:
            after.append(action)
        else:
            before.append(action)
    return PhasedPlan(before, after)


def _stale_l3vni(want: EnsureL3vni, links: dict[str, Link]) -> list[str]:
    """Devices under the L3VNI's names that cannot be fixed in place (wrong kind, VNI or VTEP)."""
    stale = []
    bridge = links.get(want.bridge)
    if bridge is not None and bridge.kind != "bridge":
        stale.append(want.bridge)
    vxlan = links.get(want.vxlan)
    if vxlan is not None and (vxlan.kind != "vxlan" or vxlan.vni != want.vni or vxlan.local != want.vtep_ip):
        stale.append(want.vxlan)
    return stale


def _l3vni_ok(want: EnsureL3vni, links: dict[str, Link]) -> bool:
    bridge, vxlan = links.get(want.bridge), links.get(want.vxlan)
    return (
        bridge is not None
        and vxlan is not None
        and bridge.master == want.vrf
        and vxlan.master == want.bridge
        and bridge.up
        and vxlan.up
    )


def _vrfs_first(actions: Sequence[Action]) -> list[Action]:
    first = (EnsureLoopback, EnsureVrf)
    return [a for a in actions if isinstance(a, first)] + [a for a in actions if not isinstance(a, first)]
