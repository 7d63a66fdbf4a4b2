"""`machine_port` is memoised: a leaf built with a warm cache equals the same leaf built from scratch.

Random leaves (machines with random addresses, project IPs, extra prefixes, networks; a firewall; ports
set admin down) are built in sequence with the cache kept between them, each compared with a build
after `cache_clear()`; and changing any one field of a machine's record changes its port (no stale hit).
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from fabric.core.state import (
    MachineRecord,
    NetworkRecord,
    PartitionRecord,
    PortRecord,
    SwitchRecord,
    SwitchView,
    build_switch_state,
)
from fabric.core.state.switch import machine_port

PART = PartitionRecord("fra", 100000, 199999, 1001, 2000, 4000, ("192.168.0.10",), "192.168.0.1")
UNDERLAY = NetworkRecord("underlay", "underlay", None, ("10.1.0.0/16",))
EXTRA = ("10.244.0.0/16 le 24", "10.96.0.0/12")


@st.composite
def machines(draw: st.DrawFn, i: int) -> MachineRecord:
    vni = draw(st.integers(100000, 100005))
    net = NetworkRecord(
        f"net{vni}",
        "private",
        vni,
        (f"10.{vni % 256}.0.0/22",),
        extra_prefixes=draw(st.sampled_from(((), EXTRA))),
    )
    ips = tuple(
        sorted({f"10.{vni % 256}.0.{draw(st.integers(1, 250))}" for _ in range(draw(st.integers(1, 2)))})
    )
    project_ips = tuple(sorted({f"203.0.113.{n}" for n in draw(st.lists(st.integers(1, 9), max_size=2))}))
    if draw(st.integers(0, 9)) == 0:
        return MachineRecord(
            f"fw{i}", "firewall", 4210000100 + i, ("10.1.255.1",), (net, UNDERLAY), (), ("lan0",)
        )
    role = draw(st.sampled_from(("machine", "machine", None)))
    return MachineRecord(f"m{i}", role, 4210000000 + i, ips, (net,), project_ips, ("lan0", "lan1"))


@st.composite
def views(draw: st.DrawFn) -> SwitchView:
    n = draw(st.integers(1, 8))
    records = [draw(machines(i)) for i in range(n)]
    cabled = [
        PortRecord(f"Ethernet{4 * i}", neighbour_machine=m.name, admin_down=draw(st.booleans()))
        for i, m in enumerate(records)
    ]
    ports = (*cabled, PortRecord("Ethernet120", neighbour_switch="spine01", neighbour_port="Ethernet0"))
    leaf = SwitchRecord("leaf01", "leaf", "r1", 4200000011, "10.0.0.11")
    return SwitchView(PART, leaf, ports, {m.name: m for m in records})


def body(view: SwitchView) -> str:
    return build_switch_state(view).sealed(1).model_dump_json(by_alias=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(views(), min_size=2, max_size=4))
def test_a_warm_cache_builds_what_a_cold_one_builds(sequence: list[SwitchView]) -> None:
    for view in sequence:
        warm = body(view)
        machine_port.cache_clear()
        assert body(view) == warm


def test_a_changed_record_is_never_served_from_the_cache() -> None:
    net = NetworkRecord("alpha", "private", 100010, ("10.10.0.0/22",))
    base = MachineRecord("m1", "machine", 4210000005, ("10.10.0.5",), (net,), ("203.0.113.10",), ("lan0",))
    first = machine_port("Ethernet0", base)
    changes = {
        "ips": ("10.10.0.6",),
        "project_ips": (),
        "networks": (dataclasses.replace(net, vni=100011),),
        "name": "m2",
    }
    for field, value in changes.items():
        changed = machine_port("Ethernet0", dataclasses.replace(base, **{field: value}))
        assert changed != first, field
    assert machine_port("Ethernet4", base)[0].name == "Ethernet4"
    assert machine_port("Ethernet0", dataclasses.replace(base)) is first  # equal records: one build
