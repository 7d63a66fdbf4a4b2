"""Manifest files: `.json` read as JSON gives exactly what reading it as YAML gives."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from fabric.firewall.manifests import load_manifests
from tests.unit.policy_helpers import lb, pod, policy

OBJECTS = [
    lb("web", ["203.0.113.10", "2001:db8:ffff::10"], [{"port": 443, "protocol": "UDP"}], ["192.0.2.0/25"]),
    pod("db", ["10.244.1.20"], {"app": "db"}, pg=(5432, "TCP")),
    policy("p", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}]}),
    lb("bad", ["203.0.113.11"], [{"port": 0}]),
]


def test_json_and_yaml_read_the_same(tmp_path: Path) -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": OBJECTS}
    (tmp_path / "a.json").write_text(json.dumps(listing, indent=1))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(listing))
    from_json, from_yaml = load_manifests([tmp_path / "a.json"]), load_manifests([tmp_path / "b.yaml"])
    assert from_json == from_yaml
    assert len(from_json.services) == 1 and from_json.rejected[0].object == "Service/app/bad"


def test_a_json_file_that_is_really_yaml_still_loads(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(yaml.safe_dump(OBJECTS[0]))
    assert [s.name for s in load_manifests([tmp_path / "c.json"]).services] == ["web"]
