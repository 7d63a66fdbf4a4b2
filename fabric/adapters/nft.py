"""nftables: load one transaction (checked with `nft -c` when it fails); only `table inet fabric` is
ever touched.

The adapter keeps the last ruleset it applied: when only elements changed (set and map elements, and
with them the profiles they jump to, which are not part of the skeleton), it sends just those additions
and deletions (one transaction, see `render_element_update`); otherwise the whole table is replaced
(create, delete and define in one file, so other tables and the old rules stay untouched when anything
fails).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from fabric.adapters.process import run
from fabric.core.policy.ruleset import Ruleset
from fabric.errors import ApplyError
from fabric.render.nft import render_element_update, render_ruleset

log = logging.getLogger(__name__)

Mode = Literal["unchanged", "elements", "full"]


@dataclass(frozen=True)
class Applied:
    """What one apply did: `mode`, and the script it sent (empty when unchanged)."""

    mode: Mode
    script: str


class NftTable:
    """Our one table in one network namespace (`prefix` e.g. `["ip", "netns", "exec", "fw"]`)."""

    def __init__(self, prefix: Sequence[str] = (), nft: str = "nft", table: str = "fabric") -> None:
        self.argv = [*prefix, nft]
        self.table = table
        self.last: Ruleset | None = None

    def _nft(self, *args: str, script: str | None = None, phase: str) -> str:
        result = run([*self.argv, *args], input=script, timeout=120)
        if not result.ok:
            # A rejected script will be rejected again; a timeout or missing binary may recover.
            raise ApplyError(result.describe(), retryable=result.timed_out or result.rc < 0, phase=phase)
        return result.stdout

    def check(self, script: str) -> None:
        """`nft -c`: parse and validate `script` against the kernel without committing it."""
        self._nft("-c", "-f", "-", script=script, phase="nft:check")

    def apply(self, ruleset: Ruleset) -> Applied:
        """Make the table equal `ruleset`: element-only when possible, else one full replacement."""
        if self.last == ruleset:
            return Applied("unchanged", "")
        if self.last is not None:
            update = render_element_update(self.last, ruleset)
            if update is not None:
                try:
                    # No separate `nft -c`: the update is one transaction, and a failed one falls
                    # back to replacing the table, which is checked first.
                    self._nft("-f", "-", script=update, phase="nft:elements")
                except ApplyError as exc:
                    # The table drifted (deleted or edited by hand): fall back to replacing it whole.
                    log.warning("element update failed, replacing the table: %s", exc)
                else:
                    self.last = ruleset
                    return Applied("elements", update)
        script = render_ruleset(ruleset)
        self.last = None  # if loading fails, the next apply must not trust the kernel's state
        try:
            self._nft("-f", "-", script=script, phase="nft:load")
        except ApplyError as exc:
            # The file is one transaction, so nothing changed.  Only now ask `nft -c` whether the
            # script itself is at fault (phase nft:check, not retryable) or the load failed otherwise;
            # checking every script first would double the cost of each full load.
            self.check(script)
            # The kernel accepts the script, so the load failed for a passing reason (interrupted,
            # out of memory, a concurrent change): retrying can help, and waiting for the next
            # cluster event or resync to try again would leave the old table in place for minutes.
            exc.retryable = True
            raise
        self.last = ruleset
        return Applied("full", script)

    def counters(self) -> dict[str, int]:
        """Packets counted by each named counter of our table (the drop counters)."""
        out = self._nft("-j", "list", "counters", "table", "inet", self.table, phase="nft:counters")
        found: dict[str, int] = {}
        for item in json.loads(out).get("nftables", []):
            counter = item.get("counter")
            if counter and counter.get("table") == self.table:
                found[counter["name"]] = int(counter.get("packets", 0))
        return found

    def listing(self, *, stateless: bool = False) -> str:
        """`nft list table inet fabric` as the kernel holds it (`stateless`: without counter values)."""
        flags = ["-s"] if stateless else []
        return self._nft(*flags, "list", "table", "inet", self.table, phase="nft:list")

    def remove(self) -> None:
        """Delete our table (nothing else); absent already is fine."""
        self._nft(
            "-f", "-", script=f"table inet {self.table}\ndelete table inet {self.table}\n", phase="nft:remove"
        )
        self.last = None
