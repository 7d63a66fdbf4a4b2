"""Kernel plumbing of a firewall's VRFs over netlink (pyroute2): VRF, L3VNI bridge and vxlan devices.

Every verb observes first, acts only on a difference and is idempotent; kernel answers are told apart
by errno, never by message text: EEXIST on an add (someone was quicker: observe again and check), ENODEV
on a delete (gone already: fine), EOPNOTSUPP on a VRF add (the kernel has no VRF devices: not
retryable).  Names, tables and order come from `fabric.core.plumbing`; `apply(actions)` executes its
plan.  Failures raise `ApplyError(retryable=..., phase="netlink:<verb>")`; retrying is the loop's job.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from pyroute2 import IPRoute, NetlinkError

from fabric.core.plumbing import (
    LOOPBACK,
    VXLAN_PORT,
    Action,
    EnsureL3vni,
    EnsureLoopback,
    EnsureVrf,
    Link,
    RemoveLink,
)
from fabric.errors import ApplyError

IFF_UP = 0x1
SCOPE_LINK = 253
# Errors no retry can fix: a missing kernel feature, no permission, an argument the kernel refuses.
_FINAL = frozenset({errno.EOPNOTSUPP, errno.EPERM, errno.EINVAL, errno.EAFNOSUPPORT})


class Netlink:
    """Netlink verbs against one network namespace (`netns` by name, or the current one)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        try:
            # flags=0: a missing namespace is an error, never silently created.
            self._ipr = IPRoute(netns=netns, flags=0) if netns else IPRoute()
        except OSError as exc:
            raise ApplyError(
                f"network namespace {netns}: {exc.strerror}", retryable=False, phase="netlink:open"
            ) from None

    def __enter__(self) -> Netlink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the netlink socket."""
        self._ipr.close()

    # ---- observe ---------------------------------------------------------------------------------

    def links(self) -> list[Link]:
        """Every device of the namespace as `Link` (kind, master, VRF table, VXLAN id and local)."""
        raw = list(self._ipr.get_links())
        names = {msg["index"]: msg.get("IFLA_IFNAME") for msg in raw}
        addresses = self._addresses_by_index()
        return [_link(msg, names, frozenset(addresses.get(msg["index"], ()))) for msg in raw]

    def link(self, name: str) -> Link | None:
        """The device called `name`, or None."""
        return next((link for link in self.links() if link.name == name), None)

    # ---- verbs -----------------------------------------------------------------------------------

    def ensure_vrf(self, name: str, table: int, addresses: frozenset[str] = frozenset()) -> None:
        """VRF device `name` with routing table `table`, up, with exactly `addresses` ("a/len") on it.
        A device of another kind or table under that name is an error (the plan removes it first)."""
        have = self.link(name)
        if have is None:
            self._add(name, "vrf", phase="netlink:vrf", vrf_table=table)
            have = self.link(name)
        if have is None or have.kind != "vrf" or have.table != table:
            raise ApplyError(
                f"{name} exists but is not VRF table {table}: {have}", retryable=False, phase="netlink:vrf"
            )
        self._up(name, "netlink:vrf")
        self.ensure_addresses(name, addresses)

    def ensure_bridge(self, name: str) -> None:
        """Bridge `name` (an L3VNI's SVI)."""
        self._ensure_kind(name, "bridge", "netlink:bridge")

    def ensure_vxlan(self, name: str, vni: int, vtep_ip: str) -> None:
        """VXLAN device `name`: `id vni local vtep_ip dstport 4789 nolearning`."""
        self._ensure_kind(
            name,
            "vxlan",
            "netlink:vxlan",
            vxlan_id=vni,
            vxlan_local=vtep_ip,
            vxlan_port=VXLAN_PORT,
            vxlan_learning=0,
        )
        have = self.link(name)
        if have is None or have.vni != vni or have.local != vtep_ip:
            raise ApplyError(
                f"{name} is not VNI {vni} local {vtep_ip}: {have}",
                retryable=False,
                phase="netlink:vxlan",
            )

    def ensure_member(self, port: str, master: str) -> None:
        """Make `master` (a VRF or a bridge) the master of device `port`."""
        links = {link.name: link for link in self.links()}
        for name in (port, master):
            if name not in links:
                raise ApplyError(f"device {name} does not exist", retryable=True, phase="netlink:member")
        if links[port].master == master:
            return
        index = self._index(port, "netlink:member")
        self._call("netlink:member", "link", "set", index=index, master=self._index(master, "netlink:member"))

    def ensure_vxlan_port(self, vxlan_name: str, bridge_name: str) -> None:
        """Vxlan `vxlan_name` as a port of bridge `bridge_name` with `neigh_suppress on`, `learning off`
        (EVPN answers ARP/ND and learns MACs; the data plane must not)."""
        self.ensure_member(vxlan_name, bridge_name)
        port = self._index(vxlan_name, "netlink:l3vni")
        self._call("netlink:l3vni", "brport", "set", index=port, neigh_suppress=1, learning=0)

    def ensure_l3vni(self, vrf: str, vni: int, vtep_ip: str, bridge_name: str, vxlan_name: str) -> None:
        """The L3VNI of `vrf`: bridge `bridge_name` in the VRF, vxlan `vxlan_name` as its port
        (`neigh_suppress on`, `learning off`), both up.  Nothing is made while the VRF is missing."""
        have = self.link(vrf)
        if have is None or have.kind != "vrf":
            raise ApplyError(
                f"VRF device {vrf} is missing (ensure_vrf first); L3VNI {vni} not made",
                retryable=True,
                phase="netlink:l3vni",
            )
        self.ensure_bridge(bridge_name)
        self.ensure_vxlan(vxlan_name, vni, vtep_ip)
        self.ensure_vxlan_port(vxlan_name, bridge_name)
        self.ensure_member(bridge_name, vrf)
        self._up(bridge_name, "netlink:l3vni")
        self._up(vxlan_name, "netlink:l3vni")

    def remove_link(self, name: str) -> None:
        """Delete device `name`; already gone is fine (ENODEV)."""
        try:
            self._ipr.link("del", ifname=name)
        except NetlinkError as exc:
            if exc.code != errno.ENODEV:
                raise _apply_error(exc, f"cannot delete {name}", "netlink:remove") from None

    def remove_l3vni(self, bridge_name: str, vxlan_name: str) -> None:
        """Delete an L3VNI's vxlan device, then its bridge."""
        self.remove_link(vxlan_name)
        self.remove_link(bridge_name)

    def remove_vrf(self, name: str) -> None:
        """Delete VRF device `name` (its members fall back to the default VRF)."""
        self.remove_link(name)

    def apply(self, actions: Iterable[Action]) -> None:
        """Execute a plan of `fabric.core.plumbing.plan_plumbing`, in order."""
        for action in actions:
            if isinstance(action, EnsureLoopback):
                self.add_addresses(LOOPBACK, action.addresses)
            elif isinstance(action, EnsureVrf):
                self.ensure_vrf(action.name, action.table, action.addresses)
            elif isinstance(action, EnsureL3vni):
                self.ensure_l3vni(action.vrf, action.vni, action.vtep_ip, action.bridge, action.vxlan)
            elif isinstance(action, RemoveLink):
                self.remove_link(action.name)

    # ---- helpers ---------------------------------------------------------------------------------

    def add_addresses(self, name: str, addresses: frozenset[str]) -> None:
        """`addresses` ("a/len") on device `name` too (what else it has stays)."""
        self.ensure_addresses(name, addresses, remove=False)

    def ensure_addresses(self, name: str, addresses: frozenset[str], *, remove: bool = True) -> None:
        """Exactly `addresses` ("a/len") on device `name`: the missing added, the extra deleted unless not
        `remove` (link-local addresses, the kernel's own, are left alone)."""
        have = self.link(name)
        if have is None:
            raise ApplyError(f"device {name} does not exist", retryable=True, phase="netlink:address")
        index = self._index(name, "netlink:address")
        extra = have.addresses - addresses if remove else frozenset()
        for verb, items in (("add", addresses - have.addresses), ("del", extra)):
            for item in sorted(items):
                address, length = item.split("/")
                try:
                    self._ipr.addr(verb, index=index, address=address, prefixlen=int(length))
                except NetlinkError as exc:
                    if exc.code not in (errno.EEXIST, errno.EADDRNOTAVAIL):  # done meanwhile
                        raise _apply_error(
                            exc, f"address {verb} {item} on {name}", "netlink:address"
                        ) from None

    def _addresses_by_index(self) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {}
        for msg in self._ipr.get_addr():
            if msg["scope"] != SCOPE_LINK:
                out.setdefault(msg["index"], set()).add(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
        return out

    def _ensure_kind(self, name: str, kind: str, phase: str, **attrs: Any) -> None:
        have = self.link(name)
        if have is None:
            self._add(name, kind, phase=phase, **attrs)
            have = self.link(name)
        if have is None or have.kind != kind:
            raise ApplyError(
                f"{name} exists but is a {have and have.kind}, not a {kind}", retryable=False, phase=phase
            )

    def _add(self, name: str, kind: str, *, phase: str, **attrs: Any) -> None:
        try:
            self._ipr.link("add", ifname=name, kind=kind, **attrs)
        except NetlinkError as exc:
            if exc.code == errno.EEXIST:
                return  # made meanwhile: the caller observes again and checks it
            if kind == "vrf" and exc.code == errno.EOPNOTSUPP:
                raise ApplyError(
                    f"cannot create VRF {name}: this kernel has no VRF devices (CONFIG_NET_VRF, the `vrf` "
                    "module); the firewall needs kernel VRFs",
                    retryable=False,
                    phase=phase,
                ) from None
            raise _apply_error(exc, f"cannot create {kind} {name}", phase) from None

    def _up(self, name: str, phase: str) -> None:
        have = self.link(name)
        if have is not None and not have.up:
            self._call(phase, "link", "set", index=self._index(name, phase), state="up")

    def _index(self, name: str, phase: str) -> int:
        found = self._ipr.link_lookup(ifname=name)
        if not found:
            raise ApplyError(f"device {name} does not exist", retryable=True, phase=phase)
        return int(found[0])

    def _call(self, phase: str, method: str, command: str, **kwargs: Any) -> None:
        try:
            getattr(self._ipr, method)(command, **kwargs)
        except NetlinkError as exc:
            raise _apply_error(exc, f"{method} {command} {kwargs}", phase) from None


def _apply_error(exc: NetlinkError, what: str, phase: str) -> ApplyError:
    name = errno.errorcode.get(exc.code, str(exc.code))
    return ApplyError(f"{what}: {name}", retryable=exc.code not in _FINAL, phase=phase)


def _kind(msg: Any) -> str | None:
    info = msg.get("IFLA_LINKINFO")
    return info.get("IFLA_INFO_KIND") if info else None


def _link(msg: Any, names: dict[int, str | None], addresses: frozenset[str]) -> Link:
    info = msg.get("IFLA_LINKINFO")
    kind = _kind(msg)
    data = info.get("IFLA_INFO_DATA") if info else None
    master = msg.get("IFLA_MASTER")
    return Link(
        name=str(msg.get("IFLA_IFNAME")),
        kind=kind,
        master=names.get(master) if master else None,
        table=data.get("IFLA_VRF_TABLE") if data is not None and kind == "vrf" else None,
        vni=data.get("IFLA_VXLAN_ID") if data is not None and kind == "vxlan" else None,
        local=data.get("IFLA_VXLAN_LOCAL") if data is not None and kind == "vxlan" else None,
        up=bool(msg["flags"] & IFF_UP),
        addresses=addresses,
    )
