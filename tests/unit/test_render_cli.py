"""`fabric render switch|machine` run as a user would (the console script)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from fabric.adapters.process import run

GOLDEN = Path(__file__).parents[1] / "golden"
FABRIC = shutil.which("fabric", path=str(Path(sys.executable).parent)) or "fabric"


def test_switch_writes_the_golden_outputs_and_prints_the_plan_as_json(tmp_path: Path) -> None:
    case = GOLDEN / "leaf_vrf_one"
    argv = [FABRIC, "render", "switch", "--state", str(case / "switch.json")]
    result = run(
        [*argv, "--observed", str(GOLDEN / "base_config.json"), "--out", str(tmp_path), "-o", "json"]
    )
    assert result.ok, result.describe()
    assert (tmp_path / "frr.conf").read_text() == (case / "frr.conf").read_text()
    assert (tmp_path / "config_db.json").read_text() == (case / "config_db.json").read_text()
    assert json.loads(result.stdout) == json.loads((case / "plan.json").read_text())


def test_switch_plan_table(tmp_path: Path) -> None:
    state = GOLDEN / "leaf_vrf_one" / "switch.json"
    result = run([FABRIC, "render", "switch", "--state", str(state), "--out", str(tmp_path)])
    assert result.ok, result.describe()
    assert "VXLAN_TUNNEL_MAP|vtep|map_100010_Vlan1001" in result.stdout
    assert "STATE_DB VRF_TABLE|Vrf100010" in result.stdout


def test_inconsistent_document_is_refused_with_its_path_and_nothing_written(tmp_path: Path) -> None:
    data = json.loads((GOLDEN / "leaf_vrf_one" / "switch.json").read_text())
    data["ports"][2]["vrf"] = "Vrf100099"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    out = tmp_path / "out"
    result = run([FABRIC, "render", "switch", "--state", str(bad), "--out", str(out)])
    assert result.rc == 1
    assert "ports[Ethernet0].vrf: VRF Vrf100099 is not defined in vrfs" in result.stderr
    assert not out.exists()


def test_exhausted_vlan_range_is_refused(tmp_path: Path) -> None:
    data = json.loads((GOLDEN / "leaf_vrf_many" / "switch.json").read_text())
    data["vlan_range"] = {"first": 1001, "last": 1002}
    state = tmp_path / "s.json"
    state.write_text(json.dumps(data))
    result = run([FABRIC, "render", "switch", "--state", str(state), "--out", str(tmp_path / "o")])
    assert result.rc == 1 and "leaf01: vlan_range 1001-1002" in result.stderr


def test_machine(tmp_path: Path) -> None:
    case = GOLDEN / "machine_example"
    result = run([FABRIC, "render", "machine", "--state", str(case / "machine.json"), "--out", str(tmp_path)])
    assert result.ok, result.describe()
    assert (tmp_path / "frr.conf").read_text() == (case / "frr.conf").read_text()


def test_a_config_db_as_sonic_cfggen_writes_it_plans_like_its_redis_form(tmp_path: Path) -> None:
    # The golden base config with typed values (ints, booleans, lists) and tables fabric never reads
    # (BGP_NEIGHBOR with nhopself: 0, PORTCHANNEL, ACL_TABLE, CRM, a top-level comment): the same plan.
    case = GOLDEN / "leaf_vrf_one"
    typed = Path(__file__).parents[1] / "data" / "configdb" / "cfggen_typed.json"
    argv = [FABRIC, "render", "switch", "--state", str(case / "switch.json")]
    result = run([*argv, "--observed", str(typed), "--out", str(tmp_path), "-o", "json"])
    assert result.ok, result.describe()
    assert json.loads(result.stdout) == json.loads((case / "plan.json").read_text())
    assert (tmp_path / "config_db.json").read_text() == (case / "config_db.json").read_text()
