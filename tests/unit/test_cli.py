"""The `fabric` command: version, schema and validate, run as a user would (the console script)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from fabric import __version__
from fabric.adapters.process import run

EXAMPLES = Path(__file__).parents[1] / "data" / "examples"
FABRIC = shutil.which("fabric", path=str(Path(sys.executable).parent)) or "fabric"


def test_version() -> None:
    result = run([FABRIC, "--version"])
    assert result.ok and result.stdout.strip() == f"fabric {__version__}"


def test_schema_prints_every_document() -> None:
    result = run([FABRIC, "schema"])
    assert result.ok
    assert set(json.loads(result.stdout)) == {"switch", "machine", "firewall"}
    one = run([FABRIC, "schema", "firewall"])
    assert json.loads(one.stdout)["title"] == "FirewallState"
    assert run([FABRIC, "schema", "router"]).rc == 2


def test_validate_reports_paths(tmp_path: Path) -> None:
    ok = run([FABRIC, "validate", "switch", str(EXAMPLES / "leaf01.json")])
    assert ok.ok and "valid, sha256:" in ok.stdout
    data = json.loads((EXAMPLES / "leaf01.json").read_text())
    data["ports"][2]["vrf"] = "Vrf100099"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    result = run([FABRIC, "validate", "switch", str(bad)])
    assert result.rc == 1
    assert "ports[Ethernet0].vrf: VRF Vrf100099 is not defined in vrfs" in result.stderr


def test_command_groups_exist() -> None:
    result = run([FABRIC, "--help"])
    for group in ("api", "switch", "firewall", "render", "lab", "schema", "validate"):
        assert group in result.stdout
