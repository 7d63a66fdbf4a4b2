"""`fabric firewall run` end to end: the real daemon process, a real `fabric api` on SQLite, real
nftables in the rig's firewall namespace, real packets through it.

The Kubernetes side is a STAND-IN (lab/kube.py): no Kubernetes API server can run on our machines,
so a small aiohttp server serves list + watch of the four kinds with resourceVersions, bookmarks and
410 Gone.  The daemon reaches it through kubernetes_asyncio and a kubeconfig, as it would a real one.

The tests run in order on one daemon (module-scoped): first sync, changes, bookmarks and 410, an API
outage, a burst.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import sqlite3
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fabric.adapters.process import spawn
from fabric.core.policy.manifests import flatten
from lab.kube import PATHS, KubeStandIn
from lab.rig import wait_until
from tests.integration.api.conftest import FABRIC, free_port, stop_server, wait_healthy
from tests.integration.firewall.conftest import Trio

pytestmark = pytest.mark.needs("netns", "nft")
SHOP = Path(__file__).parents[2] / "data" / "k8s" / "shop"
BAD_POLICY = {
    "kind": "NetworkPolicy",
    "metadata": {"name": "typo", "namespace": "shop"},
    "spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.300/8"}}]}]},
}


def lb_service(name: str, ip: str, port: int = 443) -> dict[str, Any]:
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": port, "protocol": "TCP"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": ip}]}},
    }


@dataclass
class Api:
    """A `fabric api serve` on SQLite that can be stopped and started again on the same port."""

    db: Path
    port: int
    admin: str
    log: Path
    pid: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "FABRIC_ADMIN_TOKEN": self.admin}
        argv = [FABRIC, "api", "serve", "--db", f"sqlite:///{self.db}", "--listen", f"127.0.0.1:{self.port}"]
        self.pid = spawn(argv, env=env, stdout_path=str(self.log)).pid
        wait_healthy(self.url, self.pid, self.log)

    def stop(self) -> None:
        stop_server(self.pid)

    def status(self) -> dict[str, Any] | None:
        """The firewall's last reported status, straight from the store."""
        with sqlite3.connect(self.db) as conn:
            row = conn.execute("SELECT body FROM statuses WHERE kind='firewall' AND name='fw1'").fetchone()
        return json.loads(row[0]) if row else None


async def declare_firewall(api: Api) -> str:
    """The API scenario's fabric with fw1 allocated; returns fw1's own token."""
    from fabric.adapters.api_client import ApiClient
    from tests.integration.api.scenario import cable, declare

    async with ApiClient(api.url, api.admin) as client:
        await declare(client)
        await cable(client)
        await client.request("POST", "/v1/firewalls/fw1/allocate", {"networks": ["alpha-net", "internet"]})
        token = await client.request("POST", "/v1/tokens", {"role": "firewall", "subject": "fw1"})
    return str(token["token"])


@dataclass
class Daemon:
    pid: int
    log: Path
    metrics_url: str

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples called `name` whose labels include `labels`."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as r:
            text = r.read().decode()
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name and labels.items() <= s.labels.items()
        )


