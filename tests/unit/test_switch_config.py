"""Switch daemon configuration: YAML + FABRIC_SWITCH_* overrides, database_config.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fabric.adapters.sonicdb import DbLayout, load_database_config, parse_database_config
from fabric.errors import ValidationError
from fabric.switch.config import env_overrides, load_config

EXAMPLE = Path(__file__).parents[2] / "templates" / "switch.example.yaml"

SONIC_DB = {
    "INSTANCES": {"redis": {"hostname": "127.0.0.1", "port": 6379, "unix_socket_path": "/run/redis.sock"}},
    "DATABASES": {
        "APPL_DB": {"id": 0, "separator": ":", "instance": "redis"},
        "CONFIG_DB": {"id": 4, "separator": "|", "instance": "redis"},
        "STATE_DB": {"id": 6, "separator": "|", "instance": "redis"},
    },
    "VERSION": "1.0",
}


def test_example_file_loads() -> None:
    cfg = load_config(EXAMPLE, env={})
    assert cfg.name == "leaf01"
    assert cfg.frr.exec_prefix == ["docker", "exec", "-i", "bgp"]


def test_env_overrides_nested_fields(tmp_path: Path) -> None:
    path = tmp_path / "switch.yaml"
    path.write_text("name: leaf01\nguard: {max_port_share: 0.25}\n")
    env = {
        "FABRIC_SWITCH_NAME": "leaf02",
        "FABRIC_SWITCH_GUARD__MAX_PORT_SHARE": "0.5",
        "FABRIC_SWITCH_FRR__EXEC_PREFIX": "[docker, exec, -i, bgp]",
        "FABRIC_SWITCH_CONFIG": "ignored: names the file itself",
        "OTHER": "x",
    }
    cfg = load_config(path, env=env)
    assert (cfg.name, cfg.guard.max_port_share) == ("leaf02", 0.5)
    assert cfg.frr.exec_prefix == ["docker", "exec", "-i", "bgp"]


def test_env_overrides_shape() -> None:
    assert env_overrides({"FABRIC_SWITCH_SONIC__STATE_DB": "6"}) == {"sonic": {"state_db": 6}}


def test_bad_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "switch.yaml"
    path.write_text("name: leaf01\nguard: {max_port_share: 2}\nfrr: {vrf_backend: vrfs}\n")
    with pytest.raises(ValidationError) as err:
        load_config(path, env={})
    paths = [p for p, _ in err.value.problems]
    assert any("guard.max_port_share" in p for p in paths)
    assert any("frr.vrf_backend" in p for p in paths)


def test_unknown_key_refused(tmp_path: Path) -> None:
    path = tmp_path / "switch.yaml"
    path.write_text("name: leaf01\nresync_perod: 10\n")
    with pytest.raises(ValidationError, match="resync_perod"):
        load_config(path, env={})


def test_database_config_parsed(tmp_path: Path) -> None:
    path = tmp_path / "database_config.json"
    path.write_text(json.dumps(SONIC_DB))
    layout = load_database_config(path)
    assert (layout.config.id, layout.config.separator, layout.config.unix_socket) == (
        4,
        "|",
        "/run/redis.sock",
    )
    assert (layout.appl.id, layout.appl.separator) == (0, ":")
    assert (layout.state.id, layout.state.separator) == (6, "|")


def test_database_config_errors_name_the_database() -> None:
    broken = json.loads(json.dumps(SONIC_DB))
    broken["DATABASES"]["STATE_DB"]["instance"] = "redis2"
    with pytest.raises(ValidationError, match=r"DATABASES.STATE_DB.*redis2"):
        parse_database_config(broken)
    del broken["DATABASES"]["CONFIG_DB"]
    with pytest.raises(ValidationError, match=r"DATABASES.CONFIG_DB"):
        parse_database_config(broken)


def test_layout_on_socket_uses_sonic_separators() -> None:
    layout = DbLayout.on_socket("/tmp/r.sock")
    assert [(d.id, d.separator) for d in (layout.config, layout.appl, layout.state)] == [
        (4, "|"),
        (0, ":"),
        (6, "|"),
    ]


def test_netns_vrfs_always_needs_the_netns_backend(tmp_path: Path) -> None:
    path = tmp_path / "switch.yaml"
    path.write_text("name: leaf01\nfrr: {netns_vrfs_always: [Vrf100000]}\n")
    with pytest.raises(ValidationError) as err:
        load_config(path, env={})
    assert any("frr" in p and "netns_vrfs_always" in why for p, why in err.value.problems)
    path.write_text("name: leaf01\nfrr: {vrf_backend: netns, netns_vrfs_always: [Vrf100000, Vrf100001]}\n")
    assert load_config(path, env={}).frr.netns_vrfs_always == ["Vrf100000", "Vrf100001"]
