"""Firewall FRR benchmark: a firewall with 100 private VRFs and 2 external ones, every private VRF
importing the default route from the internet VRF and the internet VRF importing every private
network (no-export, IPv4 and IPv6).

Times, in one run: build + render the frr.conf and the kernel plumbing plan against in-sync observed
devices (ours), beside `vtysh -C -f` on the same file (FRR's own syntax check, the baseline).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.render import best
from fabric.adapters.process import run
from fabric.core.plumbing import Link, desired_devices, plan_plumbing
from fabric.model import FirewallState, load
from fabric.render.frr import render_firewall_frr

PRIVATE = 100
VTEP = "10.1.255.1"


def big_firewall() -> FirewallState:
    """The benchmark firewall."""
    vrfs: list[dict[str, Any]] = []
    for i in range(PRIVATE):
        vrfs.append(
            {
                "name": f"Vrf{100000 + i}",
                "vni": 100000 + i,
                "kind": "private",
                "prefixes": [f"10.{i}.0.0/22", f"2001:db8:{i:x}::/56"],
                "imports": [{"from": "Vrf104009", "prefixes": ["0.0.0.0/0", "::/0"]}],
            }
        )
    leak = [
        {
            "from": f"Vrf{100000 + i}",
            "prefixes": [f"10.{i}.0.0/22", f"2001:db8:{i:x}::/56"],
            "no_export": True,
        }
        for i in range(PRIVATE)
    ]
    vrfs.append(
        {
            "name": "Vrf104009",
            "vni": 104009,
            "kind": "external",
            "destination_prefixes": ["0.0.0.0/0", "::/0"],
        }
        | {"imports": leak}
    )
    vrfs.append({"name": "Vrf104010", "vni": 104010, "kind": "external"})
    return load(
        FirewallState,
        {
            "firewall": {"name": "fw-big", "asn": 4210000100, "router_id": VTEP, "vtep": VTEP},
            "uplinks": ["lan0", "lan1"],
            "vrfs": vrfs,
        },
    )


def in_sync(state: FirewallState) -> list[Link]:
    """Observed devices exactly as the plan wants them."""
    vrfs, l3vnis = desired_devices(state)
    links = [Link(v.name, "vrf", table=v.table, up=True) for v in vrfs]
    for l3 in l3vnis:
        links.append(Link(l3.bridge, "bridge", master=l3.vrf, up=True))
        links.append(Link(l3.vxlan, "vxlan", master=l3.bridge, vni=l3.vni, local=l3.vtep_ip, up=True))
    return links


def main() -> None:
    """Print ours vs `vtysh -C` on the same file, as milliseconds and a ratio."""
    state = big_firewall()
    observed = in_sync(state)
    assert plan_plumbing(state, observed) == []
    text = render_firewall_frr(state)

    def ours_once() -> None:
        render_firewall_frr(state)
        plan_plumbing(state, observed)

    ours = best(ours_once, 15)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frr.conf"
        path.write_text(text)
        check = run(["vtysh", "-C", "-f", str(path)])
        vtysh = best(lambda: run(["vtysh", "-C", "-f", str(path)]), 5) if check.ok else float("nan")
    print(f"firewall: {PRIVATE} private + 2 external VRFs; frr.conf {text.count(chr(10))} lines")
    print(f"render FRR + plumbing plan (ours): {ours * 1000:8.1f} ms")
    print(f"vtysh -C -f on the same file:      {vtysh * 1000:8.1f} ms  (syntax check ok: {check.ok})")
    print(f"ratio ours / vtysh -C: {ours / vtysh:.2f}")


if __name__ == "__main__":
    main()
