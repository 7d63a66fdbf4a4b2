"""Every failing phase the code can report has an entry in `fabric.runtime.phases.PHASES` (which the
docs' failure reference is generated from), and `explain` finds a phase by its kind."""

from __future__ import annotations

import re
from pathlib import Path

from fabric.runtime.phases import PHASES, explain

FABRIC = Path(__file__).resolve().parents[2] / "fabric"
# phase="x…", _call("x…" (Redis and netlink steps), timer.phase("x…"): the static start of each name.
RAISED = re.compile(r"""(?:\bphase=|\b_call\(|timer\.phase\()f?["']([a-z_-]+)""")


def raised_kinds() -> dict[str, str]:
    """kind → where it is raised, for every phase name the code writes literally."""
    found: dict[str, str] = {}
    for path in FABRIC.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "PhaseTiming(" in line:  # a timing's name, not a failure
                continue
            for kind in RAISED.findall(line):
                found.setdefault(kind, f"{path.relative_to(FABRIC.parent)}:{number}")
    return found


def test_every_phase_the_code_raises_is_explained() -> None:
    kinds = raised_kinds()
    assert {"frr", "nft", "netlink", "configdb", "state-wait", "guard", "crash"} <= set(kinds)
    missing = {k: where for k, where in kinds.items() if k not in PHASES}
    assert not missing, f"phases without an entry in fabric/runtime/phases.py: {missing}"


def test_explain_finds_a_phase_by_its_kind() -> None:
    reload = explain("frr:reload")
    assert reload is not None and reload is PHASES["frr"]
    assert explain("state-wait:add-vrf") is PHASES["state-wait"]
    assert explain("nonsense") is None
