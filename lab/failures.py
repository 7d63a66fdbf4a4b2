"""Switch failures in the lab, measured by what tenants see: a continuous UDP stream between two
machines (`lab.netprobe stream`: 400 datagrams a second over 8 flows, which ECMP spreads over every
path, each answered by the other machine) runs while a switch fails and comes back; the outcome is the
datagrams lost and the longest time a flow went without an answer.

Two kinds of failure:

- `links_down`: the node loses all its links (every data port set down in its namespace, so the far
  ends lose carrier, as with a dead switch or a pulled cable bundle); BGP reacts to the lost carrier.
- `freeze`: a silent failure, links up: the node's FRR daemons stop (SIGSTOP) and it stops forwarding
  IPv4 (the underlay); its neighbours notice only when their BGP hold timer expires.

The switch daemon is not involved: what keeps traffic flowing is the dual attachment and BGP.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fabric.adapters.process import run
from lab import netprobe
from lab.fabric_lab import exec_argv, exec_in
from lab.north_south import start_servers
from lab.state import LabState
from lab.topology import load_topology

STREAM_PORT = 9500  # the port the destination machine's netprobe answers the stream on
RATE = 400.0  # datagrams a second over 8 flows (50 each: a gap is resolved to 20 ms), each answered
FRR_DAEMONS = frozenset({"zebra", "bgpd", "staticd", "bfdd"})


@dataclass(frozen=True)
class Outcome:
    """What the stream saw while a failure happened and was repaired."""

    scenario: str
    sent: int
    answered: int
    longest_gap: float  # seconds without an answer

    @property
    def lost(self) -> int:
        return self.sent - self.answered

    def line(self) -> str:
        return (
            f"{self.scenario}: {self.lost} of {self.sent} lost, longest gap {self.longest_gap * 1000:.0f} ms"
        )


def ports_of(state: LabState, node: str) -> list[str]:
    """The data ports of `node` as named in its namespace (`Ethernet0`… on a switch, `lan0`… elsewhere)."""
    return [near.port for near, _ in load_topology(state.topology_file).links_of(node)]


def set_links(state: LabState, node: str, ports: list[str], up: bool) -> None:
    """Every port of `ports` of `node` up or down, wherever it is (a leaf's tenant ports live in their
    VRF's namespace under the lab's netns VRF backend).  A port that cannot be set raises, naming it,
    after the ports already changed are set back."""
    done: list[str] = []
    try:
        for port in ports:
            _set_link(state, node, port, up)
            done.append(port)
    except RuntimeError:
        for port in done:
            _set_link(state, node, port, not up)
        raise


def _set_link(state: LabState, node: str, port: str, up: bool) -> None:
    argv = ["ip", "link", "set", port, "up" if up else "down"]
    result = exec_in(state.name, node, argv)
    if result.ok:
        return
    vrf_dir = state.node(node).vrf_dir
    for vrf in sorted(Path(vrf_dir).iterdir()) if vrf_dir else []:
        if run(["nsenter", f"--net={vrf}", *argv]).ok:
            return
    raise RuntimeError(f"{node}: {result.describe()}")


def links_down(state: LabState, node: str) -> Callable[[], None]:
    """Fail `node` by taking all its links down; answers the repair (all of them up again)."""
    ports = ports_of(state, node)
    set_links(state, node, ports, up=False)
    return lambda: set_links(state, node, ports, up=True)


def freeze(state: LabState, node: str) -> Callable[[], None]:
    """Fail `node` silently: its FRR daemons stopped, its IPv4 forwarding off, its links up; answers
    the repair (forwarding on, the daemons continued)."""
    record = state.node(node)
    pids = [pid for name, (pid, _) in record.daemons.items() if name in FRR_DAEMONS]
    _forwarding(state, node, on=False)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)

    def repair() -> None:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        _forwarding(state, node, on=True)

    return repair


def _forwarding(state: LabState, node: str, *, on: bool) -> None:
    # Everywhere the node forwards: its namespace and, on a leaf, every tenant VRF's (netns backend).
    argv = ["sysctl", "-qw", f"net.ipv4.ip_forward={int(on)}"]
    result = exec_in(state.name, node, argv)
    if not result.ok:
        raise RuntimeError(result.describe())
    vrf_dir = state.node(node).vrf_dir
    for vrf in sorted(Path(vrf_dir).iterdir()) if vrf_dir else []:
        inside = run(["nsenter", f"--net={vrf}", *argv])
        if not inside.ok:
            raise RuntimeError(inside.describe())


def measure(
    state: LabState,
    scenario: str,
    src: tuple[str, str],
    dst: tuple[str, str],
    fail: Callable[[], Callable[[], None]],
    *,
    before: float = 2.0,
    during: float = 4.0,
    after: float = 3.0,
) -> Outcome:
    """Stream from `src` (node, address) to `dst` (node, address); `before` seconds in, `fail()` breaks
    something and answers its repair, which runs `during` seconds later; the stream goes on `after`."""
    start_servers(state, dst[0], (STREAM_PORT,))
    seconds = before + during + after
    argv = [
        sys.executable,
        netprobe.__file__,
        "stream",
        src[1],
        dst[1],
        str(STREAM_PORT),
        str(RATE),
        str(seconds),
    ]
    with subprocess.Popen(  # noqa: S603 - argv list, no shell
        exec_argv(state.node(src[0]), argv), stdout=subprocess.PIPE, text=True
    ) as stream:
        time.sleep(before)
        repair = fail()
        try:
            time.sleep(during)
        finally:
            repair()
        out, _ = stream.communicate(timeout=seconds + 30)
    if stream.returncode != 0:
        raise RuntimeError(f"the stream from {src[0]} failed (exit {stream.returncode}): {out}")
    found = json.loads(out)
    return Outcome(scenario, int(found["sent"]), int(found["answered"]), float(found["longest_gap"]))
