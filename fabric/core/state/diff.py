"""The difference between two revisions of a document, as (path, before, after) entries."""

from __future__ import annotations

from typing import Any

MISSING = None


def _key(item: Any) -> str | None:
    # List items of documents are identified by their name (ports, VRFs) or port (firewalls).
    if isinstance(item, dict):
        for field in ("name", "port", "prefix"):
            if field in item:
                return str(item[field])
    return None


def diff(before: Any, after: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Every leaf that differs, with a path such as `ports[Ethernet0].vrf`; keyed list items are matched
    by their name, other lists compared whole."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for k in sorted(set(before) | set(after)):
            sub = f"{path}.{k}" if path else str(k)
            out.extend(diff(before.get(k, MISSING), after.get(k, MISSING), sub))
        return out
    if isinstance(before, list) and isinstance(after, list):
        keys_b = [_key(i) for i in before]
        keys_a = [_key(i) for i in after]
        if None not in keys_b and None not in keys_a:
            old = dict(zip(keys_b, before, strict=True))
            new = dict(zip(keys_a, after, strict=True))
            out = []
            for k in sorted(set(old) | set(new), key=str):
                out.extend(diff(old.get(k), new.get(k), f"{path}[{k}]"))
            return out
    if before != after:
        return [(path, before, after)]
    return []
