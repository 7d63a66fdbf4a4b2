"""Long-running processes of the rig: started through the one subprocess helper, recorded by PID.

Every wrapper in the chain (`ip netns exec`, `unshare --uts`, `sh -c '... exec "$@"'`) replaces itself
with the next program, so the PID `spawn` returns is the daemon's own PID: the one the ledger records
and the one cleanup kills.  No program daemonizes itself (FRR runs without `-d`, Redis with
`--daemonize no`) for the same reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fabric.adapters.process import spawn
from fabric.errors import FabricError
from lab.rig import procs
from lab.rig.run import Item, Ledger

if TYPE_CHECKING:  # the type only: subprocess itself is used by fabric.adapters.process alone
    import subprocess

# Sets the UTS hostname of a fresh UTS namespace, then becomes the real program (same PID).
_SET_HOSTNAME = 'hostname "$1" && shift && exec "$@"'


def wrap(argv: Sequence[str], *, netns: str | None = None, hostname: str | None = None) -> list[str]:
    """`argv` prefixed to run inside network namespace `netns` and/or a UTS namespace named `hostname`.

    FRR daemons and vtysh print the UTS hostname in running-config, so a node's daemons and every
    vtysh talking to them run under the node's hostname, not the VM's.
    """
    out = list(argv)
    if hostname is not None:
        out = ["unshare", "--uts", "--", "sh", "-c", _SET_HOSTNAME, "sh", hostname, *out]
    if netns is not None:
        out = ["ip", "netns", "exec", netns, *out]
    return out


class Daemon:
    """A process the rig started; `stop()` kills it by its recorded PID and drops it from the ledger."""

    def __init__(
        self, ledger: Ledger, item: Item, log_path: Path | None, popen: subprocess.Popen[bytes]
    ) -> None:
        self.ledger = ledger
        self.item = item
        self.log_path = log_path
        self._popen = popen  # only to reap the child; the ledger's PID is the handle

    @property
    def pid(self) -> int:
        """The daemon's PID (the same one the ledger holds)."""
        assert self.item.pid is not None
        return self.item.pid

    @property
    def what(self) -> str:
        """What this daemon is, e.g. ``bgpd@leaf1``."""
        return self.item.ref

    def alive(self) -> bool:
        """True while the recorded process runs (a zombie counts as dead)."""
        return procs.alive(self.pid, self.item.start)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; idempotent."""
        procs.terminate([(self.pid, self.item.start)], grace=grace)
        self._popen.poll()  # reap (a no-op when a ledger cleanup already did)
        if self.item in self.ledger.items:
            self.ledger.forget(self.item)

    def log_tail(self, lines: int = 20) -> str:
        """The last `lines` lines of the daemon's output (for error messages)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start_daemon(
    ledger: Ledger,
    argv: Sequence[str],
    *,
    what: str,
    netns: str | None = None,
    hostname: str | None = None,
    log_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Daemon:
    """Start `argv` (in `netns`, under `hostname`), output appended to `log_path`; record its PID.

    The ledger gets the intent first and the PID right after the fork.  Does not wait for readiness:
    each kind of daemon has its own way to tell (vtysh answers, Redis PINGs).
    """
    item = ledger.record(Item("process", what))
    try:
        popen = spawn(
            wrap(argv, netns=netns, hostname=hostname),
            env=env,
            stdout_path=str(log_path) if log_path else None,
        )
    except OSError as exc:
        ledger.forget(item)
        raise FabricError(f"rig {ledger.prefix}: cannot start {what}: {exc}") from exc
    ledger.set_pid(item, popen.pid)
    return Daemon(ledger, item, log_path, popen)