@pytest.fixture(scope="module")
def standin() -> Iterator[KubeStandIn]:
    server = KubeStandIn(bookmark_every=0.3).start()
    documents = [yaml.safe_load_all(p.read_text()) for p in sorted(SHOP.glob("*.yaml"))]
    server.apply(*(obj for docs in documents for obj in flatten(docs)), BAD_POLICY)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    home = tmp_path_factory.mktemp("fw-api")
    server = Api(home / "fabric.db", free_port(), "fab_" + secrets.token_urlsafe(32), home / "api.log")
    server.start()
    try:
        token = asyncio.run(declare_firewall(server))
        (home / "fw1.token").write_text(token)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def daemon(
    trio: Trio, standin: KubeStandIn, api: Api, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daemon]:
    home = tmp_path_factory.mktemp("fw-daemon")
    port = free_port()
    config = {
        "name": "fw1",
        "api": {
            "url": api.url,
            "token_file": str(api.db.parent / "fw1.token"),
            "watch_wait": 5,
            "timeout": 2,
        },
        "kube": {"kubeconfig": str(standin.kubeconfig(home / "kubeconfig")), "watch_timeout": 30},
        "nft": {"exec_prefix": ["ip", "netns", "exec", trio.fw.name]},
        # This module is about nftables; FRR and plumbing run in test_firewall_routing_daemon.py (this
        # fw1 leaks routes between its VRFs, which needs kernel VRF devices this machine lacks).
        "frr": None,
        "plumbing": None,
        "heartbeat": 0.5,
        "backoff_initial": 0.2,
        "backoff_max": 1.0,
        "metrics_port": port,
        "metrics_address": "127.0.0.1",
    }
    (home / "firewall.yaml").write_text(yaml.safe_dump(config))
    log = home / "daemon.log"
    proc = spawn([FABRIC, "firewall", "run", "--config", str(home / "firewall.yaml")], stdout_path=str(log))
    try:
        yield Daemon(proc.pid, log, f"http://127.0.0.1:{port}/metrics")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        print(log.read_text()[-4000:])
        trio.table.remove()


def listing(trio: Trio) -> str:
    return trio.table.listing(stateless=True)


def has(trio: Trio, *words: str) -> bool:
    try:
        text = listing(trio)
    except Exception:
        return False
    return all(w in text for w in words)


def profile_of(trio: Trio, address: str) -> str:
    """The elements of the profile set `address`'s map element jumps to in the kernel's table ("" when
    it has none): what the address accepts, as `proto . port . remote, ...`."""
    try:
        text = listing(trio)
    except Exception:
        return ""
    jump = re.search(rf"[{{\s]{re.escape(address)}(?: comment \"[^\"]*\")? : jump (\w+)", text)
    if jump is None:
        return ""
    block = re.search(rf"set {jump[1]} {{.*?elements = {{(.*?)}}", text, re.S)
    assert block is not None, f"profile {jump[1]} of {address} is not in the table"
    return " ".join(block[1].split())


def conditions(api: Api) -> dict[str, dict[str, Any]]:
    status = api.status() or {}
    return {c["object"]: c for c in status.get("conditions", [])}


def test_first_sync_applies_reports_and_filters(trio: Trio, api: Api, daemon: Daemon) -> None:
    wait_until(lambda: has(trio, "shop/web (Service)", "shop/web-from-partners"), timeout=20, what="ruleset")
    status = wait_until(api.status, timeout=10, what="status posted")
    assert status["sync"]["ok"] and status["sync"]["applied_revision"] >= 1
    assert status["sync"]["applied_hash"].startswith("sha256:")
    assert status["elements"] > 0 and status["rules"] > 10
    assert {p["phase"] for p in status["sync"]["phases"]} >= {"compile", "nft"}
    conds = conditions(api)
    assert conds["NetworkPolicy/shop/web-from-partners"]["accepted"]
    assert (
        not conds["NetworkPolicy/shop/typo"]["accepted"]
        and "cidr" in conds["NetworkPolicy/shop/typo"]["reason"]
    )
    # Real packets: a partner's block is let in to the web pod's named port, its except is not.
    flows = [("198.51.100.7", "10.244.1.10", 8080, "TCP"), ("198.51.100.200", "10.244.1.10", 8080, "TCP")]
    assert trio.probe(flows) == [True, False]
    wait_until(lambda: daemon.metric("fabric_firewall_dropped_packets_total", counter="deny_in") > 0,
               timeout=10, what="drop counter exported")  # fmt: skip
    assert daemon.metric("fabric_firewall_elements") == status["elements"]
    assert daemon.metric("fabric_firewall_sync_seconds_count") >= 1
    assert daemon.metric("fabric_firewall_cluster_objects", kind="Pod") == 3


