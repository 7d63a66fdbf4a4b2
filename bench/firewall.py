"""Firewall benchmarks, side by side in one run (`python -m bench firewall`).

1. 20,000 LoadBalancer services + 5,000 policy CIDRs, parsed objects → applied ruleset, with the
   incremental compiler a daemon uses (`PolicyCompiler`) and the batch path the CLI uses; the whole CLI
   including YAML parsing; vs one rule with inline anonymous sets per service, measured at smaller
   scales and extrapolated (said so in the output).
2. One changed service: `PolicyCompiler.update` + element-only apply, vs recompiling everything and
   replacing the table.
3. New-connection latency through the firewall: 20,000 services vs the same table with only the service
   connected to (same chains, same conntrack), vs conntrack alone (no rules of ours) and vs no table at
   all; four identical namespace paths
   side by side, one client timing connect() alone, many short rounds in rotating order.

Wall-clock times are reported with the CPU time they used (ours: this process; nft: its child
processes), since other work on a shared machine stretches wall time but not CPU time.
Runs as root in namespaces of the test rig (inside `unshare -rn`, nft cannot enlarge its netlink buffer
and a 60,000-element batch fails with "Message too long").
"""

from __future__ import annotations

import ipaddress
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from fabric.adapters.process import run

SERVICES, CIDRS, POLICIES = 20_000, 5_000, 50
PREFIXES = ["10.244.0.0/16", "100.64.0.0/10"]
# Rounds per epoch; 32 epochs put each variant on each of the 4 paths 8 times: 51,200 timed connections
# per variant.  Short epochs, many of them: the epoch (not the round) is the independent unit.
LATENCY_EPOCHS, LATENCY_ROUNDS, LATENCY_PER_ROUND, LATENCY_WARMUP = 32, 40, 40, 5
# The fixed price of any stateful firewall, without our rules: conntrack on, every packet accepted.
CONNTRACK_ONLY = (
    "table inet fabric {\n chain forward {\n  type filter hook forward priority filter; policy accept;\n"
    "  ct state established,related accept\n }\n}\n"
)
COLD_STARTS = 5  # cold starts of part 1, each from an empty compiler and no table


