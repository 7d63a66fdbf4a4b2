"""Golden nftables rulesets: manifests (+ FirewallState) → `nft -f` script and object conditions, compared
in full, and every golden script proven loadable by `nft -c` (unprivileged, in a throwaway namespace)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fabric.adapters.process import run
from fabric.firewall.pipeline import compile_manifests, parse_prefixes
from fabric.render.nft import render_ruleset
from tests.golden.conftest import Golden  # the fixture type

ROOT = Path(__file__).parents[2]
CASES = sorted(p.parent for p in Path(__file__).parent.glob("firewall_*/case.json"))


def _render(case: Path) -> tuple[str, str]:
    spec = json.loads((case / "case.json").read_text())
    compiled, ruleset = compile_manifests(
        [ROOT / m for m in spec["manifests"]],
        parse_prefixes(spec["cluster_prefixes"]),
        spec["isolation"],
        ROOT / spec["state"] if "state" in spec else None,
    )
    conditions = "".join(
        f"{c.object}: {'accepted' if c.accepted else 'rejected'}{': ' + c.reason if c.reason else ''}\n"
        for c in compiled.conditions
    )
    return render_ruleset(ruleset), conditions


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_ruleset_golden(case: Path, golden: Golden) -> None:
    script, conditions = _render(case)
    golden(case / "ruleset.nft", script)
    golden(case / "conditions.txt", conditions)


@pytest.mark.needs("nft", "netns")
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_loads_in_nft(case: Path) -> None:
    result = run(["unshare", "-rn", "nft", "-c", "-f", str(case / "ruleset.nft")], timeout=60)
    assert result.ok, result.describe()
