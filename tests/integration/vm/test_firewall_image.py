"""The firewall machine image as shipped, booted once in qemu: systemd, the seed, the daemon, the watchdog.

`fabric image build firewall` (cached by its inputs; built here when the cache lacks it) gives the
image; a seed disk made with `make_seed_disk` gives it fw1's identity: its token from a real `fabric
api` (SQLite, on the host's loopback) that allocated fw1 for alpha-net and the internet, a kubeconfig
pointing at the Kubernetes STAND-IN (lab/kube.py: no Kubernetes API
server can run here), its NICs by MAC and an SSH key for this test.  The guest reaches both servers
over its management link (`lab.vm.image.Forward`), and the test logs in there over real SSH.

Inside, everything is the product: systemd starts fabric-seed.service, then fabric-firewall.service
(`fabric firewall run` from the image's virtualenv), which plumbs kernel VRFs, applies FRR and the
nftables table, and reports to the API.  Its BGP sessions stay down: no leaf is cabled to the taps
here (the lab wires them).  One boot for the module; the watchdog test runs last (it restarts the
daemon).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from fabric.adapters.api_client import ApiClient
from fabric.commands.image import firewall_unit
from fabric.image.build import Image, build_image
from fabric.image.spec import firewall_spec
from fabric.model import FirewallState
from lab.kube import KubeStandIn, kubeconfig
from lab.rig import Rig, free_port, wait_until
from lab.vm.image import Forward, ImageVm, TapNic, management_seed, ssh_keypair
from tests.integration.api.scenario import nics
from tests.integration.firewall.test_firewall_daemon import Api, declare_firewall

pytestmark = [pytest.mark.slow, pytest.mark.needs("image", "qemu")]

FW1_NICS = nics(2)  # fw1's NICs as the API scenario declares them (cabled to both leaves by LLDP)
API_PORT, KUBE_PORT = 8080, 6443  # where the guest finds them, on its management link
WEB = {
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"type": "LoadBalancer", "ports": [{"port": 443, "protocol": "TCP"}]},
    "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}},
}


def seed_text(name: str, api_url: str, token: str, kube: str, public_key: str) -> str:
    """fw1's seed.yaml (JSON is YAML)."""
    seed = {
        "name": name,
        "api": {"url": api_url, "token": token},
        "kubeconfig": kube,
        "ports": FW1_NICS,
        "management": management_seed(),
        "ssh_authorized_keys": [public_key],
    }
    return json.dumps(seed)


async def firewall_state(api: Api) -> FirewallState:
    async with ApiClient(api.url, api.admin) as client:
        state = (await client.get_state("firewall", "fw1")).document
    assert isinstance(state, FirewallState)
    return state


def firewall_image() -> Image:
    """The firewall image from the cache, built first when the cache lacks it (prints what it did)."""
    report = build_image(firewall_spec(firewall_unit()), progress=lambda line: print(f"image build: {line}"))
    print(f"firewall image {report.image.key}: {'cached' if report.cached else report.seconds}")
    return report.image


@dataclass
class Booted:
    vm: ImageVm
    api: Api
    kube: KubeStandIn
    state: FirewallState
    boot_seconds: float


@pytest.fixture(scope="module")
def booted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Booted]:
    from fabric.image.seeding import make_seed_disk

    image = firewall_image()
    home = tmp_path_factory.mktemp("fw-image")
    api = Api(home / "fabric.db", free_port(), "fab_" + secrets.token_urlsafe(32), home / "api.log")
    api.start()
    kube = KubeStandIn(bookmark_every=1.0).start()
    kube.apply(WEB)
    try:
        token = asyncio.run(declare_firewall(api))
        with Rig() as rig:
            key, public = ssh_keypair(rig.tempdir("ssh"))
            forwards = [Forward(API_PORT, api.port), Forward(KUBE_PORT, kube.port)]
            text = seed_text("fw1", forwards[0].url, token, kubeconfig(forwards[1].url, kube.token), public)
            make_seed_disk(text, home / "seed.img")
            taps = [TapNic(f"fwi{secrets.token_hex(2)}{i}", nic["mac"]) for i, nic in enumerate(FW1_NICS)]
            with ImageVm(rig, image, home / "seed.img", key, name="fw1", nics=taps, forwards=forwards) as vm:
                vm.start()
                seconds = vm.wait_ssh()
                print(f"fw1: sshd answers {seconds:.1f} s after qemu started")
                yield Booted(vm, api, kube, asyncio.run(firewall_state(api)), seconds)
    finally:
        kube.stop()
        api.stop()


def sh(booted: Booted, command: str, timeout: float = 120.0) -> str:
    """`command` in the guest; its stdout (the test fails on a non-zero exit)."""
    result = booted.vm.ssh(command, timeout=timeout)
    assert result.ok, f"{command}: {result.describe()}\nconsole:\n{booted.vm.console_tail()}"
    return result.stdout


