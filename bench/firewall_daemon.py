"""The firewall daemon's compile step after one changed Service, 20,000 services + 5,000 policy CIDRs:
the daemon's incremental compiler (`PolicyCompiler.sync`: unchanged manifests cost one comparison, the
changed one is re-parsed and recompiled, only its own set elements are re-formatted) beside parsing,
compiling and building every set again (what a stateless sync does), interleaved, medians of 5 rounds."""

from __future__ import annotations

import ipaddress
import statistics
import time
from typing import Any

from bench.firewall import PREFIXES, objects
from fabric.core.policy.compiler import compile_policy
from fabric.core.policy.incremental import PolicyCompiler
from fabric.core.policy.manifests import parse_objects
from fabric.core.policy.ruleset import build_ruleset
from fabric.firewall.pipeline import paused_gc

ROUNDS = 5


def _versioned() -> list[dict[str, Any]]:
    out = objects()
    for i, obj in enumerate(out):
        obj["metadata"] = {**obj["metadata"], "resourceVersion": str(i + 1)}
    return out


def main() -> None:
    """Print both medians and their ratio."""
    docs, prefixes = _versioned(), [ipaddress.ip_network(p) for p in PREFIXES]
    compiler = PolicyCompiler(prefixes, "boundary")
    with paused_gc():
        compiler.sync(docs)
        compiler.ruleset()
    cached: list[float] = []
    naive: list[float] = []
    for r in range(ROUNDS):
        # One Service changes (a new port and resourceVersion), as a watch event would bring it.
        changed = dict(docs[r])
        changed["metadata"] = {**changed["metadata"], "resourceVersion": f"x{r}"}
        changed["spec"] = {**changed["spec"], "ports": [{"port": 8443 + r}]}
        docs[r] = changed
        with paused_gc():
            start = time.perf_counter()
            compiler.sync(docs)
            incremental = compiler.ruleset()
            cached.append(time.perf_counter() - start)
            start = time.perf_counter()
            everything = build_ruleset(compile_policy(parse_objects(docs), prefixes, "boundary"))
            naive.append(time.perf_counter() - start)
        assert incremental == everything
    ours, theirs = statistics.median(cached), statistics.median(naive)
    print(f"objects: {len(docs)}")
    print(f"compile + sets after one change, incremental (median): {ours * 1000:.0f} ms")
    print(f"compile + sets after one change, everything again (median): {theirs * 1000:.0f} ms")
    print(f"ratio: {theirs / ours:.1f}x faster")


if __name__ == "__main__":
    main()
