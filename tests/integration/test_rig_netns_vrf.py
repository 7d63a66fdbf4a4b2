"""FRR's netns VRF backend with a private /run/netns per node (docs/concepts.md#lab): each leaf sees only
its own VRF namespaces, and none of them reaches the host's /run/netns."""

from __future__ import annotations

import pytest

from fabric.errors import ApplyError
from lab.rig import ABSENT, FrrInstance, NetnsDir, Rig, list_netns, run_and_expect

pytestmark = pytest.mark.needs("netns", "frr")

LEAVES = {"leaf1": "Vrf100", "leaf2": "Vrf200"}


@pytest.fixture(scope="module")
def leaves(rig: Rig) -> dict[str, tuple[FrrInstance, NetnsDir]]:
    """Two leaves running `zebra -n`, each with its own namespace directory and one VRF in it."""
    built = {}
    for node, vrf in LEAVES.items():
        vrf_dir = rig.netns_dir(node)
        frr = rig.frr(rig.netns(node), netns_vrf=True, netns_dir=vrf_dir)
        vrf_dir.add(vrf)
        built[node] = (frr, vrf_dir)
    return built


def _vrfs(frr: FrrInstance) -> dict[str, str]:
    # "vrf Vrf100 id 1 netns /run/netns/Vrf100" -> {"Vrf100": "/run/netns/Vrf100"}
    lines = [line.split() for line in frr.vtysh("show vrf").splitlines() if line.startswith("vrf ")]
    return {words[1]: words[-1] for words in lines}


@pytest.mark.parametrize(("node", "other"), [("leaf1", "leaf2"), ("leaf2", "leaf1")])
def test_each_leaf_sees_only_its_own_vrf(
    leaves: dict[str, tuple[FrrInstance, NetnsDir]], node: str, other: str
) -> None:
    frr, _ = leaves[node]
    mine, theirs = LEAVES[node], LEAVES[other]
    run_and_expect(
        lambda: _vrfs(frr),
        {mine: f"/run/netns/{mine}", theirs: ABSENT},
        timeout=10,
        what=f"VRFs of {node}",
    )
    # The VRF is a namespace: its lo shows up as an interface of that VRF.
    run_and_expect(
        lambda: frr.vtysh_json(f"show interface vrf {mine} json"),
        {"lo": {"vrfName": mine}},
        timeout=10,
        retry_on=(ApplyError,),
        what=f"lo of {mine} on {node}",
    )
    assert f"vrf {mine}\n netns /run/netns/{mine}\nexit-vrf" in frr.running_config()


def test_vrf_namespaces_stay_out_of_the_host(leaves: dict[str, tuple[FrrInstance, NetnsDir]]) -> None:
    assert not set(LEAVES.values()) & set(list_netns())
    for node, (_, vrf_dir) in leaves.items():
        assert vrf_dir.names() == [LEAVES[node]]
        assert vrf_dir.exec(LEAVES[node], ["ip", "link", "show", "lo"]).ok


def test_deleting_a_vrf_namespace_removes_the_vrf(leaves: dict[str, tuple[FrrInstance, NetnsDir]]) -> None:
    frr, vrf_dir = leaves["leaf1"]
    vrf_dir.delete("Vrf100")
    run_and_expect(lambda: _vrfs(frr), {"Vrf100": ABSENT}, timeout=10, what="Vrf100 gone from leaf1")
    assert vrf_dir.names() == []
