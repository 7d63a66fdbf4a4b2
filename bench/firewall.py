"""Firewall benchmarks, side by side in one run (`python -m bench firewall`).

1. 20,000 LoadBalancer services + 5,000 policy CIDRs: parsed objects → applied ruleset (ours: sets),
   and the whole CLI including YAML parsing; vs one rule with inline anonymous sets per service,
   measured at smaller scales and extrapolated linearly (said so in the output).
2. One changed service: recompute + element-only apply.
3. New-connection latency through the firewall: 20,000 services vs no ruleset, interleaved rounds.

Runs as root in namespaces of the test rig (inside `unshare -rn`, nft cannot enlarge its netlink buffer
and a 60,000-element batch fails with "Message too long").
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from fabric.adapters.process import run

SERVICES, CIDRS, POLICIES = 20_000, 5_000, 50
PREFIXES = ["10.244.0.0/16", "100.64.0.0/10"]
LATENCY_ROUNDS, LATENCY_PER_ROUND = 5, 50


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


def _ours(docs: list[dict[str, Any]]) -> tuple[Any, dict[str, float]]:
    from fabric.adapters.nft import NftTable
    from fabric.core.policy.compiler import compile_policy
    from fabric.core.policy.manifests import parse_objects
    from fabric.core.policy.ruleset import build_ruleset
    from fabric.render.nft import render_ruleset

    t: dict[str, float] = {}
    start = time.perf_counter()
    cluster = parse_objects(docs)
    t["models"] = time.perf_counter() - start
    compiled = compile_policy(cluster, [ipaddress.ip_network(p) for p in PREFIXES], "boundary")
    t["compile"] = time.perf_counter() - start - sum(t.values())
    ruleset = build_ruleset(compiled)
    t["sets"] = time.perf_counter() - start - sum(t.values())
    text = render_ruleset(ruleset)
    t["render"] = time.perf_counter() - start - sum(t.values())
    table = NftTable()
    table._nft("-f", "-", script=text, phase="bench")  # the load alone (apply() would also nft -c)
    t["nft -f"] = time.perf_counter() - start - sum(t.values())
    table.last = ruleset
    return (table, ruleset, compiled), t


def _inline(n: int) -> float:
    """The anchor style: one rule per service with inline anonymous sets, loaded in one file."""
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


def _one_change(state: Any, docs: list[dict[str, Any]]) -> float:
    from fabric.core.policy.compiler import compile_policy
    from fabric.core.policy.manifests import parse_objects
    from fabric.core.policy.ruleset import build_ruleset

    table, _, _ = state
    changed = [dict(d) for d in docs]
    svc = dict(changed[7])
    svc["spec"] = {**svc["spec"], "ports": [{"port": 443}, {"port": 8443}]}
    changed[7] = svc
    start = time.perf_counter()
    compiled = compile_policy(parse_objects(changed), [ipaddress.ip_network(p) for p in PREFIXES], "boundary")
    applied = table.apply(build_ruleset(compiled))
    took = time.perf_counter() - start
    assert applied.mode == "elements", applied.mode
    return took


def _one_change_incremental(state: Any) -> float:
    """The apply alone for one changed service (what a daemon with cached compiled objects would pay)."""
    table, _, _ = state
    sets = tuple(
        dataclasses.replace(
            s, elements=(*s.elements, ("100.127.255.1 . 6 . 443 . 0.0.0.0/0", "bench/new (Service)"))
        )
        if s.name == "allow_in4"
        else s
        for s in table.last.sets
    )
    start = time.perf_counter()
    applied = table.apply(dataclasses.replace(table.last, sets=sets))
    assert applied.mode == "elements"
    return time.perf_counter() - start


def inner() -> None:
    """Parts 1 and 2, inside a fresh namespace (prints JSON)."""
    docs = objects()
    state, ours = _ours(docs)
    out: dict[str, Any] = {"ours": ours, "elements": state[1].elements}
    out["change_full_recompute"] = _one_change(state, docs)
    out["change_apply_only"] = _one_change_incremental(state)
    out["inline"] = {n: _inline(n) for n in (250, 500, 1000)}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "all.yaml").write_text(
            yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": docs})
        )
        fabric = str(Path(sys.executable).with_name("fabric"))
        start = time.perf_counter()
        compiled = run(
            [
                fabric,
                "firewall",
                "compile",
                "-m",
                tmp,
                *[arg for p in PREFIXES for arg in ("--cluster-prefix", p)],
                "-o",
                f"{tmp}/r.nft",
            ],
            timeout=600,
        )
        loaded = run(["nft", "-f", f"{tmp}/r.nft"], timeout=600)
        out["cli"] = time.perf_counter() - start
        assert compiled.ok and loaded.ok, compiled.describe() + loaded.describe()
    print(json.dumps(out))


def report(data: dict[str, Any]) -> None:
    ours = data["ours"]
    total = sum(ours.values())
    print(f"20,000 LB services + 5,000 policy CIDRs -> {data['elements']} set elements")
    print(
        f"  ours, parsed objects -> applied: {total:.2f} s ("
        + ", ".join(f"{k} {v:.2f}" for k, v in ours.items())
        + ")"
    )
    print(f"  ours, whole CLI incl. YAML parsing + nft -f: {data['cli']:.2f} s")
    inline = {int(k): v for k, v in data["inline"].items()}
    for n, v in sorted(inline.items()):
        print(f"  inline sets per service, {n} services: {v:.2f} s")
    (n1, t1), (n2, t2) = sorted(inline.items())[-2:]
    linear = t2 + (t2 - t1) / (n2 - n1) * (SERVICES - n2)
    quadratic = t2 * (SERVICES / n2) ** 2
    print(f"  inline sets, 20,000 services: EXTRAPOLATED from {n2} (grew {t2 / t1:.1f}x for {n2 / n1:.0f}x):")
    print(f"    ~{linear:.0f} s if linear, ~{quadratic:.0f} s if quadratic")
    print(
        f"  ratio inline/ours at 20,000 services: {linear / total:.1f}x (linear) .. "
        f"{quadratic / total:.0f}x (quadratic)"
    )
    print(
        "one changed service: recompute everything + element-only apply "
        f"{data['change_full_recompute'] * 1000:.0f} ms; element-only apply alone "
        f"{data['change_apply_only'] * 1000:.0f} ms"
    )


LATENCY_CLIENT = """
import socket, sys, time, json
out = []
for _ in range(int(sys.argv[3])):
    s = socket.socket(); s.bind((sys.argv[1], 0)); t = time.perf_counter()
    s.connect((sys.argv[2], 443)); s.recv(8); out.append(time.perf_counter() - t); s.close()
