"""The firewall image booted with a seed that lacks a field: nothing is written, the daemon never starts.

One boot (see test_firewall_image.py for the image, the API and the Kubernetes STAND-IN).  The seed
names no kubeconfig, so fabric-seed.service refuses it on the console, writes nothing (no SSH key
either: the console is all there is), and fabric-firewall.service, which requires it, is not
started: fw1 never reports to `fabric api`, so nothing half-applied can be seen anywhere.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import pytest

from fabric.image.seeding import read_seed_text, write_seed_disk
from lab.rig import Rig, free_port, wait_until
from lab.vm.image import Forward, ImageVm, TapNic, ssh_keypair
from tests.integration.firewall.test_firewall_daemon import Api, declare_firewall
from tests.integration.vm.test_firewall_image import API_PORT, FW1_NICS, firewall_image, seed_text

pytestmark = [pytest.mark.slow, pytest.mark.needs("image", "qemu")]


def test_a_seed_without_kubeconfig_is_refused_and_nothing_starts(tmp_path: Path) -> None:
    image = firewall_image()
    api = Api(tmp_path / "fabric.db", free_port(), "fab_" + secrets.token_urlsafe(32), tmp_path / "api.log")
    api.start()
    try:
        token = asyncio.run(declare_firewall(api))
        with Rig() as rig:
            key, public = ssh_keypair(rig.tempdir("ssh"))
            forward = Forward(API_PORT, api.port)
            seed = json.loads(seed_text("fw1", forward.url, token, "unused", public))
            del seed["kubeconfig"]
            # make_seed_disk validates: the broken seed goes on the disk as it is.
            (tmp_path / "seed").mkdir()
            (tmp_path / "seed" / "seed.yaml").write_text(json.dumps(seed))
            write_seed_disk(tmp_path / "seed", tmp_path / "bad.img")
            assert read_seed_text(tmp_path / "seed") == json.dumps(seed)
            taps = [TapNic(f"fws{secrets.token_hex(2)}{i}", nic["mac"]) for i, nic in enumerate(FW1_NICS)]
            with ImageVm(
                rig, image, tmp_path / "bad.img", key, name="fw1", nics=taps, forwards=[forward]
            ) as vm:
                vm.start()
                wait_until(
                    lambda: "Dependency failed for" in vm.console_tail(200),
                    timeout=300,
                    interval=2.0,
                    what="fabric-firewall.service not started for want of its seed",
                )
                console = vm.console_tail(200)
        assert "kubeconfig: Field required" in console, console
        assert "fabric seed: nothing written" in console
        assert "[FAILED] Failed to start fabric-see" in console  # systemd shortens the description
        assert api.status() is None  # the daemon never ran: it reported nothing
    finally:
        api.stop()
