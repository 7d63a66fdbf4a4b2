"""Golden suite of the renderer: every output of every case compared in full.

Regenerate with `make golden-update` (FABRIC_UPDATE_GOLDEN=1) and review the diff.  The FRR outputs are
proven in a real FRR by tests/integration/render/; CONFIG_DB outputs against SONiC's YANG models here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fabric.core.configdb import merge_configdb
from tests.golden.cases import CASES, ROOT, SWITCH_CASES, base_config, render_case
from tests.golden.conftest import UPDATE, Golden
from tests.yang_models import sonic_yang

OUTPUTS = ("frr.conf", "frr.withdraw.conf", "config_db.json", "plan.json")


@pytest.mark.parametrize("case", CASES)
def test_outputs_match(case: str, golden: Golden) -> None:
    rendered = render_case(case)
    for name, text in rendered.items():
        golden(ROOT / case / name, text)
    stale = [n for n in OUTPUTS if (ROOT / case / n).exists() and n not in rendered]
    if UPDATE:
        for name in stale:
            (ROOT / case / name).unlink()
    else:
        assert not stale, f"{case}: expected files no longer rendered: {stale}"


@pytest.mark.parametrize("case", SWITCH_CASES)
def test_config_db_validates_against_sonic_yang(case: str) -> None:
    loaded = sonic_yang()
    expected = json.loads((ROOT / case / "config_db.json").read_text())
    result = loaded.validate(merge_configdb(base_config(), expected))
    assert result.ok, f"{case}: {result.errors}"
    assert set(result.unmodelled) <= {"SUPPRESS_VLAN_NEIGH"}


def test_every_case_has_expected_outputs() -> None:
    for case in CASES:
        assert (Path(ROOT / case) / "frr.conf").exists() or UPDATE, case
