"""An FRR instance inside a namespace, with private directories and the node's hostname.

Layout choice (FRR 8.4.4, Debian): each instance gets one private directory (a ledger temp dir owned
by frr) that is at once its vty socket dir, zserv socket dir, pid dir and config dir:

    daemons   -u frr -g frr -P 0 --vty_socket DIR -z DIR/zserv.api -i DIR/<d>.pid -f DIR/<d>.conf
    vtysh     --vty_socket DIR --config_dir DIR
    reload    frr-reload.py --vty_socket DIR --confdir DIR --rundir DIR --bindir /usr/bin

rather than a pathspace (`-N`), which would put state into the shared /etc/frr/<ps>/ and
/var/run/frr/<ps>/: with private dirs everything an instance owns is one directory the ledger removes,
two concurrent runs can never collide on a node name, and frr-reload.py's closing `write` lands in the
instance's own frr.conf.  `-f DIR/<d>.conf` (never created) keeps a daemon from reading a stray
/etc/frr/<d>.conf; configuration always arrives as the integrated frr.conf through vtysh.

Every daemon and every vtysh / frr-reload.py call runs under `unshare --uts` with the node's hostname:
running-config prints the UTS hostname, so otherwise it would be the VM's and frr-reload would diff it.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric.adapters.process import Result, run
from fabric.errors import ApplyError
from lab.rig.daemon import Daemon
from lab.rig.netns import Netns
from lab.rig.run import Ledger
from lab.rig.wait import wait_until

FRR_SBIN = Path("/usr/lib/frr")
FRR_RELOAD = FRR_SBIN / "frr-reload.py"
VTYSH = "vtysh"
VTYSH_BINDIR = "/usr/bin"
FRR_USER = "frr"
DEFAULT_DAEMONS = ("zebra", "bgpd", "staticd")
INTEGRATED = "service integrated-vtysh-config\n"
# vtysh prints these for a line a daemon rejected while reading a file (exit status is not reliable).
_REJECTED = re.compile(r"^(line \d+:|% )", re.MULTILINE)
_HEADER = re.compile(r"\A(Building configuration\.\.\.\n)?\n?(Current configuration:\n)?")


@dataclass(frozen=True)
class ReloadDelta:
    """What `frr-reload.py --test` would change: lines to delete and lines to add, in its order."""

    to_delete: tuple[str, ...]
    to_add: tuple[str, ...]

    @property
    def empty(self) -> bool:
        """True when running config and file agree (the canonical-form check of docs/concepts.md#frr)."""
        return not self.to_delete and not self.to_add


def parse_reload_test(stdout: str) -> ReloadDelta:
    """Parse `frr-reload.py --test --stdout` output into a `ReloadDelta`.

    The output is nothing at all when there is no delta; otherwise a "Lines To Delete" and/or a "Lines
    To Add" section, each a title, a line of '=' and then one command (context lines included) per
    line.  Log lines go to stderr with --stdout, so stdout holds only the delta.
    """
    sections: dict[str, list[str]] = {"delete": [], "add": []}
    current: list[str] | None = None
    for line in stdout.splitlines():
        if line == "Lines To Delete":
            current = sections["delete"]
        elif line == "Lines To Add":
            current = sections["add"]
        elif not line.strip() or set(line) == {"="}:
            continue
        elif current is not None:
            current.append(line)
    return ReloadDelta(tuple(sections["delete"]), tuple(sections["add"]))


def check_syntax(path: Path, *, config_dir: Path | None = None) -> Result:
    """`vtysh -C -f PATH`: syntax only (exit 2 with line numbers on error); needs no running daemon."""
    argv = [VTYSH, *(["--config_dir", str(config_dir)] if config_dir else []), "-C", "-f", str(path)]
    return run(argv, timeout=30)


class FrrInstance:
    """FRR daemons of one node inside namespace `ns`; build through `Rig.frr()`.

    `daemons` defaults to zebra, bgpd, staticd (`extra_daemons` adds e.g. bfdd); `netns_vrf` starts
    zebra with `-n` (FRR's netns VRF backend, docs/concepts.md#lab); `netns_dir` then gives every daemon a
    private /run/netns, an rbind of that directory in its own mount namespace, so the node sees only
    its own VRF namespaces.  `daemon_args` appends per-daemon arguments.
    """

    def __init__(
        self,
        ledger: Ledger,
        ns: Netns,
        hostname: str,
        *,
        daemons: Sequence[str] = DEFAULT_DAEMONS,
        extra_daemons: Sequence[str] = (),
        netns_vrf: bool = False,
        netns_dir: Path | None = None,
        daemon_args: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.ledger = ledger
        self.ns = ns
        self.hostname = hostname
        names = [*daemons, *(d for d in extra_daemons if d not in daemons)]
        if "zebra" in names:  # zebra first: the others connect to its zserv socket
            names = ["zebra", *(d for d in names if d != "zebra")]
        self.daemon_names: tuple[str, ...] = tuple(names)
        self.netns_vrf = netns_vrf
        self.netns_dir = netns_dir
        self.daemon_args = dict(daemon_args or {})
        self.daemons: dict[str, Daemon] = {}
        self._dir: Path | None = None

    def __repr__(self) -> str:
        return f"FrrInstance({self.hostname!r} in {self.ns.name})"

    # ---- paths ----------------------------------------------------------------------------------------

    @property
    def dir(self) -> Path:
        """The instance's private directory (sockets, pids, frr.conf, daemon logs); made on first use."""
        if self._dir is None:
            self._dir = self.ledger.tempdir(f"frr-{self.ns.node}", owner=FRR_USER)
        return self._dir

    @property
    def conf_path(self) -> Path:
        """The integrated config, DIR/frr.conf (what `vtysh -b` reads and `write` overwrites)."""
        return self.dir / "frr.conf"

    # ---- lifecycle ------------------------------------------------------------------------------------

    def start(self, config_text: str | None = None, *, timeout: float = 15.0) -> FrrInstance:
        """Start the daemons, wait until vtysh reaches every one, then apply the configuration.

        The configuration is `config_text` when given, else the instance's own frr.conf: on a first
        start only the hostname, after `stop()` whatever was loaded or reloaded last (a restart comes
        back with its config, like a rebooted switch).  Raises `ApplyError` with the daemons' log tails
        when they do not come up within `timeout`, or when FRR rejects a config line.
        """
        (self.dir / "vtysh.conf").write_text(INTEGRATED)
        if not self.conf_path.exists():
            self._write_conf(f"hostname {self.hostname}\n{INTEGRATED}")
        for name in self.daemon_names:
            if name in self.daemons and self.daemons[name].alive():
                continue
            # Sockets of an earlier run would satisfy the readiness checks below before the daemon does.
            for stale in (f"{name}.vty", f"{name}.pid", *(["zserv.api"] if name == "zebra" else [])):
                (self.dir / stale).unlink(missing_ok=True)
            self.daemons[name] = self.ns.start(
                self._daemon_argv(name),
                what=f"{name}@{self.ns.node}",
                hostname=self.hostname,
                log_path=self.dir / f"{name}.log",
            )
            if name == "zebra":
                # bgpd/staticd that find no zserv socket retry only after a few seconds.
                self._wait((self.dir / "zserv.api").exists, timeout, "zebra's zserv socket")
        self._wait(self._all_answer, timeout, "vtysh to reach " + ", ".join(self.daemon_names))
        self.load(config_text if config_text is not None else self.conf_path.read_text())
        return self

    def stop(self) -> None:
        """Stop the daemons (zebra last, so the others withdraw through it); keeps DIR for a restart."""
        others = [d for n, d in self.daemons.items() if n != "zebra"]
        for daemon in others:
            daemon.stop()
        if "zebra" in self.daemons:
            self.daemons["zebra"].stop()
        self.daemons.clear()

    def running(self) -> bool:
        """True when every daemon of this instance is alive."""
        return bool(self.daemons) and all(d.alive() for d in self.daemons.values())

    # ---- vtysh ---------------------------------------------------------------------------------------

    def vtysh(self, *commands: str, timeout: float = 30.0) -> str:
        """Run `commands` in one vtysh call (each a `-c`); returns stdout, raises `ApplyError` on failure."""
        args: list[str] = []
        for command in commands:
            args += ["-c", command]
        result = self._vtysh_run(args, timeout=timeout)
        if not result.ok:
            raise ApplyError(result.describe(), retryable=result.timed_out, phase=f"frr:{self.hostname}")
        return result.stdout

    def vtysh_json(self, command: str) -> Any:
        """Run a `show ... json` command and parse its output."""
        out = self.vtysh(command)
        try:
            return json.loads(out)
        except ValueError as exc:
            raise ApplyError(
                f"{command!r} printed no JSON: {out[:200]!r}", retryable=True, phase=f"frr:{self.hostname}"
            ) from exc

    def running_config(self) -> str:
        """`show running-config` without vtysh's "Building configuration..." header."""
        return _HEADER.sub("", self.vtysh("show running-config"), count=1)

    def load(self, config_text: str) -> str:
        """Write `config_text` as the integrated frr.conf and apply it with `vtysh -f` (additive).

        Returns vtysh's output; raises `ApplyError` when vtysh fails or reports a rejected line.
        Use `reload()` to converge a running instance on a file (deleting what the file lacks).
        """
        self._write_conf(config_text)
        result = self._vtysh_run(["-f", str(self.conf_path)], timeout=60)
        output = (result.stdout + result.stderr).strip()
        if not result.ok or _REJECTED.search(output):
            raise ApplyError(
                f"{self.hostname}: FRR rejected the config: {output or result.describe()}",
                retryable=False,
                phase="frr:load",
            )
        return output

    def reload(self, path: Path | None = None, *, test: bool = False, timeout: float = 120.0) -> Result:
        """`frr-reload.py --reload` (or `--test`) of `path` (default DIR/frr.conf) against this instance.

        With `--stdout` its log goes to stderr (not /var/log/frr) and stdout holds only the delta of
        `--test`.  A `--reload` of another file ends with `write`, overwriting DIR/frr.conf.
        """
        argv = [
            str(FRR_RELOAD),
            "--test" if test else "--reload",
            "--stdout",
            "--bindir",
            VTYSH_BINDIR,
            "--confdir",
            str(self.dir),
            "--rundir",
            str(self.dir),
            "--vty_socket",
            str(self.dir),
            str(path or self.conf_path),
        ]
        return self.ns.exec(argv, hostname=self.hostname, timeout=timeout)

    def delta(self, path: Path | None = None) -> ReloadDelta:
        """The `frr-reload.py --test` delta of `path` (default DIR/frr.conf); raises when it fails."""
        result = self.reload(path, test=True)
        if not result.ok:
            raise ApplyError(result.describe(), retryable=False, phase="frr:reload-test")
        return parse_reload_test(result.stdout)

    def check_syntax(self, path: Path) -> Result:
        """`vtysh -C -f PATH` with this instance's config dir (see module-level `check_syntax`)."""
        return check_syntax(path, config_dir=self.dir)

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of every daemon's log, for error messages."""
        parts = []
        for name in self.daemon_names:
            log = self.dir / f"{name}.log"
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {name}.log\n" + "\n".join(tail))
        return "\n".join(parts)

    # ---- internals -------------------------------------------------------------------------------------

    def _daemon_argv(self, name: str) -> list[str]:
        d = self.dir
        argv = [str(FRR_SBIN / name), "-u", FRR_USER, "-g", FRR_USER, "-P", "0", "--log", "stdout"]
        argv += ["--vty_socket", str(d), "-z", str(d / "zserv.api"), "-i", str(d / f"{name}.pid")]
        argv += ["-f", str(d / f"{name}.conf")]
        if name == "zebra":
            argv += ["-s", "90000000"]  # Debian's default netlink buffer: bursts of routes
            if self.netns_vrf:
                argv.append("-n")
        argv += list(self.daemon_args.get(name, ()))
        if self.netns_dir is not None:
            # A private mount namespace per daemon: /run/netns there is this node's directory only.
            rbind = 'mount --rbind "$1" /run/netns && shift && exec "$@"'
            argv = [
                "unshare",
                "--mount",
                "--propagation",
                "slave",
                "--",
                "sh",
                "-c",
                rbind,
                "sh",
                str(self.netns_dir),
                *argv,
            ]
        return argv

    def _vtysh_run(self, args: list[str], *, timeout: float) -> Result:
        argv = [VTYSH, "--vty_socket", str(self.dir), "--config_dir", str(self.dir), *args]
        return self.ns.exec(argv, hostname=self.hostname, timeout=timeout)

    def _all_answer(self) -> bool:
        result = self._vtysh_run(["-c", "show daemons"], timeout=10)
        answering = set(result.stdout.split()) if result.ok else set()
        return all(name in answering for name in self.daemon_names)

    def _wait(self, predicate: Callable[[], object], timeout: float, what: str) -> None:
        try:
            wait_until(predicate, timeout=timeout, interval=0.05, what=f"{self} {what}")
        except AssertionError as exc:
            raise ApplyError(f"{exc}\n{self.log_tail()}", retryable=False, phase="frr:start") from exc

    def _write_conf(self, text: str) -> None:
        self.conf_path.write_text(text)
        self.conf_path.chmod(0o640)
        shutil.chown(self.conf_path, FRR_USER, FRR_USER)
