"""The firewall daemon's parse step after one changed Service, 20,000 services + 5,000 policy CIDRs:
the daemon's parse cache (objects re-parsed only when their resourceVersion changed) beside parsing every
object again (what a stateless sync does), interleaved, medians of 5 rounds each."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.firewall import objects
from fabric.core.policy.manifests import parse_objects
from fabric.firewall.sync import ParseCache

ROUNDS = 5


def _versioned() -> list[dict[str, Any]]:
    out = objects()
    for i, obj in enumerate(out):
        obj["metadata"] = {**obj["metadata"], "resourceVersion": str(i + 1)}
    return out


def main() -> None:
    docs = _versioned()
    cache = ParseCache()
    cache.cluster(docs)
    cached: list[float] = []
    naive: list[float] = []
    for r in range(ROUNDS):
        # One Service changes (a new port and resourceVersion), as a watch event would bring it.
        changed = dict(docs[r])
        changed["metadata"] = {**changed["metadata"], "resourceVersion": f"x{r}"}
        changed["spec"] = {**changed["spec"], "ports": [{"port": 8443 + r}]}
        docs[r] = changed
        start = time.perf_counter()
        cache.cluster(docs)
        cached.append(time.perf_counter() - start)
        start = time.perf_counter()
        parse_objects(docs)
        naive.append(time.perf_counter() - start)
    ours, theirs = statistics.median(cached), statistics.median(naive)
    print(f"objects: {len(docs)}")
    print(f"parse after one change, parse cache (median): {ours * 1000:.0f} ms")
    print(f"parse after one change, every object again (median): {theirs * 1000:.0f} ms")
    print(f"ratio: {theirs / ours:.1f}x faster")


if __name__ == "__main__":
    main()
