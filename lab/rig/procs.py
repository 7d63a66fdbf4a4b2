"""Facts about processes and mounts read from /proc, and killing by PID.

A PID alone does not name a process for long: once it exits the kernel may hand the number to
someone else.  So the rig identifies a process by (PID, start time) — the start time is field 22 of
`/proc/<pid>/stat`, in clock ticks since boot, and never changes for the life of the process (exec keeps
it).  Nothing here matches processes by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")


def start_time(pid: int) -> int | None:
    """The start time of `pid` (clock ticks since boot), or None when it is gone or a zombie.

    A zombie has exited already: it only waits to be reaped (PID 1 on this VM never reaps), so for
    every purpose of the rig it is dead.
    """
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    state, ticks = fields[0], fields[19]
    if state in ("Z", "X"):
        return None
    return int(ticks)


def alive(pid: int, start: int | None) -> bool:
    """True when `pid` runs and, if `start` is given, is still the process that started then."""
    now = start_time(pid)
    return now is not None and (start is None or now == start)


def reap(pid: int) -> None:
    """Collect `pid`'s exit status if it is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def terminate(targets: Iterable[tuple[int, int | None]], *, grace: float = 5.0) -> list[int]:
    """SIGTERM every live (pid, start) target, SIGKILL those still alive after `grace` seconds.

    All targets get the signal at once and are then polled together, so stopping ten daemons costs
    the time of the slowest, not the sum.  Returns the PIDs that were alive and were signalled.
    """
    live = [(pid, start) for pid, start in targets if alive(pid, start)]
    for pid, _ in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for sig, wait in ((signal.SIGKILL, grace), (None, 2.0)):
        deadline = time.monotonic() + wait
        while True:
            for pid, _ in live:
                reap(pid)
            pending = [(pid, start) for pid, start in live if alive(pid, start)]
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        if sig is None:
            break
        for pid, _ in pending:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    return [pid for pid, _ in live]


def netns_inode(path: Path) -> int | None:
    """The inode that names the network namespace bound at `path` (e.g. /run/netns/x), or None."""
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def pids_in_netns(inode: int) -> list[tuple[int, int | None]]:
    """(pid, start) of every live process whose network namespace is the one with `inode`.

    This finds what runs in a namespace the rig created even when its PID never reached the ledger
    (a crash between spawn and record, or a child a recorded process forked).
    """
    found: list[tuple[int, int | None]] = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ino = (entry / "ns" / "net").stat().st_ino
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if ino == inode:
            pid = int(entry.name)
            start = start_time(pid)
            if start is not None:
                found.append((pid, start))
    return found


def _unescape_mount_path(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal (\040 etc.).
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mountpoints() -> list[str]:
    """Mount points of this process's mount namespace, in mount order."""
    points = []
    for line in (PROC / "self" / "mountinfo").read_text().splitlines():
        points.append(_unescape_mount_path(line.split()[4]))
    return points


def mountpoints_under(path: Path) -> list[str]:
    """Mount points at or below `path`, deepest first (the order to unmount them in)."""
    root = str(path).rstrip("/")
    inside = [m for m in mountpoints() if m == root or m.startswith(root + "/")]
    return sorted(set(inside), key=lambda m: m.count("/"), reverse=True)
