"""Render benchmark: a full leaf (64 machine ports in 64 VRFs, 100 allowed prefixes per port, v4+v6).

Times, in one run: render FRR + build CONFIG_DB + plan against an observed copy with one change (ours),
beside `vtysh -C -f` on the same frr.conf (FRR's own syntax check of the file, the baseline).  Target:
ours <= 50 ms.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fabric.adapters.process import run
from fabric.core.configdb import merge_configdb
from fabric.core.frr_filters import network_text
from fabric.core.observed import Observed
from fabric.model import SwitchState, load
from fabric.render.switch import desired_switch, plan_switch

PORTS = 64
PREFIXES = 100  # per port: 50 IPv4 + 50 IPv6
BASE = {
    "VXLAN_TUNNEL": {"vtep": {"src_ip": "10.0.0.11"}},
    "VXLAN_EVPN_NVO": {"nvo": {"source_vtep": "vtep"}},
    "LOOPBACK_INTERFACE": {"Loopback0": {}, "Loopback0|10.0.0.11/32": {}},
}


def full_leaf(changed: bool = False) -> SwitchState:
    """The benchmark leaf; `changed` alters one prefix of one port."""
    ports: list[dict[str, Any]] = [
        {"name": "Ethernet256", "role": "uplink"},
        {"name": "Ethernet260", "role": "uplink"},
    ]
    for i in range(PORTS):
        allow: list[Any] = [f"10.{i}.{j}.0/24" for j in range(PREFIXES // 2)]
        allow += [f"2001:db8:{i:x}:{j:x}::/64" for j in range(PREFIXES // 2)]
        if changed and i == 7:
            allow[0] = {"prefix": "10.7.0.0/24", "le": 28}
        ports.append(
            {"name": f"Ethernet{4 * i}", "role": "machine", "vrf": f"Vrf{100000 + i}", "allow": allow}
        )
    return load(
        SwitchState,
        {
            "switch": {
                "name": "leaf01",
                "role": "leaf",
                "asn": 4200000011,
                "router_id": "10.0.0.11",
                "loopbacks": {"ipv4": "10.0.0.11", "ipv6": "fd00::11"},
                "vtep": "10.0.0.11",
            },
            "uplinks": ["Ethernet256", "Ethernet260"],
            "vlan_range": {"first": 1001, "last": 2000},
            "vni_range": {"first": 100000, "last": 199999},
            "ports": ports,
            "vrfs": [{"name": f"Vrf{100000 + i}", "vni": 100000 + i} for i in range(PORTS)],
        },
    )


def best(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of `repeat` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Print ours vs `vtysh -C` on the same file, as milliseconds and a ratio."""
    before, after = full_leaf(), full_leaf(changed=True)
    base = Observed.from_configdb(BASE)
    prior = desired_switch(before, base)
    observed = Observed.from_configdb(merge_configdb(base.configdb, prior.configdb), frr=prior.frr)
    desired, plan = plan_switch(after, observed)
    changed = [phase.name for phase in plan.phases]
    ours = best(lambda: plan_switch(after, observed), 15)

    def cold() -> None:
        network_text.cache_clear()  # first sync after start: no prefix text cached yet
        plan_switch(after, observed)

    ours_cold = best(cold, 5)
    assert desired.frr is not None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frr.conf"
        path.write_text(desired.frr)
        check = run(["vtysh", "-C", "-f", str(path)])
        vtysh = best(lambda: run(["vtysh", "-C", "-f", str(path)]), 5) if check.ok else float("nan")
    lines = desired.frr.count("\n")
    keys = sum(len(k) for k in desired.configdb.values())
    print(f"full leaf: {PORTS} ports/VRFs, {PREFIXES} prefixes per port; frr.conf {lines} lines, {keys} keys")
    print(f"plan after one change: phases {changed}")
    print(f"render FRR + CONFIG_DB + plan (ours): {ours * 1000:8.1f} ms  (target <= 50 ms)")
    print(f"  the same, prefix text cache cold:   {ours_cold * 1000:8.1f} ms")
    print(f"vtysh -C -f on the same file:         {vtysh * 1000:8.1f} ms  (syntax check ok: {check.ok})")
    print(f"ratio ours / vtysh -C: {ours / vtysh:.2f} (cold: {ours_cold / vtysh:.2f})")


if __name__ == "__main__":
    main()