print(json.dumps(out))
"""

LATENCY_SERVER = """
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 443))
s.listen(512)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"hi"); c.close()
"""


def latency() -> None:
    """Part 3 (root): connect latency through a forwarding namespace, 20k services vs no table."""
    from fabric.adapters.nft import NftTable
    from lab.rig import Rig, veth, wait_until

    _, (_, ruleset, _) = None, _build_only()
    with Rig() as rig:
        out, fw, cl = rig.netns("bout"), rig.netns("bfw"), rig.netns("bcl")
        veth(out, "eth0", fw, "ext0")
        veth(cl, "eth0", fw, "int0")
        for ns, dev, addr in (
            (out, "eth0", "100.127.0.2/30"),
            (fw, "ext0", "100.127.0.1/30"),
            (cl, "eth0", "100.127.1.2/30"),
            (fw, "int0", "100.127.1.1/30"),
        ):
            ns.ip("addr", "add", addr, "dev", dev)
        out.ip("route", "add", "default", "via", "100.127.0.1")
        cl.ip("route", "add", "default", "via", "100.127.1.1")
        fw.ip("route", "add", "100.64.0.0/16", "via", "100.127.1.2")
        fw.ip("route", "add", "192.0.2.9/32", "via", "100.127.0.2")
        out.ip("addr", "add", "192.0.2.9/32", "dev", "lo")
        cl.ip("addr", "add", "100.64.0.6/32", "dev", "lo")  # svc6: open to everyone on 443
        log = rig.tempdir("lat") / "server.log"
        cl.start([sys.executable, "-c", LATENCY_SERVER], what="latency-server", log_path=log)
        wait_until(lambda: "ready" in log.read_text() if log.exists() else False, timeout=10)
        table = NftTable(prefix=["ip", "netns", "exec", fw.name])
        samples: dict[str, list[float]] = {"empty": [], "20k": []}
        for _ in range(LATENCY_ROUNDS):
            for variant in ("empty", "20k"):
                if variant == "empty":
                    table.remove()
                else:
                    table.apply(ruleset)
                res = out.exec(
                    [sys.executable, "-c", LATENCY_CLIENT, "192.0.2.9", "100.64.0.6", str(LATENCY_PER_ROUND)],
                    timeout=120,
                )
                assert res.ok, res.describe()
                samples[variant] += json.loads(res.stdout)
    med = {k: statistics.median(v) * 1e6 for k, v in samples.items()}
    p90 = {k: statistics.quantiles(v, n=10)[-1] * 1e6 for k, v in samples.items()}
    print(
        f"new-connection latency, {len(samples['empty'])} connections each, "
        f"interleaved in {LATENCY_ROUNDS} rounds:"
    )
    print(f"  no ruleset: median {med['empty']:.0f} us, p90 {p90['empty']:.0f} us")
    print(
        f"  20,000 services: median {med['20k']:.0f} us, p90 {p90['20k']:.0f} us "
        f"(median ratio {med['20k'] / med['empty']:.2f})"
    )


def _build_only() -> tuple[Any, Any, Any]:
    from fabric.core.policy.compiler import compile_policy
    from fabric.core.policy.manifests import parse_objects
    from fabric.core.policy.ruleset import build_ruleset

    compiled = compile_policy(
        parse_objects(objects()), [ipaddress.ip_network(p) for p in PREFIXES], "boundary"
    )
    return None, build_ruleset(compiled), compiled


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