def test_object_added_changed_deleted(trio: Trio, standin: KubeStandIn, api: Api, daemon: Daemon) -> None:
    standin.apply(lb_service("shop-new", "203.0.113.20"))
    wait_until(
        lambda: "tcp . 443 . " in profile_of(trio, "203.0.113.20"), timeout=20, what="new service applied"
    )
    wait_until(
        lambda: "Service/shop/shop-new" in conditions(api), timeout=20, what="condition of new service"
    )
    standin.apply(lb_service("shop-new", "203.0.113.20", 8443))
    wait_until(lambda: "tcp . 8443 . " in (p := profile_of(trio, "203.0.113.20")) and "tcp . 443 . " not in p,
               timeout=20, what="changed port applied")  # fmt: skip
    standin.delete("Service", "shop", "shop-new")
    wait_until(lambda: not has(trio, "203.0.113.20 "), timeout=20, what="deleted service removed")
    wait_until(lambda: "Service/shop/shop-new" not in conditions(api), timeout=20, what="condition dropped")
    # Only elements changed: no full table reload for any of the three.
    assert daemon.metric("fabric_firewall_nft_applies_total", mode="elements") >= 3


def test_bookmarks_spare_a_relist_and_410_gone_relists(
    trio: Trio, standin: KubeStandIn, daemon: Daemon
) -> None:
    # Quiet kinds (Namespaces) learn the current resourceVersion only from bookmarks.
    marks = dict(standin.bookmarks)
    wait_until(lambda: all(standin.bookmarks[k] > marks.get(k, 0) + 1 for k in PATHS),
               timeout=10, what="bookmarks delivered")  # fmt: skip
    lists, watches = dict(standin.lists), dict(standin.watches)
    standin.expire()  # every stream ends, history compacted to now: resumes from bookmarks still work
    wait_until(lambda: all(standin.watches[k] > watches[k] for k in PATHS),
               timeout=10, what="watches resumed")  # fmt: skip
    assert dict(standin.lists) == lists and not standin.gone
    # A change the daemon cannot see in any watch: its resourceVersion is gone, it must list again.
    standin.expire(lb_service("shop-silent", "203.0.113.30"))
    wait_until(lambda: "tcp . 443 . " in profile_of(trio, "203.0.113.30"), timeout=15,
               what="re-listed and converged")  # fmt: skip
    assert standin.gone["Service"] >= 1 and standin.lists["Service"] > lists["Service"]


def test_api_unreachable_keeps_ruleset_and_retries(
    trio: Trio, standin: KubeStandIn, api: Api, daemon: Daemon
) -> None:
    before = listing(trio)
    api.stop()
    try:
        wait_until(lambda: "FirewallState unavailable" in daemon.log.read_text(), timeout=15, what="retrying")
        assert listing(trio) == before  # nothing removed while the API is away
        # The cluster still moves: applied with the last FirewallState, reported once the API is back.
        standin.apply(lb_service("shop-offline", "203.0.113.40"))
        wait_until(lambda: has(trio, "203.0.113.40"), timeout=10, what="applied while the API is down")
    finally:
        api.start()
    wait_until(lambda: "Service/shop/shop-offline" in conditions(api), timeout=15, what="status after outage")


def test_burst_of_100_events_is_few_syncs(trio: Trio, standin: KubeStandIn, daemon: Daemon) -> None:
    wait_until(lambda: daemon.metric("fabric_firewall_syncs_total") > 0, timeout=5, what="metrics")
    syncs = daemon.metric("fabric_firewall_syncs_total")
    standin.apply(*(lb_service(f"burst-{i}", f"198.18.{i // 250}.{i % 250 + 1}") for i in range(100)))
    wait_until(lambda: has(trio, "shop/burst-0 (Service)", "shop/burst-99 (Service)"), timeout=15,
               what="burst applied")  # fmt: skip
    wait_until(lambda: daemon.metric("fabric_firewall_syncs_total") > syncs, timeout=5, what="sync counted")
    assert daemon.metric("fabric_firewall_syncs_total") - syncs <= 3
