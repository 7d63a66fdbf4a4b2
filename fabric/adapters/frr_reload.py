"""The frr-reload.py side of `fabric.adapters.frr`: its ``--test`` output (`Delta`) and the reload path.

The reload path is the first apply and the fallback of the fast path: write the candidate, ``vtysh -C
-f`` it (syntax), ``frr-reload.py --reload``, then (with `verify`) ``frr-reload.py --test`` must show
an empty delta.  A failed reload restores the last good file and raises a retryable `ApplyError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fabric.adapters.process import Result
from fabric.errors import ApplyError

if TYPE_CHECKING:
    from fabric.adapters.frr import FrrAdapter

CANDIDATE = "fabric-candidate.conf"
LAST_GOOD = "fabric-last-good.conf"


@dataclass(frozen=True)
class Delta:
    """Lines frr-reload.py would delete (``-``) and add (``+``) to reach a file."""

    delete: tuple[str, ...] = ()
    add: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.delete and not self.add

    def lines(self) -> list[str]:
        """The delta as ``- line`` / ``+ line`` strings, deletions first."""
        return [f"- {x}" for x in self.delete] + [f"+ {x}" for x in self.add]


def parse_delta(text: str) -> Delta:
    """Parse ``frr-reload.py --test`` output (``Lines To Delete`` / ``Lines To Add`` sections)."""
    section: list[str] | None = None
    delete: list[str] = []
    add: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if line == "Lines To Delete":
            section = delete
        elif line == "Lines To Add":
            section = add
        elif section is not None and line.strip() and not set(line) <= {"="}:
            section.append(line)
    return Delta(tuple(delete), tuple(add))


def apply_reload(frr: FrrAdapter, text: str, *, timeout: float | None, verify: bool) -> Delta:
    """Write, check, ``frr-reload.py --reload`` and (with `verify`) ``--test`` `text` on `frr`."""
    path = frr.write_file(CANDIDATE, text, timeout=timeout)
    check = frr._run(frr.vtysh_argv("-C", "-f", path), timeout=timeout)
    if not check.ok:
        raise ApplyError(check.describe(), retryable=False, phase="frr:check")
    reload = frr._run(frr.reload_argv("--reload", path), timeout=timeout)
    if not reload.ok or _reported_failure(reload):
        restored = _restore(frr, timeout)
        raise ApplyError(
            f"{reload.describe()}; last good config {restored}",
            retryable=True,
            phase="frr:reload",
        )
    frr._remember_good(text, timeout)
    if not verify:
        return Delta()
    return frr.verify(CANDIDATE, timeout=timeout)  # the candidate file holds `text` already


def _restore(frr: FrrAdapter, timeout: float | None) -> str:
    """Reload the last good config; says how that went (for the error message)."""
    if frr.last_good() is None:
        return "not available (nothing applied yet)"
    result = frr._run(frr.reload_argv("--reload", frr._path(LAST_GOOD)), timeout=timeout)
    return "restored" if result.ok else f"could not be restored either ({result.describe()[:200]})"


def _reported_failure(result: Result) -> bool:
    """frr-reload.py may exit 0 yet log commands FRR rejected; treat those as a failed reload."""
    text = result.stdout + result.stderr
    return "Failed to fix" in text or "% Unknown command" in text or "% Invalid" in text
