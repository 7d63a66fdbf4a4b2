"""`fleet_row`: one line of the fleet view (`fabric status`, `GET /v1/status`) from a document and the
last status its daemon reported."""

from __future__ import annotations

from typing import Any


def fleet_row(
    kind: str,
    name: str,
    desired: tuple[int, str],
    reported: dict[str, Any],
    received_at: float | None,
    *,
    now: float,
    stale_after: float,
) -> dict[str, Any]:
    """`desired` is the document's (revision, hash); `reported` the daemon's last status (empty: none)."""
    revision, digest = desired
    sync = reported.get("sync", {})
    age = now - received_at if received_at is not None else None
    failed = bool(sync) and not sync.get("ok", True)
    return {
        "kind": kind,
        "name": name,
        "desired_revision": revision,
        "applied_revision": sync.get("applied_revision"),
        "outdated": bool(digest) and sync.get("applied_hash") != digest,
        "last_error": f"{sync.get('failing_phase', '')}: {sync.get('reason', '')}" if failed else "",
        "heartbeat_age": round(age, 1) if age is not None else None,
        "paused": bool(sync.get("paused", False)),
        "stale": age is None or age > stale_after,
    }