def wait_status(booted: Booted, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    """fw1's reported status once `check` holds; on timeout the last status and the daemon's journal."""

    def holds() -> dict[str, Any] | None:
        status = booted.api.status()
        return status if status and check(status) else None

    try:
        return wait_until(holds, timeout=240, interval=2.0, what=what)
    except AssertionError as exc:
        journal = booted.vm.ssh("journalctl -u fabric-firewall --no-pager -n 40 -o cat", timeout=60).stdout
        raise AssertionError(f"{exc}\nlast status: {booted.api.status()}\njournal:\n{journal}") from None


def applied_status(booted: Booted) -> dict[str, Any]:
    """fw1's status once it reports the desired revision applied."""
    applied = wait_status(booted, lambda s: s["sync"]["ok"] and s["sync"]["applied_revision"], "fw1 applies")
    assert applied["sync"]["applied_revision"] == booted.state.revision
    return applied


def test_system_boots_clean(booted: Booted) -> None:
    assert sh(booted, "systemctl is-system-running --wait").strip() == "running"
    assert sh(booted, "systemctl --failed --no-legend --plain").strip() == ""
    print(sh(booted, "systemd-analyze").strip())


def test_the_seed_made_this_machine_fw1(booted: Booted) -> None:
    assert sh(booted, "hostname").strip() == "fw1"
    links = sh(booted, "ip -br link").split()
    assert {"lan0", "lan1", "mgmt0"} <= set(links)
    modes = sh(booted, "stat -c '%a %n' /etc/fabric/firewall.token /etc/fabric/kubeconfig").split("\n")
    assert modes[:2] == ["600 /etc/fabric/firewall.token", "600 /etc/fabric/kubeconfig"]
    # One image serves every firewall: the host keys are this boot's, made by ssh.service.d/host-keys.conf.
    assert "ssh_host_ed25519_key" in sh(booted, "ls /etc/ssh")


def test_daemon_applies_the_state_with_kernel_vrfs_and_reports_it(booted: Booted) -> None:
    status = applied_status(booted)
    assert status["sync"]["drift"] == []
    assert status["elements"] > 0 and status["rules"] > 0
    phases = {p["phase"] for p in status["sync"]["phases"]}
    assert {"compile", "nft", "frr"} <= phases, phases
    vrfs = {line.split()[0] for line in sh(booted, "ip -br link show type vrf").splitlines()}
    assert vrfs == {vrf.name for vrf in booted.state.vrfs}  # alpha-net's and the internet's
    assert "table inet fabric" in sh(booted, "nft list tables")
    running = sh(booted, "vtysh -c 'show running-config'")
    assert "router bgp" in running and "import vrf" in running


def test_a_cluster_change_reaches_the_table(booted: Booted) -> None:
    # The daemon's watches were opened before its first ruleset loaded: they must survive it (the
    # image tracks connections from boot, /etc/nftables.conf).
    before = applied_status(booted)["elements"]
    added = {**WEB, "metadata": {"name": "api", "namespace": "shop"}}
    added["spec"] = {"type": "LoadBalancer", "ports": [{"port": 8443, "protocol": "TCP"}]}
    added["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.11"}]}}
    booted.kube.apply(added)
    wait_status(
        booted, lambda s: s["elements"] > before, "the new LoadBalancer service counted in fw1's status"
    )
    assert "203.0.113.11" in sh(booted, "nft list table inet fabric")


def test_watchdog_restarts_a_frozen_daemon(booted: Booted) -> None:
    pid = sh(booted, "systemctl show -P MainPID fabric-firewall").strip()
    restarts = int(sh(booted, "systemctl show -P NRestarts fabric-firewall"))
    sh(booted, f"kill -STOP {pid}")

    def restarted() -> bool:
        now = booted.vm.ssh("systemctl show -P NRestarts -P MainPID fabric-firewall", timeout=30)
        counts = now.stdout.split()
        return now.ok and len(counts) == 2 and int(counts[0]) > restarts and counts[1] not in ("0", pid)

    # WatchdogSec=60s in the shipped unit: systemd kills the frozen daemon (SIGABRT) and restarts it.
    wait_until(restarted, timeout=240, interval=5.0, what="systemd restarts the frozen daemon")
    journal = sh(booted, "journalctl -u fabric-firewall --no-pager -o cat")
    assert "Watchdog timeout" in journal

    # The new daemon is active once it notifies READY (Python starts slowly under emulation).
    def active() -> bool:
        state = booted.vm.ssh("systemctl is-active fabric-firewall", timeout=30).stdout.strip()
        return state == "active"

    wait_until(active, timeout=120, interval=2.0, what="the restarted daemon is ready")