def objects(services: int = SERVICES, cidrs: int = CIDRS) -> list[dict[str, Any]]:
    """LoadBalancer services (every other one with source ranges) and policies with `cidrs` ipBlocks."""
    out: list[dict[str, Any]] = []
    base = int(ipaddress.IPv4Address("100.64.0.0"))
    for i in range(services):
        spec: dict[str, Any] = {"type": "LoadBalancer", "ports": [{"port": 443}, {"port": 80}]}
        if i % 2:
            spec["loadBalancerSourceRanges"] = [f"198.18.{i % 256}.0/24", "192.0.2.0/24"]
        ip = str(ipaddress.IPv4Address(base + i))
        meta = {"name": f"svc{i}", "namespace": "bench"}
        out.append(
            {
                "kind": "Service",
                "metadata": meta,
                "spec": spec,
                "status": {"loadBalancer": {"ingress": [{"ip": ip}]}},
            }
        )
    for p in range(POLICIES):
        for k in range(2):
            ip = f"10.244.{p}.{k + 1}"
            meta = {"name": f"pod{p}-{k}", "namespace": "bench", "labels": {"app": f"a{p}"}}
            out.append({"kind": "Pod", "metadata": meta, "status": {"podIP": ip, "podIPs": [{"ip": ip}]}})
        blocks = [
            {"ipBlock": {"cidr": f"172.{16 + (p * 100 + j) // 256 % 16}.{(p * 100 + j) % 256}.0/24"}}
            for j in range(cidrs // POLICIES)
        ]
        spec = {
            "podSelector": {"matchLabels": {"app": f"a{p}"}},
            "ingress": [{"from": blocks, "ports": [{"port": 8080}]}],
        }
        out.append(
            {"kind": "NetworkPolicy", "metadata": {"name": f"pol{p}", "namespace": "bench"}, "spec": spec}
        )
    return out


class Clock:
    """Wall and CPU seconds per phase: this process's CPU, plus its children's (nft) CPU."""

    def __init__(self) -> None:
        self.phases: dict[str, dict[str, float]] = {}

    def __call__(self, name: str, work: Callable[[], Any]) -> Any:
        wall, cpu, kids = time.perf_counter(), time.process_time(), _children_cpu()
        result = work()
        self.phases[name] = {
            "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu + _children_cpu() - kids,
        }
        return result

    def total(self, key: str = "wall") -> float:
        return sum(p[key] for p in self.phases.values())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _prefixes() -> list[Any]:
    return [ipaddress.ip_network(p) for p in PREFIXES]


def _ours(docs: list[dict[str, Any]]) -> tuple[Any, Any, Clock]:
    """Cold start of the incremental compiler, applied the way `NftTable.apply` does (one nft -f)."""
    from fabric.adapters.nft import NftTable
    from fabric.core.policy.incremental import PolicyCompiler
    from fabric.firewall.pipeline import paused_gc
    from fabric.render.nft import render_ruleset

    clock, table = Clock(), NftTable()
    compiler = PolicyCompiler(_prefixes(), "boundary")
    with paused_gc():
        clock("models+compile", lambda: compiler.update(docs))
        ruleset = clock("sets", compiler.ruleset)
        text = clock("render", lambda: render_ruleset(ruleset))
    clock("nft -f", lambda: table._nft("-f", "-", script=text, phase="bench"))
    table.last = ruleset
    return compiler, table, clock


def _batch(docs: list[dict[str, Any]]) -> Clock:
    """The batch path (`fabric firewall compile`): parse all, compile all, build all; no nft."""
    from fabric.core.policy.compiler import compile_policy
    from fabric.core.policy.manifests import parse_objects
    from fabric.core.policy.ruleset import build_ruleset
    from fabric.firewall.pipeline import paused_gc

    clock = Clock()
    with paused_gc():
        cluster = clock("models", lambda: parse_objects(docs))
        compiled = clock("compile", lambda: compile_policy(cluster, _prefixes(), "boundary"))
        clock("sets", lambda: build_ruleset(compiled))
    return clock


def _inline(n: int) -> float:
    """The naive style: one rule per service with inline anonymous sets, loaded in one file."""
    lines = [
        "table inet inline {",
        " chain forward {",
        "  type filter hook forward priority filter; policy drop;",
    ]
    base = int(ipaddress.IPv4Address("100.64.0.0"))
    for i in range(n):
        src = f" ip saddr {{ 198.18.{i % 256}.0/24, 192.0.2.0/24 }}" if i % 2 else ""
        lines.append(f"  ip daddr {ipaddress.IPv4Address(base + i)} tcp dport {{ 80, 443 }}{src} accept")
    lines += [" }", "}", ""]
    start = time.perf_counter()
    result = run(["nft", "-f", "-"], input="\n".join(lines), timeout=3600)
    took = time.perf_counter() - start
    run(["nft", "delete", "table", "inet", "inline"])
    assert result.ok, result.describe()
    return took


def _changes(compiler: Any, table: Any, docs: list[dict[str, Any]], rounds: int = 21) -> list[Clock]:
    """`rounds` different one-service changes, each synced the way the daemon does (the full listing,
    unchanged manifests being the same dicts) and applied."""
    from fabric.firewall.pipeline import paused_gc

    listing, clocks = list(docs), []
    for n in range(rounds):
        index = 7 + n * 97
        svc = dict(listing[index])
        svc["spec"] = {**svc["spec"], "ports": [{"port": 443}, {"port": 10_000 + n}]}
        listing[index] = svc
        clock = Clock()
        with paused_gc():
            clock("sync", lambda: compiler.sync(listing))
            ruleset = clock("sets", compiler.ruleset)
        applied = clock("apply", lambda ruleset=ruleset: table.apply(ruleset))
        assert applied.mode == "elements", applied.mode
        clocks.append(clock)
    return clocks


def _full_reload(table: Any, docs: list[dict[str, Any]]) -> Clock:
    """The same change the way there is no cache: compile everything, replace the table."""
    from fabric.core.policy.incremental import PolicyCompiler
    from fabric.firewall.pipeline import paused_gc

    svc = dict(docs[3])
    svc["spec"] = {**svc["spec"], "ports": [{"port": 443}, {"port": 9999}]}
    clock = Clock()
    with paused_gc():
        compiler = PolicyCompiler(_prefixes(), "boundary")
        clock("compile", lambda: compiler.update([*docs[:3], svc, *docs[4:]]))
        ruleset = clock("sets", compiler.ruleset)
    table.last = None
    clock("apply", lambda: table.apply(ruleset))
    return clock


def _cli(docs: list[dict[str, Any]], suffix: str) -> Clock:
    """`fabric firewall compile` on one `kubectl get -o yaml|json`-style file, then `nft -f`."""
    clock = Clock()
    listing = {"apiVersion": "v1", "kind": "List", "items": docs}
    with tempfile.TemporaryDirectory() as tmp:
        text = json.dumps(listing) if suffix == "json" else yaml.safe_dump(listing)
        (Path(tmp) / f"all.{suffix}").write_text(text)
        fabric = str(Path(sys.executable).with_name("fabric"))
        argv = [
            fabric,
            "firewall",
            "compile",
            "-m",
            tmp,
            *[a for p in PREFIXES for a in ("--cluster-prefix", p)],
        ]
        compiled = clock("fabric firewall compile", lambda: run([*argv, "-o", f"{tmp}/r.nft"], timeout=600))
        loaded = clock("nft -f", lambda: run(["nft", "-f", f"{tmp}/r.nft"], timeout=600))
        assert compiled.ok and loaded.ok, compiled.describe() + loaded.describe()
    return clock


def inner() -> None:
    """Parts 1 and 2, inside a fresh namespace (prints JSON)."""
    docs = objects()
    runs = []
    for n in range(COLD_STARTS):
        compiler, table, ours = _ours(docs)
        runs.append(ours.phases)
        if n < COLD_STARTS - 1:
            table.remove()
    out: dict[str, Any] = {"ours": runs, "elements": table.last.elements}
    out["batch"] = _batch(docs).phases
    out["changes"] = [c.phases for c in _changes(compiler, table, docs)]
    out["full_reload"] = _full_reload(table, docs).phases
    table.remove()
    out["inline"] = {n: _inline(n) for n in (250, 500, 1000, 2000)}
    out["cli"] = _cli(docs, "yaml").phases
    out["cli_json"] = _cli(docs, "json").phases
    print(json.dumps(out))


def _phases(phases: dict[str, dict[str, float]]) -> str:
    wall = sum(p["wall"] for p in phases.values())
    cpu = sum(p["cpu"] for p in phases.values())
    parts = ", ".join(f"{k} {v['wall']:.2f}/{v['cpu']:.2f}" for k, v in phases.items())
    return f"{wall:.2f} s wall / {cpu:.2f} s CPU ({parts})"


def report(data: dict[str, Any]) -> None:
    """Print parts 1 and 2 (times as wall/CPU seconds)."""
    runs = sorted(data["ours"], key=lambda r: sum(p["wall"] for p in r.values()))
    ours = runs[len(runs) // 2]
    print(f"20,000 LB services + 5,000 policy CIDRs -> {data['elements']} set elements (wall/CPU s)")
    print(
        f"  ours, parsed objects -> applied (PolicyCompiler), median of {len(runs)} cold starts: "
        f"{_phases(ours)}"
    )
    walls = [sum(p["wall"] for p in r.values()) for r in runs]
    cpus = sorted(sum(p["cpu"] for p in r.values()) for r in runs)
    print(
        f"    all {len(runs)}: wall {' '.join(f'{w:.2f}' for w in walls)} s; "
        f"CPU {cpus[0]:.2f}..{cpus[-1]:.2f} s (target 1 s; wall above CPU: other work shared the cores)"
    )
    print(f"  batch path (CLI's parse/compile/sets, no nft): {_phases(data['batch'])}")
    print(f"  whole CLI incl. YAML parsing (libyaml), then nft -f: {_phases(data['cli'])}")
    print(f"  whole CLI, the same objects as JSON (kubectl -o json): {_phases(data['cli_json'])}")
    inline = {int(k): v for k, v in data["inline"].items()}
    for n, v in sorted(inline.items()):
        print(f"  inline sets per service, {n} services: {v:.2f} s")
    (n1, t1), (n2, t2) = sorted(inline.items())[-2:]
    linear = t2 + (t2 - t1) / (n2 - n1) * (SERVICES - n2)
    quadratic = t2 * (SERVICES / n2) ** 2
    total = sum(p["wall"] for p in ours.values())
    print(f"  inline sets, 20,000 services: EXTRAPOLATED from {n2} (grew {t2 / t1:.1f}x for {n2 / n1:.0f}x):")
    print(f"    ~{linear:.0f} s if linear, ~{quadratic:.0f} s if quadratic")
    print(
        f"  ratio inline/ours at 20,000 services: {linear / total:.0f}x (linear) .. {quadratic / total:.0f}x"
    )
    walls = sorted(sum(p["wall"] for p in c.values()) for c in data["changes"])
    cpus = sorted(sum(p["cpu"] for p in c.values()) for c in data["changes"])
    median = statistics.median(walls)
    print(
        f"one changed service, {len(walls)} different changes: sync + sets + element-only apply "
        f"median {median * 1000:.0f} ms wall / {statistics.median(cpus) * 1000:.0f} ms CPU "
        f"(max {walls[-1] * 1000:.0f} ms); e.g. {_phases(data['changes'][len(walls) // 2])}"
    )
    full = sum(p["wall"] for p in data["full_reload"].values())
    print(
        f"  vs compile everything + replace the table: {_phases(data['full_reload'])}: {full / median:.0f}x"
    )


def _path(rig: Any, variant: str) -> Any:
    """client -- firewall -- server namespaces for one variant, the same addresses and routes in each."""
    from lab.rig import veth

    out, fw, srv = rig.netns(f"lc{variant}"), rig.netns(f"lf{variant}"), rig.netns(f"ls{variant}")
    veth(out, "eth0", fw, "ext0")
    veth(srv, "eth0", fw, "int0")
    for ns, dev, addr in (
        (out, "eth0", "100.127.0.2/30"),
        (fw, "ext0", "100.127.0.1/30"),
        (srv, "eth0", "100.127.1.2/30"),
        (fw, "int0", "100.127.1.1/30"),
    ):
        ns.ip("addr", "add", addr, "dev", dev)
    out.ip("route", "add", "default", "via", "100.127.0.1")
    srv.ip("route", "add", "default", "via", "100.127.1.1")
    fw.ip("route", "add", "100.64.0.0/16", "via", "100.127.1.2")
    fw.ip("route", "add", "192.0.2.9/32", "via", "100.127.0.2")
    out.ip("addr", "add", "192.0.2.9/32", "dev", "lo")
    srv.ip("addr", "add", "100.64.0.6/32", "dev", "lo")  # svc6: open to everyone on 443
    return out, fw, srv


def latency() -> None:
    """Part 3 (root): connect latency through a forwarding namespace, four variants side by side on
    four identical namespace paths; the variants rotate over the paths epoch by epoch (tables
    reloaded in between), so a path's own bias (server placement, hash luck) cancels out instead of
    favouring one variant, and the spread between epochs shows what a reload changes."""
    from bench import _latency
    from fabric.adapters.nft import NftTable
    from fabric.core.policy.incremental import PolicyCompiler
    from lab.rig import Rig, wait_until

    docs = objects()
    rulesets: dict[str, Any] = {}
    for variant, subset in (("20k", docs), ("1", [docs[6]])):
        compiler = PolicyCompiler(_prefixes(), "boundary")
        compiler.update(subset)
        rulesets[variant] = compiler.ruleset()
    rulesets["conntrack"] = CONNTRACK_ONLY
    rulesets["none"] = None
    variants = list(rulesets)
    rounds: dict[str, list[list[int]]] = {v: [] for v in variants}
    with Rig() as rig:
        paths = []
        for n in range(len(variants)):
            out, fw, srv = _path(rig, f"p{n}")
            log = rig.tempdir(f"lat{n}") / "server.log"
            srv.start([sys.executable, "-c", _latency.SERVER], what=f"latency-server-{n}", log_path=log)
            wait_until(lambda log=log: log.exists() and "ready" in log.read_text(), timeout=10)
            paths.append((str(out.path), NftTable(prefix=["ip", "netns", "exec", fw.name])))
        for epoch in range(LATENCY_EPOCHS):
            spaces = {}
            for i, variant in enumerate(variants):
                space, table = paths[(i + epoch) % len(paths)]
                spaces[variant] = space
                table.remove()
                if isinstance(rulesets[variant], str):
                    loaded = run([*table.argv, "-f", "-"], input=rulesets[variant])
                    assert loaded.ok, loaded.describe()
                elif rulesets[variant] is not None:
                    table.apply(rulesets[variant])
            cfg = {
                "netns": spaces,
                "src": "192.0.2.9",
                "dst": "100.64.0.6",
                "port": 443,
                "rounds": LATENCY_ROUNDS,
                "per_round": LATENCY_PER_ROUND,
                "warmup": LATENCY_WARMUP,
            }
            res = run([sys.executable, "-c", _latency.CLIENT], input=json.dumps(cfg), timeout=600)
            assert res.ok, res.describe()
            for variant, got in json.loads(res.stdout).items():
                rounds[variant] += got
    print(
        f"new-connection latency (connect() alone: SYN -> SYN-ACK through a forwarding firewall namespace), "
        f"{LATENCY_EPOCHS} epochs x {LATENCY_ROUNDS} rounds x {LATENCY_PER_ROUND} connections per variant, "
        f"each round after {LATENCY_WARMUP} discarded warm-up connections; variants in rotating order per "
        f"round; one client process per epoch times all {len(variants)}; {len(variants)} identical "
        f"client/firewall/server "
        f"namespace paths side by side, the variants rotate over the paths epoch by epoch "
        f"({LATENCY_EPOCHS // len(variants)} epochs on each)"
    )
    labels = {
        "20k": "20,000 services",
        "1": "same table, 1 service",
        "conntrack": "conntrack only (no rules of ours)",
        "none": "no table (no conntrack)",
    }
    for line in _latency.describe(rounds, labels, ("1", "conntrack", "none"), LATENCY_ROUNDS):
        print(line)
    print(
        "  baselines: 'same table, 1 service' has the same chains, sets and conntrack, only one element per "
        "set (the fair baseline for 'does size cost per packet'); 'conntrack only' is one forward chain "
        "accepting everything with connection tracking on (what any stateful firewall pays before its "
        "first rule); 'no table' is the issue's empty ruleset: no hooks, no conntrack at all"
    )


def main() -> None:
    """Parts 1-2 in a fresh namespace, then part 3."""
    if os.environ.get("FABRIC_BENCH_INNER") == "1":
        inner()
        return
    if os.geteuid() != 0:
        print("bench firewall needs root (network namespaces; nft's large batches need real CAP_NET_ADMIN)")
        return
    from lab.rig import Rig

    env = {**os.environ, "FABRIC_BENCH_INNER": "1"}
    with Rig() as rig:
        res = rig.netns("bload").exec([sys.executable, "-m", "bench", "firewall"], env=env, timeout=3600)
    if not res.ok:
        print(res.describe())
        return
    report(json.loads(res.stdout.strip().splitlines()[-1]))
    latency()
