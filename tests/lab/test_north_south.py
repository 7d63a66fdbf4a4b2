"""North-south through the lab's firewall as `make lab` runs it: mini.clab.yml up once for the module
with fw01 booting the firewall image in qemu (TCG), exit01 a real exit router, the cluster served by the
Kubernetes STAND-IN (lab.kube; no real API server runs here).  The demo (`fabric lab demo`'s code path)
allocates, attaches fw01's own internet address and a load-balancer IP that m1 announces (the lab
agent's STAND-IN speaker), applies the cluster and tries every flow with real TCP; then fw01's status,
its units under systemd, and a leaf link going down."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import north_south
from lab.demo import DemoReport, NorthSouth, run_demo
from lab.exit_router import INTERNET_ADDRESSES, INTERNET_HOST
from lab.fabric_lab import exec_in
from lab.rig import wait_until
from lab.state import LabState

pytestmark = [pytest.mark.slow, pytest.mark.needs("netns", "frr", "redis", "lldp", "ping", "image", "qemu")]


@pytest.fixture(scope="module")
def demo(lab_with_firewall: LabState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoReport]:
    state = LabState.load(lab_with_firewall.name)
    yield run_demo(state, Path(state.api_dir or tmp_path_factory.mktemp("demo")), print)


def through(demo: DemoReport) -> NorthSouth:
    assert demo.north_south is not None, "fw01 is a VM here: the demo must go north-south"
    return demo.north_south


def sh(lab: LabState, command: str) -> str:
    result = exec_in(lab.name, "fw01", ["sh", "-c", command], timeout=60)
    assert result.ok, result.describe()
    return result.stdout


def test_every_flow_of_the_table_is_as_expected(demo: DemoReport) -> None:
    ns = through(demo)
    table = [(o.flow.name, o.answered, o.seen) for o in ns.outcomes]
    assert all(o.as_expected for o in ns.outcomes), table
    answered = {o.flow.port for o in ns.outcomes if o.answered}
    assert answered == {north_south.ALLOWED_PORT, north_south.SERVED_PORT}
    # IPv4 leaves from fw01's own internet address; IPv6 (global) as it is.
    egress = {o.seen for o in ns.outcomes if o.answered and o.flow.node != INTERNET_HOST}
    assert egress == {ns.firewall_ips[0], demo_v6(ns)}
    # The load-balancer IP is reached from the internet on the Service's port only, untranslated.
    ingress = {(o.flow.port, o.answered, o.seen) for o in ns.outcomes if o.flow.dst == ns.balanced}
    assert ingress == {
        (north_south.SERVED_PORT, True, INTERNET_ADDRESSES[0]),
        (north_south.UNSERVED_PORT, False, None),
    }
    print(f"policy flip: {ns.flipped.name} passed {ns.flip_seconds:.2f} s after the change")


def demo_v6(ns: NorthSouth) -> str:
    return next(o.flow.src for o in ns.outcomes if ":" in o.flow.src and o.flow.node != INTERNET_HOST)


def test_the_firewall_reports_its_state_applied_with_bgp_to_both_leaves(demo: DemoReport) -> None:
    status = through(demo).status
    row = next(r for r in demo.fleet if r["kind"] == "firewall" and r["name"] == "fw01")
    assert status["sync"]["ok"] and status["sync"]["applied_revision"] == row["desired_revision"]
    assert status["rules"] > 0 and status["elements"] > 0
    assert {(b["peer"], b["state"]) for b in status["bgp"]} == {
        ("lan0", "Established"),
        ("lan1", "Established"),
    }


def test_the_image_runs_clean_under_systemd(lab_with_firewall: LabState, demo: DemoReport) -> None:
    assert sh(lab_with_firewall, "systemctl is-system-running").strip() == "running"
    assert sh(lab_with_firewall, "systemctl --failed --no-legend --plain").strip() == ""
    assert sh(lab_with_firewall, "systemctl is-active fabric-firewall").strip() == "active"


def test_north_south_continues_through_leaf02_when_leaf01s_link_is_down(
    lab_with_firewall: LabState, demo: DemoReport
) -> None:
    lab = lab_with_firewall
    flows = [o.flow for o in through(demo).outcomes]
    assert exec_in(lab.name, "leaf01", ["ip", "link", "set", "Ethernet8", "down"]).ok
    try:
        wait_until(
            lambda: "lan0" not in sh(lab, "vtysh -c 'show bgp summary established'"),
            timeout=60,
            what="fw01's session to leaf01 down",
        )
        for flow in (f for f in flows if f.allowed):
            passes = functools.partial(north_south.passes, lab, flow)
            wait_until(passes, timeout=90, what=f"{flow.name} through leaf02")
        assert not any(north_south.passes(lab, f) for f in flows if not f.allowed)
    finally:
        exec_in(lab.name, "leaf01", ["ip", "link", "set", "Ethernet8", "up"])
