"""The golden cases of the renderer: inputs in `tests/golden/<case>/`, outputs rendered from them.

A switch case holds `switch.json` (the SwitchState) and optionally `before.json` (the SwitchState the
switch held before: the observed CONFIG_DB is `base_config.json` plus what `before.json` renders, and the
observed FRR is its frr.conf) and optionally `options.json` (renderer options such as
`{"frr_version": "8.4"}`; without it the release the document's sonic_version ships).  A machine case
holds `machine.json`, a firewall case (`firewall_frr_*`) `firewall.json` (the FirewallState).
Expected outputs: `frr.conf`,
`config_db.json`, `plan.json`, and `frr.withdraw.conf` when the plan withdraws first.
"""

from __future__ import annotations

import json
from pathlib import Path

from fabric.core.configdb import merge_configdb
from fabric.core.frr_model import FrrOptions
from fabric.core.observed import Observed
from fabric.core.plan import Desired, plan_as_data
from fabric.core.tables import Tables
from fabric.model import FirewallState, MachineState, SwitchState, load_file
from fabric.render.frr import render_firewall_frr, render_machine_frr
from fabric.render.switch import desired_switch, plan_switch

ROOT = Path(__file__).parent
BASE = ROOT / "base_config.json"
# Firewall nftables cases (a `case.json`) are compared by test_firewall_golden.py, not here.
CASES = sorted(
    p.name
    for p in ROOT.iterdir()
    if p.is_dir() and not p.name.startswith(("_", ".")) and not (p / "case.json").exists()
)
SWITCH_CASES = [c for c in CASES if (ROOT / c / "switch.json").exists()]
MACHINE_CASES = [c for c in CASES if (ROOT / c / "machine.json").exists()]
FIREWALL_CASES = [c for c in CASES if (ROOT / c / "firewall.json").exists()]


def base_config() -> Tables:
    """The realistic base CONFIG_DB every switch case starts from."""
    data: Tables = json.loads(BASE.read_text())
    return data


def options_of(case: str) -> FrrOptions:
    """Renderer options of `case` (`options.json`), or the defaults."""
    path = ROOT / case / "options.json"
    if not path.exists():
        return FrrOptions()
    data = json.loads(path.read_text())
    return FrrOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def observed_of(case: str) -> Observed:
    """What the switch of `case` holds before the change."""
    base = Observed.from_configdb(base_config())
    before = ROOT / case / "before.json"
    if not before.exists():
        return base
    prior: Desired = desired_switch(load_file(SwitchState, before), base, options_of(case))
    return Observed.from_configdb(merge_configdb(base.configdb, prior.configdb), frr=prior.frr)


def render_case(case: str) -> dict[str, str]:
    """Every output file of `case`, by file name."""
    folder = ROOT / case
    if (folder / "machine.json").exists():
        return {"frr.conf": render_machine_frr(load_file(MachineState, folder / "machine.json"))}
    if (folder / "firewall.json").exists():
        return {"frr.conf": render_firewall_frr(load_file(FirewallState, folder / "firewall.json"))}
    observed = observed_of(case)
    desired, result = plan_switch(load_file(SwitchState, folder / "switch.json"), observed, options_of(case))
    assert desired.frr is not None and desired.frr_withdraw is not None
    labels = {desired.frr: "frr.conf", desired.frr_withdraw: "frr.withdraw.conf"}
    out = {
        "frr.conf": desired.frr,
        "config_db.json": json.dumps(desired.configdb, indent=2) + "\n",
        "plan.json": json.dumps(plan_as_data(result, labels), indent=2) + "\n",
    }
    if any(p.frr == desired.frr_withdraw and p.frr != desired.frr for p in result.phases):
        out["frr.withdraw.conf"] = desired.frr_withdraw
    return out
