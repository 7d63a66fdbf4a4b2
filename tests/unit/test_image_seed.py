"""The firewall image's seed and spec (pure), and the seed's shell on a scratch root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fabric.adapters.process import run
from fabric.errors import ValidationError
from fabric.image.seed import EXAMPLE, parse_seed, seed_files
from fabric.image.seeding import SeedError, apply_seed, make_seed_disk, read_seed_text
from fabric.image.spec import firewall_spec

EXAMPLE_NICS = {"52:54:00:00:01:00": "ens3", "52:54:00:00:01:01": "ens4", "52:54:00:00:01:02": "ens5"}


def example(**changes: object) -> str:
    data = yaml.safe_load(EXAMPLE)
    for key, value in changes.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data)


def test_the_example_is_a_valid_seed() -> None:
    seed = parse_seed(EXAMPLE)
    assert seed.name == "fw01" and [p.name for p in seed.ports] == ["lan0", "lan1"]
    config = seed.daemon_config()
    assert config["api"] == {
        "url": "https://fabric-api.example:8443",
        "token_file": "/etc/fabric/firewall.token",
        "ca": "/etc/fabric/ca.pem",
    }
    assert config["kube"] == {"kubeconfig": "/etc/fabric/kubeconfig"} and config["isolation"] == "kubernetes"


def test_seed_files_are_what_the_seed_says() -> None:
    files = {f.path: f for f in seed_files(parse_seed(EXAMPLE))}
    assert files["/etc/hostname"].text == "fw01\n"
    assert files["/etc/fabric/firewall.token"].mode == 0o600
    assert files["/etc/fabric/kubeconfig"].mode == 0o600
    assert files["/etc/systemd/network/10-fabric-lan1.link"].text == (
        "[Match]\nMACAddress=52:54:00:00:01:01\n\n[Link]\nName=lan1\n"
    )
    assert files["/etc/systemd/network/20-fabric-mgmt0.network"].text == (
        "[Match]\nName=mgmt0\n\n[Network]\nAddress=192.0.2.10/24\nGateway=192.0.2.1\nIPv6AcceptRA=no\n"
    )
    assert "LinkLocalAddressing=ipv6" in files["/etc/systemd/network/20-fabric-lan0.network"].text
    assert files["/etc/chrony/sources.d/fabric-seed.sources"].text == (
        "server ntp1.example iburst\nserver ntp2.example iburst\n"
    )
    config = yaml.safe_load(files["/etc/fabric/firewall.yaml"].text)
    assert config["name"] == "fw01"


@pytest.mark.parametrize(
    ("changes", "where", "why"),
    [
        ({"kubeconfig": None}, "kubeconfig", "Field required"),
        ({"kubeconfig": "apiVersion: v1\nkind: Config\n"}, "kubeconfig", "no clusters"),
        ({"api": {"url": "https://a:1", "token": "short"}}, "api.token", "at least 16"),
        ({"api": {"url": "ftp://a", "token": "0123456789abcdef"}}, "api.url", "outside"),
        ({"ports": []}, "ports", "at least 1"),
        (
            {"ports": [{"name": "lan0", "mac": "52:54:00:00:01:02"}]},
            "seed",
            "share the mac 52:54:00:00:01:02",
        ),
        ({"ports": [{"name": "mgmt0", "mac": "52:54:00:00:01:09"}]}, "seed", "share the name mgmt0"),
        ({"ssh_authorized_keys": ["hello"]}, "ssh_authorized_keys", "not one OpenSSH public key"),
        ({"firewall": {"isolation": "open"}}, "firewall.isolation", "'boundary' or 'kubernetes'"),
        ({"firewall": {"colour": "red"}}, "firewall.colour", "Extra inputs"),
    ],
)
def test_a_bad_seed_names_the_field(changes: dict[str, object], where: str, why: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_seed(example(**changes), "seed.yaml")
    assert any(path == f"seed.yaml: {where}" and why in reason for path, reason in refused.value.problems), (
        refused.value.problems
    )


def test_not_yaml_or_not_a_mapping_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"seed\.yaml: not YAML"):
        parse_seed("a: [", "seed.yaml")
    with pytest.raises(ValidationError, match="expected a mapping"):
        parse_seed("- a", "seed.yaml")


def test_apply_writes_the_files_under_a_root(tmp_path: Path) -> None:
    written = apply_seed(parse_seed(EXAMPLE), tmp_path, present=EXAMPLE_NICS)
    assert "/etc/fabric/firewall.yaml" in written
    token = tmp_path / "etc/fabric/firewall.token"
    assert token.read_text() == "0123456789abcdef-replace-me\n" and token.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.rglob(".*.partial"))


def test_a_seed_that_does_not_fit_the_machine_writes_nothing(tmp_path: Path) -> None:
    present = {mac: name for mac, name in EXAMPLE_NICS.items() if not mac.endswith("01")}
    with pytest.raises(ValidationError) as refused:
        apply_seed(parse_seed(EXAMPLE), tmp_path, present=present)
    assert refused.value.problems[0][0] == "ports[lan1].mac"
    assert "no NIC with MAC 52:54:00:00:01:01" in refused.value.problems[0][1]
    assert list(tmp_path.iterdir()) == []


def test_a_missing_seed_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match=r"no seed: .*/absent does not exist .*labelled 'fabric-seed'"):
        read_seed_text(tmp_path / "absent")
    (tmp_path / "seed.yaml").write_text(EXAMPLE)
    assert read_seed_text(tmp_path) == EXAMPLE


@pytest.mark.needs("image")
def test_seed_disk_holds_the_seed_under_its_label(tmp_path: Path) -> None:
    disk = tmp_path / "seed.img"
    make_seed_disk(EXAMPLE, disk)
    label = run(["e2label", str(disk)], timeout=10)
    assert label.stdout.strip() == "fabric-seed"
    content = run(["debugfs", "-R", "cat seed.yaml", str(disk)], timeout=10)
    assert content.stdout == EXAMPLE
    with pytest.raises(ValidationError):
        make_seed_disk(example(kubeconfig=None), tmp_path / "bad.img")
    assert not (tmp_path / "bad.img").exists()


def test_image_keys_follow_their_inputs() -> None:
    spec = firewall_spec("[Unit]\n")
    other_unit = firewall_spec("[Unit]\nDescription=x\n")
    assert spec.base_key("sources") == other_unit.base_key("sources")  # the base has no files of ours
    assert spec.key("sources", "src") != other_unit.key("sources", "src")
    assert spec.key("sources", "src") != spec.key("sources", "src2")
    assert spec.base_key("sources") != spec.base_key("other sources")
    assert {"frr", "frr-pythontools", "nftables", "netbase", "python3-venv"} <= set(spec.packages)


def test_the_docs_show_the_example_seed() -> None:
    page = Path(__file__).parents[2] / "docs" / "firewall-image.md"
    assert f"```yaml\n{EXAMPLE}```" in page.read_text()
