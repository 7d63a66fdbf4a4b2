"""Parsers of FRR output, the SONiC field conventions, the loop's backoff and sd_notify."""

from __future__ import annotations

import random
import socket
from pathlib import Path

from fabric.adapters.configdb import from_raw, list_field
from fabric.adapters.frr import has_substance, parse_bgp_summary, parse_delta, parse_version
from fabric.adapters.sdnotify import notify, watchdog_interval
from fabric.runtime.backoff import Backoff

TEST_OUTPUT = """
Lines To Delete
===============
router bgp 65001
 no neighbor swp1 interface remote-as external

Lines To Add
============
ip prefix-list x seq 5 permit 10.0.0.0/8
"""


def test_parse_delta_sections() -> None:
    delta = parse_delta(TEST_OUTPUT)
    assert delta.delete == ("router bgp 65001", " no neighbor swp1 interface remote-as external")
    assert delta.add == ("ip prefix-list x seq 5 permit 10.0.0.0/8",)
    assert delta.lines()[0] == "- router bgp 65001"
    assert parse_delta("").empty


def test_parse_version() -> None:
    assert parse_version("FRRouting 8.4.4 (leaf01) on Linux(6.1.0).\nCopyright") == "8.4.4"
    assert parse_version("FRRouting 10.3-sonic (x)") == "10.3-sonic"
    assert parse_version("nothing here") is None


def test_parse_bgp_summary_one_session_per_vrf_and_peer() -> None:
    data = {
        "default": {
            "ipv4Unicast": {
                "peers": {"Ethernet120": {"state": "Established", "remoteAs": 65100, "pfxRcd": 4}}
            },
            "l2VpnEvpn": {"peers": {"Ethernet120": {"state": "Established", "pfxRcd": 9}}},
        },
        "Vrf100010": {"ipv4Unicast": {"peers": {"Ethernet0": {"state": "Active"}}}},
    }
    sessions = parse_bgp_summary(data)
    assert [(s.vrf, s.peer, s.state, s.prefixes_received) for s in sessions] == [
        ("Vrf100010", "Ethernet0", "Active", None),
        ("default", "Ethernet120", "Established", 4),
    ]
    assert parse_bgp_summary([]) == []


def test_substance_of_running_config() -> None:
    assert not has_substance("frr version 8.4.4\nhostname leaf\nservice integrated-vtysh-config\n")
    assert has_substance("hostname leaf\nrouter bgp 65001\n")


def test_sonic_field_conventions() -> None:
    assert from_raw({"NULL": "NULL"}) == {}
    assert list_field("dhcp_servers", ["10.0.0.1", "10.0.0.2"]) == ("dhcp_servers@", "10.0.0.1,10.0.0.2")


def test_backoff_grows_to_its_cap_and_resets() -> None:
    backoff = Backoff(1.0, 8.0, random.Random(1))
    delays = [backoff.next() for _ in range(6)]
    assert all(0.5 <= d <= 1.0 for d in delays[:1])
    assert all(4.0 <= d <= 8.0 for d in delays[4:])
    backoff.reset()
    assert backoff.next() <= 1.0


def test_sd_notify_sends_to_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        assert notify("READY=1", env={"NOTIFY_SOCKET": str(path)})
        assert server.recv(64) == b"READY=1"
    assert not notify("READY=1", env={})
    assert watchdog_interval({"WATCHDOG_USEC": "20000000"}) == 10.0
    assert watchdog_interval({}) is None
