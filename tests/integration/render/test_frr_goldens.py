"""Every expected frr.conf of the golden suite, proven in a real FRR 8.4 (docs/concepts.md#frr).

For each file: `vtysh -C -f` accepts it; loaded into a freshly started scratch FRR (one namespace
per hostname, the daemons restarted empty for every file, then given the file) no line is
rejected; `show running-config` prints exactly the file (FRR's canonical form, modulo the
`frr version` line it adds); `frr-reload.py --test` shows no delta.

Tenant VRFs are rendered for kernel VRFs (no `netns` line): FRR 8.4 accepts `vrf VrfN` / `vni N`
and `router bgp ASN vrf VrfN` blocks although no VRF device exists here, and keeps them in
running-config, so the production rendering is proven without kernel VRFs.  The same holds for the
firewall's route leaking (`import vrf` and `import vrf route-map` in each VRF): the `firewall_frr_*`
goldens get the same four proofs (what the leaked routes do needs kernel VRFs: the qemu VM).  zebra is
started with SONiC's `-M dplane_fpm_nl`, so the `fpm address` lines of SONiC's FRR releases
(capability table) are proven too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fabric.model import SwitchState, load_file
from lab.rig import FrrInstance, Rig, check_syntax
from tests.golden.cases import ROOT, SWITCH_CASES, options_of

pytestmark = pytest.mark.needs("netns", "frr")

# Cases rendered for FRR's netns VRF backend (the lab) need zebra -n and their VRF namespaces.
NETNS_CASES = [case for case in SWITCH_CASES if options_of(case).netns_vrfs]
FILES = sorted(
    p
    for name in ("frr.conf", "frr.withdraw.conf")
    for p in ROOT.glob(f"*/{name}")
    if p.parent.name not in NETNS_CASES
)


def hostname_of(path: Path) -> str:
    return next(line.split()[1] for line in path.read_text().splitlines() if line.startswith("hostname "))


@pytest.fixture(scope="module")
def scratch(rig: Rig) -> Iterator[dict[str, FrrInstance]]:
    """One stopped FRR instance per hostname of the goldens (started empty for each file)."""
    instances = {}
    for index, host in enumerate(sorted({hostname_of(p) for p in FILES})):
        # zebra loads the FPM module as SONiC starts it, so the `fpm` lines of SONiC releases load too.
        fpm = {"zebra": ["-M", "dplane_fpm_nl"]}
        instances[host] = rig.frr(rig.netns(f"r{index}"), host, start=False, daemon_args=fpm)
    yield instances


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_golden_frr_is_accepted_and_canonical(path: Path, scratch: dict[str, FrrInstance]) -> None:
    text = path.read_text()
    syntax = check_syntax(path)
    assert syntax.ok, syntax.describe()
    frr = scratch[hostname_of(path)]
    frr.stop()
    frr.start(text)  # empty daemons, then the file; raises on any line FRR rejects
    _assert_canonical(frr, path)


def _assert_canonical(frr: FrrInstance, path: Path) -> None:
    running = "".join(line for line in frr.running_config().splitlines(keepends=True)
                      if not line.startswith("frr version"))  # fmt: skip
    assert running.lstrip("!\n") == path.read_text()
    delta = frr.delta(path)
    assert delta.empty, f"frr-reload.py --test after load: {delta}"


@pytest.mark.parametrize(
    "path",
    [p for case in NETNS_CASES for p in sorted((ROOT / case).glob("frr*.conf"))],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_netns_golden_loads_into_a_netns_backend_frr(path: Path, rig: Rig) -> None:
    """The lab's rendering: zebra -n, one namespace per VRF and per always-present VRF namespace
    (created before FRR starts, as the lab does), ` netns /run/netns/<vrf>` in each vrf block (bare for
    a namespace no tenant uses); accepted, canonical, empty reload delta."""
    case = path.parent.name
    assert check_syntax(path).ok
    vrfs = rig.netns_dir(f"{case}-{path.stem.replace('.', '-')}")
    tenant = {vrf.name for vrf in load_file(SwitchState, ROOT / case / "switch.json").vrfs}
    for name in sorted(tenant | set(options_of(case).netns_vrfs_always)):
        vrfs.add(name)
    node = rig.netns(f"{case}-{path.stem.replace('.', '-')}")
    frr = rig.frr(node, hostname_of(path), netns_vrf=True, netns_dir=vrfs, start=False)
    frr.start(path.read_text())
    _assert_canonical(frr, path)
