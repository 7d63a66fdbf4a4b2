"""Adoption of FRR config a daemon did not write: the refusal shared by `fabric switch` and `fabric firewall`.

The decision is the FRR adapter's (`FrrAdapter.needs_adoption`: no last good file of ours in FRR's config
dir, yet FRR runs routing config); this module turns it into the one refusal both daemons report, with
the ``frr-reload.py --test`` delta the first apply would make.  Blocking (vtysh, frr-reload.py): callers
run it in a worker thread.
"""

from __future__ import annotations

from fabric.adapters.frr import FrrAdapter
from fabric.errors import ApplyError

PHASE = "frr:adopt"
SHOWN_LINES = 50  # of the delta, in the refusal's reason


def check_adoption(frr: FrrAdapter, text: str, *, adopt: bool) -> None:
    """Raise a non-retryable `ApplyError` (phase ``frr:adopt``) when applying `text` would overwrite FRR
    config the daemon did not write and `adopt` is off; writes nothing to FRR's running config (the
    delta is computed from a candidate file)."""
    if adopt or not frr.needs_adoption():
        return
    lines = frr.delta(text).lines()
    shown = "\n".join(lines[:SHOWN_LINES])
    raise ApplyError(
        f"FRR holds configuration fabric did not write; start with --adopt to take it over. "
        f"The first apply would change {len(lines)} lines:\n{shown}",
        retryable=False,
        phase=PHASE,
    )
