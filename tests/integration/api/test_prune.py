"""`fabric apply --prune` and `--dry-run` over real HTTP on both engines, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Server, fabric

PARTITION = """
  - name: prn
    vni_range: {first: 300000, last: 300999}
    machine_asn_range: {first: 4240000000, last: 4240000999}
    switch_asn_range: {first: 4250000000, last: 4250000999}
    loopback_prefix: 10.19.0.0/24
"""
FULL = f"""
partitions:{PARTITION}
projects: [{{name: pra}}, {{name: prb}}]
networks:
  - {{name: pr-super, partition: prn, kind: super, prefixes: [10.80.0.0/16], child_lengths: {{"4": 24}}}}
  - {{name: pra-net, partition: prn, kind: private, parent: pr-super, project: pra}}
  - {{name: prb-net, partition: prn, kind: private, parent: pr-super, project: prb}}
  - {{name: pr-ext, partition: prn, kind: external, prefixes: [198.18.10.0/24]}}
switches:
  - {{name: pr-leaf1, partition: prn, rack: r1, role: leaf}}
  - {{name: pr-leaf2, partition: prn, rack: r1, role: leaf}}
machines:
  - {{name: pr-m1, partition: prn, rack: r1, nics: [{{name: lan0, mac: "cc:00:00:00:00:01"}}]}}
  - {{name: pr-m2, partition: prn, rack: r1, nics: [{{name: lan0, mac: "cc:00:00:00:00:02"}}]}}
"""
# pr-ext, pra-net, prb-net, pr-leaf2, pr-m2 and project prb (owning only prb-net) are gone;
# the super network and the rest stay.
SMALLER = f"""
partitions:{PARTITION}
projects: [{{name: pra}}]
networks:
  - {{name: pr-super, partition: prn, kind: super, prefixes: [10.80.0.0/16], child_lengths: {{"4": 24}}}}
switches:
  - {{name: pr-leaf1, partition: prn, rack: r1, role: leaf}}
machines:
  - {{name: pr-m1, partition: prn, rack: r1, nics: [{{name: lan0, mac: "cc:00:00:00:00:01"}}]}}
"""
ELSEWHERE = """
partitions:
  - name: prx
    vni_range: {first: 310000, last: 310999}
    machine_asn_range: {first: 4260000000, last: 4260000999}
    switch_asn_range: {first: 4270000000, last: 4270000999}
    loopback_prefix: 10.29.0.0/24
projects: [{name: prc}]
networks:
  - {name: prx-ext, partition: prx, kind: external, prefixes: [198.18.20.0/24]}
"""


def names(server: Server, resource: str) -> set[str]:
    listed = fabric(server, "api", "list", resource, "-o", "json")
    assert listed.ok, listed.describe()
    return {row["name"] for row in json.loads(listed.stdout)}


def test_prune_deletes_what_the_file_dropped_in_its_scope_or_nothing(server: Server, tmp_path: Path) -> None:
    spec = tmp_path / "fabric.yaml"
    other = tmp_path / "elsewhere.yaml"
    other.write_text(ELSEWHERE)
    assert fabric(server, "apply", "-f", str(other)).ok
    spec.write_text(FULL)
    assert fabric(server, "apply", "-f", str(spec)).ok
    ip = fabric(server, "api", "create", "ip", "network=pr-ext", "-o", "json")
    address = json.loads(ip.stdout)["address"]
    before = (names(server, "networks"), names(server, "machines"), names(server, "switches"))

    spec.write_text(SMALLER)
    kept = fabric(server, "apply", "-f", str(spec))  # without --prune nothing is deleted
    assert kept.ok and "deleted" not in kept.stdout, kept.describe()

    # The external network still holds an IP: refused whole, naming the blocker; nothing deleted.
    refused = fabric(server, "apply", "-f", str(spec), "--prune")
    assert refused.rc == 1, refused.describe()
    assert "prune.networks/pr-ext: prune refused" in refused.stderr
    assert f"network pr-ext cannot be deleted: it still has IPs: {address}" in refused.stderr
    assert "nothing was applied" in refused.stderr
    assert (names(server, "networks"), names(server, "machines"), names(server, "switches")) == before

    assert fabric(server, "api", "release", address).ok
    dry = fabric(server, "apply", "-f", str(spec), "--prune", "--dry-run")
    assert dry.ok, dry.describe()
    for line in (
        "machines/pr-m2: would delete",
        "switches/pr-leaf2: would delete",
        "networks/pra-net: would delete",
        "networks/prb-net: would delete",
        "networks/pr-ext: would delete",
        "projects/prb: would delete",
        "networks/pr-super: unchanged",
        "dry run: nothing was written",
    ):
        assert line in dry.stdout, (line, dry.stdout)
    # Other partitions are out of scope; a project owning nothing is never pruned.
    assert "prx" not in dry.stdout and "prc" not in dry.stdout
    assert "projects/pra: would delete" not in dry.stdout  # named by the file
    assert (names(server, "networks"), names(server, "machines"), names(server, "switches")) == before

    done = fabric(server, "apply", "-f", str(spec), "--prune")
    assert done.ok, done.describe()
    order = [line.split(":")[0] for line in done.stdout.splitlines() if line.endswith(": deleted")]
    # Users before what they use: machines, switches, the child network, networks, projects.
    assert order == [
        "machines/pr-m2",
        "switches/pr-leaf2",
        "networks/pra-net",
        "networks/prb-net",
        "networks/pr-ext",
        "projects/prb",
    ], done.stdout
    assert "pr-m2" not in names(server, "machines") and "pr-leaf2" not in names(server, "switches")
    nets = names(server, "networks")
    assert "pr-ext" not in nets and "pra-net" not in nets and {"pr-super", "prx-ext"} <= nets
    assert {"pra", "prc"} <= names(server, "projects") and "prb" not in names(server, "projects")
    audit = json.loads(fabric(server, "api", "audit", "--target", "pr-m2", "-o", "json").stdout)
    assert any(a["action"] == "machine.delete" for a in audit)
    again = fabric(server, "apply", "-f", str(spec), "--prune")
    assert again.ok and "deleted" not in again.stdout, again.describe()
