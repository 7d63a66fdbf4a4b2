"""The lab under test: topologies/mini.clab.yml brought up once per module under a name of its own.

Each run names its lab ``pytest<4 hex>`` (a copy of mini.clab.yml with another `name`), so it never
collides with a lab someone brought up by hand; labs of earlier test runs whose process died are
removed first (their ledger names the dead owner).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import fabric_lab
from lab.rig.run import Ledger
from lab.state import LAB_ROOT, PREFIX_STEM, LabError, LabState
from lab.topology import named_copy

REPO = Path(__file__).resolve().parents[2]
MINI = REPO / "topologies" / "mini.clab.yml"
TEST_LAB_STEM = "pytest"


def clean_dead_test_labs() -> None:
    """`down` every test lab whose owning test process is gone (a crashed or killed run)."""
    if not LAB_ROOT.is_dir():
        return
    for directory in LAB_ROOT.glob(f"{PREFIX_STEM}{TEST_LAB_STEM}*"):
        try:
            ledger = Ledger.load(directory)
        except (OSError, ValueError):
            continue
        if not ledger.owner_alive():
            ledger.clean()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabState]:
    """mini.clab.yml up for the module (in this process, so a crash leaves a dead-owner ledger).

    Modules using it carry ``pytest.mark.needs("netns", "frr", "redis", "lldp", "ping")``.
    """
    yield from _lab(tmp_path_factory, firewall_vms=False)


@pytest.fixture(scope="module")
def lab_with_firewall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabState]:
    """mini.clab.yml up for the module with fw01 booting the firewall image in qemu (as `make lab`).

    Modules using it also carry ``pytest.mark.needs("image", "qemu")``.
    """
    yield from _lab(tmp_path_factory, firewall_vms=True)


def _lab(tmp_path_factory: pytest.TempPathFactory, *, firewall_vms: bool) -> Iterator[LabState]:
    clean_dead_test_labs()
    name = f"{TEST_LAB_STEM}{secrets.token_hex(2)}"
    path = named_copy(MINI, name, tmp_path_factory.mktemp("lab"))
    state = fabric_lab.up(
        path, firewall_vms=firewall_vms, progress=lambda line: print(f"firewall image: {line}")
    )
    try:
        yield state
    finally:
        with contextlib.suppress(LabError):  # a test took it down already
            fabric_lab.down(name)
