"""The FRR fast path against a real FRR 8.4: the delta of `fabric.core.frr_delta` applied in one vtysh
call leaves FRR running the candidate exactly (and frr-reload.py --test finds nothing to change), for
every transition of the switch goldens and some targeted edits, and for the lab's typical transitions on
FRR's netns VRF backend (a tenant VRF added and removed, a second machine in a VRF); a rejected command
and a drifted FRR both end on the frr-reload.py fallback.

One FRR instance for the module (zebra with SONiC's FPM module, so the goldens' `fpm` lines load);
each test starts from whatever the previous one left, as a switch would.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from switch_helpers import frr_config

from fabric.adapters.frr import FAST, LAST_GOOD, RELOAD, FrrAdapter
from fabric.core.frr_delta import same_config
from fabric.errors import ApplyError
from lab.rig import FrrInstance, Rig
from tests.golden.cases import ROOT, SWITCH_CASES, observed_of, options_of

pytestmark = pytest.mark.needs("root", "netns", "frr")

KERNEL_CASES = [c for c in SWITCH_CASES if c.startswith("leaf_") and not options_of(c).netns_vrfs]
MANY = (ROOT / "leaf_vrf_many" / "frr.conf").read_text()


def golden(case: str, name: str = "frr.conf") -> str:
    return (ROOT / case / name).read_text()


def transitions() -> list[tuple[str, str, str]]:
    """(id, before, after): each golden's before → withdraw → final, every golden from the bare leaf and
    back, and edits of the many-VRF leaf (prefix list, route-map, neighbours, a VRF added/removed)."""
    table: list[tuple[str, str, str]] = []
    for case in KERNEL_CASES:
        before = observed_of(case).frr
        steps = [golden(case, n) for n in ("frr.withdraw.conf", "frr.conf") if (ROOT / case / n).exists()]
        if before is not None:
            chain = [before, *steps]
            table += [(f"{case}:{i}", a, b) for i, (a, b) in enumerate(itertools.pairwise(chain))]
        table.append((f"bare->{case}", golden("leaf_bare"), steps[-1]))
        table.append((f"{case}->bare", steps[-1], golden("leaf_bare")))
    table.append(("many->one (VRFs with L3VNI removed)", MANY, golden("leaf_vrf_one")))
    table.append(("one->many (VRFs added)", golden("leaf_vrf_one"), MANY))
    edits = {
        "prefix-list entry changed": ("seq 20 permit 10.14.1.0/24", "seq 20 permit 10.14.2.0/24"),
        "route-map match changed": (
            "route-map RM-Ethernet24-IN-V6 deny 10\nexit",
            "route-map RM-Ethernet24-IN-V6 deny 10\n"
            " match ipv6 address prefix-list PL-Ethernet12-IN-V6\nexit",
        ),
        "maximum-prefix replaced": (
            " neighbor Ethernet24 maximum-prefix 1\n",
            " neighbor Ethernet24 maximum-prefix 9\n",
        ),
    }
    for name, (old, new) in edits.items():
        assert old in MANY, name
        edited = MANY.replace(old, new)
        table += [(name, MANY, edited), (f"{name}, undone", edited, MANY)]
    # A BGP neighbour (and its address-family lines) leaves a VRF that keeps another one, and comes back.
    fewer = "".join(line for line in MANY.splitlines(keepends=True) if "neighbor Ethernet24 " not in line)
    table += [("BGP neighbour removed", MANY, fewer), ("BGP neighbour added", fewer, MANY)]
    return table


TRANSITIONS = transitions()


@pytest.fixture(scope="module")
def instance(rig: Rig) -> FrrInstance:
    return rig.frr(rig.netns("fd1"), "leaf01", daemon_args={"zebra": ["-M", "dplane_fpm_nl"]})


@pytest.fixture(scope="module")
def adapter(instance: FrrInstance) -> FrrAdapter:
    return FrrAdapter(frr_config(instance))


def runs(instance: FrrInstance, text: str) -> None:
    """FRR runs `text` exactly (up to the order of top-level blocks), and frr-reload.py agrees (its
    --test of the file is empty)."""
    assert same_config(instance.vtysh("show running-config"), text)
    path = instance.dir / "expected.conf"
    path.write_text(text)
    delta = instance.delta(Path(path))
    assert delta.empty, delta


@pytest.mark.parametrize(("before", "after"), [t[1:] for t in TRANSITIONS], ids=[t[0] for t in TRANSITIONS])
def test_fast_delta_reaches_the_candidate(
    instance: FrrInstance, adapter: FrrAdapter, before: str, after: str
) -> None:
    if adapter.last_good() != before:
        adapter.apply(before)  # the reload path (or a delta) gets FRR to the transition's start
        runs(instance, before)
    drift = adapter.apply(after)
    assert adapter.last_path == FAST, adapter.fallback_reason
    assert drift.empty
    assert adapter.read_file(LAST_GOOD) == after
    runs(instance, after)


def test_rejected_command_falls_back_and_restores_last_good(
    instance: FrrInstance, adapter: FrrAdapter
) -> None:
    adapter.apply(MANY)
    runs(instance, MANY)
    # Canonical in form, but bgpd rejects it: the peer-group does not exist.
    bad = MANY.replace(
        " neighbor Ethernet24 interface peer-group MACHINE\n",
        " neighbor Ethernet24 interface peer-group MACHINE\n neighbor Ethernet28 interface peer-group NOPE\n",
    )
    with pytest.raises(ApplyError) as err:
        adapter.apply(bad)
    assert err.value.phase == "frr:reload" and err.value.retryable
    assert "restored" in str(err.value)
    assert "rejected" in adapter.fallback_reason  # the fast path was tried, then the reload
    runs(instance, MANY)
    assert adapter.read_file(LAST_GOOD) == MANY


def test_drifted_frr_falls_back_to_reload(instance: FrrInstance, adapter: FrrAdapter) -> None:
    adapter.apply(MANY)
    # Someone edits FRR by hand: the delta from the last good file cannot know about it.
    instance.vtysh("configure terminal", "ip prefix-list DRIFT seq 5 permit 192.0.2.0/24")
    target = golden("leaf_vrf_one")
    drift = adapter.apply(target)
    assert adapter.last_path == RELOAD
    assert "differs" in adapter.fallback_reason
    assert drift.empty, drift.lines()
    runs(instance, target)


# ---- the netns VRF backend (the lab's leaves) ------------------------------------------------------------
# As in the lab: every VRF namespace exists before zebra -n starts, and the rendering keeps a `vrf X /
# netns ...` block for each (netns_vrfs_always), so a tenant VRF coming or going changes only its `vni`,
# its `router bgp ... vrf X` and the machines' neighbours, prefix lists and route-maps.  One leaf per
# golden: a `vrf X / netns` block added at runtime fails in zebra -n ("Failure to communicate"), which
# is why the lab never changes that set.
REMOVAL = "leaf_vrf_removal_netns"
MANY_NETNS = "leaf_vrf_many_netns"


def netns_transitions() -> list[tuple[str, str, str, str]]:
    """(id, leaf, before, after) on the netns backend: a tenant VRF removed (withdraw, then final) and
    added back, and a second machine's neighbour leaving a VRF and coming back."""
    before = observed_of(REMOVAL).frr
    assert before is not None
    withdraw, final, many = golden(REMOVAL, "frr.withdraw.conf"), golden(REMOVAL), golden(MANY_NETNS)
    one = "".join(line for line in many.splitlines(keepends=True) if "neighbor Ethernet16 " not in line)
    return [
        ("tenant VRF withdrawn (its vni first)", REMOVAL, before, withdraw),
        ("tenant VRF removed", REMOVAL, withdraw, final),
        ("tenant VRF added", REMOVAL, final, before),
        ("tenant VRF removed in one step", REMOVAL, before, final),
        ("second machine added to a VRF", MANY_NETNS, one, many),
        ("second machine removed from a VRF", MANY_NETNS, many, one),
    ]


