"""What frr-reload.py says: its ``--test`` output as a `Delta`, and whether a reload reported commands
FRR rejected.  Parsing only: `fabric.adapters.frr.FrrAdapter` runs it."""

from __future__ import annotations

from dataclasses import dataclass

from fabric.adapters.process import Result

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


def reported_failure(result: Result) -> bool:
    """frr-reload.py may exit 0 yet log commands FRR rejected; treat those as a failed reload."""
    text = result.stdout + result.stderr
    return "Failed to fix" in text or "% Unknown command" in text or "% Invalid" in text
