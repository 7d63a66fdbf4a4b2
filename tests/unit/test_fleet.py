"""`fleet_row`: the fleet view's judgement of one device (outdated, last error, stale heartbeat)."""

from __future__ import annotations

from fabric.core.fleet import fleet_row

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def test_a_device_that_applied_its_document_is_neither_outdated_nor_stale() -> None:
    sync = {"applied_revision": 4, "applied_hash": DIGEST, "ok": True}
    row = fleet_row("switch", "leaf01", (4, DIGEST), {"sync": sync}, 100.0, now=110.0, stale_after=300)
    assert row == {
        "kind": "switch",
        "name": "leaf01",
        "desired_revision": 4,
        "applied_revision": 4,
        "outdated": False,
        "last_error": "",
        "heartbeat_age": 10.0,
        "paused": False,
        "stale": False,
    }


def test_a_failing_paused_or_silent_device_says_so() -> None:
    failing = {
        "applied_revision": 3,
        "applied_hash": OTHER,
        "ok": False,
        "failing_phase": "guard",
        "reason": "x",
    }
    row = fleet_row("firewall", "fw1", (4, DIGEST), {"sync": failing}, 0.0, now=400.0, stale_after=300)
    assert (row["outdated"], row["last_error"], row["stale"]) == (True, "guard: x", True)
    paused = {"applied_revision": 3, "applied_hash": OTHER, "ok": True, "paused": True}
    assert fleet_row("switch", "s", (4, DIGEST), {"sync": paused}, 0.0, now=1.0, stale_after=300)["paused"]
    silent = fleet_row("switch", "s", (1, DIGEST), {}, None, now=1.0, stale_after=300)
    assert (silent["applied_revision"], silent["outdated"], silent["stale"], silent["heartbeat_age"]) == (
        None,
        True,
        True,
        None,
    )