NETNS_TRANSITIONS = netns_transitions()


@pytest.fixture(scope="module")
def netns_leaves(rig: Rig) -> dict[str, tuple[FrrInstance, FrrAdapter]]:
    """A leaf running zebra -n per golden, its VRF namespaces made before FRR starts."""
    leaves = {}
    for index, case in enumerate((REMOVAL, MANY_NETNS)):
        node = f"fdn{index}"
        vrf_dir = rig.netns_dir(node)
        for line in golden(case).splitlines():
            if line.startswith("vrf "):
                vrf_dir.add(line.split()[1])
        instance = rig.frr(rig.netns(node), "leaf01", netns_vrf=True, netns_dir=vrf_dir)
        leaves[case] = (instance, FrrAdapter(frr_config(instance)))
    return leaves


@pytest.mark.parametrize(
    ("leaf", "before", "after"), [t[1:] for t in NETNS_TRANSITIONS], ids=[t[0] for t in NETNS_TRANSITIONS]
)
def test_netns_backend_transition_takes_the_fast_path(
    netns_leaves: dict[str, tuple[FrrInstance, FrrAdapter]], leaf: str, before: str, after: str
) -> None:
    instance, adapter = netns_leaves[leaf]
    if adapter.last_good() != before:
        adapter.apply(before)
        runs(instance, before)
    drift = adapter.apply(after)
    assert adapter.last_path == FAST, adapter.fallback_reason
    assert drift.empty
    runs(instance, after)  # show running-config is the candidate; frr-reload.py --test is empty
