"""FRR on the switch: check, reload and verify a rendered config; observe version and BGP sessions.

Every command goes through the configured exec prefix (``docker exec -i bgp`` on SONiC, nothing in the
lab) and the one subprocess helper.  Files are written *through* the prefix too (``tee``), so the
daemon never needs to know where the container's config directory is mounted on the host.

Apply (`FrrAdapter.apply`) has two paths; `last_path` says which one ran.

- fast: the commands from the last good config to the candidate (`fabric.core.frr_delta`) as one
  ``vtysh -f /dev/stdin``, then one ``show running-config`` that must print the candidate exactly
  (our frr.conf is FRR's canonical form), up to the order of top-level blocks (`same_config`).
  Taken whenever a last good config exists.
- reload (the fallback, and the first apply): write the candidate,
  ``vtysh -C -f`` it (syntax), ``frr-reload.py --reload``, then ``frr-reload.py --test`` must show an
  empty delta.

The fast path never decides alone: when the delta cannot be computed, a command is rejected or the
running config differs afterwards (FRR restarted with other config, edited by hand, a delta this code
gets wrong), the reload path runs on the same candidate.  A failed reload restores the last good file
(written only after a successful apply) and raises a retryable `ApplyError`; a non-empty delta after a
successful reload is returned as drift (reported, not retried: reloading again would not change it).

Observing whether FRR still runs what was applied (`identity`, `verify`): FRR can restart on its own
(SONiC's bgp container restarts) and come back with other config.  `identity` is cheap (the daemons' PIDs
from their pid files) and changes on every restart; `verify` is the real comparison (``--test`` of the
last good file against the running config).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from fabric.adapters.frr_reload import CANDIDATE, LAST_GOOD, Delta, parse_delta, reported_failure
from fabric.adapters.process import Result, run
from fabric.core.frr_delta import DeltaUnsupported, config_difference, frr_delta, same_config
from fabric.errors import ApplyError
from fabric.model.status import BgpSession
from fabric.runtime.config import FrrSettings

__all__ = [
    "FAST",
    "LAST_GOOD",
    "RELOAD",
    "Delta",
    "FrrAdapter",
    "has_substance",
    "parse_bgp_summary",
    "parse_delta",
    "parse_version",
]
log = logging.getLogger(__name__)

# The daemons whose PIDs identify a running FRR (a restart of the bgp container changes both).
IDENTITY_DAEMONS = ("zebra", "bgpd")
# What marks a running config as holding something beyond FRR's boilerplate (for adoption).
_SUBSTANCE = re.compile(r"^(router |vrf |route-map |ip prefix-list |ipv6 prefix-list |interface )")
# vtysh -f prints these for a line a daemon rejected (and exits non-zero).
_REJECTED = re.compile(r"^(line \d+:|% )", re.MULTILINE)
FAST, RELOAD = "fast", "reload"


def parse_version(text: str) -> str | None:
    """The FRR version from ``show version`` (``FRRouting 8.4.4 (host) on Linux ...``)."""
    match = re.search(r"FRRouting (\d+\.\d+(?:\.\d+)?\S*)", text)
    return match.group(1) if match else None


def parse_bgp_summary(data: Any) -> list[BgpSession]:
    """Sessions from ``show bgp vrf all summary json``: one per (vrf, peer), first address family wins."""
    sessions: dict[tuple[str, str], BgpSession] = {}
    if not isinstance(data, dict):
        return []
    for vrf, families in data.items():
        if not isinstance(families, dict):
            continue
        for family in families.values():
            peers = family.get("peers") if isinstance(family, dict) else None
            for peer, info in (peers or {}).items():
                if (vrf, peer) in sessions or not isinstance(info, dict):
                    continue
                sessions[(vrf, peer)] = BgpSession(
                    vrf=str(vrf)[:32],
                    peer=str(peer)[:64],
                    state=str(info.get("state", "unknown"))[:32],
                    remote_as=info.get("remoteAs") if isinstance(info.get("remoteAs"), int) else None,
                    prefixes_received=info.get("pfxRcd") if isinstance(info.get("pfxRcd"), int) else None,
                )
    return [sessions[k] for k in sorted(sessions)]


def has_substance(config: str) -> bool:
    """Whether a running config holds routing config (router, vrf, route-map, prefix-list, interface)."""
    return any(_SUBSTANCE.match(line) for line in config.splitlines())


class FrrAdapter:
    """One FRR instance reached through `FrrSettings` (exec prefix, pathspace or vty socket dir)."""

    def __init__(self, cfg: FrrSettings) -> None:
        self.cfg = cfg
        self._last_good: str | None = None  # what this process last wrote as LAST_GOOD (saves a read)
        self.last_path = ""  # FAST or RELOAD: how the last successful `apply` reached FRR
        self.fallback_reason = ""  # why the last `apply` could not take the fast path

    # -- argv --------------------------------------------------------------------------------------
    def _path(self, name: str) -> str:
        # With a pathspace FRR's own files live in <config_dir>/<pathspace>/; ours sit beside them.
        base = self.cfg.config_dir.rstrip("/")
        return f"{base}/{self.cfg.pathspace}/{name}" if self.cfg.pathspace else f"{base}/{name}"

    def vtysh_argv(self, *args: str) -> list[str]:
        """``vtysh`` with the instance's pathspace or vty socket, behind the exec prefix."""
        argv = [*self.cfg.exec_prefix, "vtysh", "--config_dir", self.cfg.config_dir]
        if self.cfg.pathspace:
            argv += ["-N", self.cfg.pathspace]
        if self.cfg.vty_socket_dir:
            argv += ["--vty_socket", self.cfg.vty_socket_dir]
        return argv + list(args)

    def reload_argv(self, mode: str, path: str) -> list[str]:
        """``frr-reload.py --reload|--test FILE`` aimed at the same instance."""
        # --stdout: its log goes to stderr (into our error messages), stdout holds only the delta.
        argv = [*self.cfg.exec_prefix, self.cfg.python, self.cfg.reload_script, mode, "--stdout"]
        if self.cfg.rundir:
            argv += ["--rundir", self.cfg.rundir]
        if self.cfg.bindir:
            argv += ["--bindir", self.cfg.bindir]
        if self.cfg.pathspace:
            argv += ["--pathspace", self.cfg.pathspace]
        if self.cfg.vty_socket_dir:
            argv += ["--vty_socket", self.cfg.vty_socket_dir]
        return [*argv, "--confdir", self.cfg.config_dir, path]

    def _run(self, argv: Sequence[str], *, timeout: float | None = None, text: str | None = None) -> Result:
        return run(argv, timeout=min(timeout or self.cfg.timeout, self.cfg.timeout), input=text)

    # -- files -------------------------------------------------------------------------------------
    def write_file(self, name: str, text: str, *, timeout: float | None = None) -> str:
        """Write `text` to `name` in FRR's config dir (through the exec prefix); returns the path."""
        path = self._path(name)
        result = self._run([*self.cfg.exec_prefix, "tee", path], timeout=timeout, text=text)
        if not result.ok:
            raise ApplyError(result.describe(), retryable=True, phase="frr:write")
        return path

    def last_good(self) -> str | None:
        """The last good config (written by `apply`); read from FRR's config dir once per process."""
        if self._last_good is None:
            self._last_good = self.read_file(LAST_GOOD)
        return self._last_good

    def _remember_good(self, text: str, timeout: float | None) -> None:
        """Write `text` as the last good config, and keep it as the cached copy `last_good` returns."""
        self.write_file(LAST_GOOD, text, timeout=timeout)
        self._last_good = text

    def read_file(self, name: str) -> str | None:
        """Contents of `name` in FRR's config dir, or None when it does not exist."""
        result = self._run([*self.cfg.exec_prefix, "cat", self._path(name)])
        return result.stdout if result.ok else None

    # -- observing ---------------------------------------------------------------------------------
    def version(self) -> str | None:
        """FRR's version (``show version``), None when vtysh does not answer."""
        result = self._run(self.vtysh_argv("-c", "show version"))
        return parse_version(result.stdout) if result.ok else None

    def running_config(self) -> str:
        """``show running-config``; raises a retryable `ApplyError` when FRR does not answer."""
        result = self._run(self.vtysh_argv("-c", "show running-config"))
        if not result.ok:
            raise ApplyError(result.describe(), retryable=True, phase="frr:observe")
        return result.stdout

    def bgp_sessions(self) -> list[BgpSession]:
        """BGP sessions of every VRF; empty when bgpd does not answer (status, not an error)."""
        result = self._run(self.vtysh_argv("-c", "show bgp vrf all summary json"))
        try:
            return parse_bgp_summary(json.loads(result.stdout)) if result.ok else []
        except json.JSONDecodeError:
            return []

    def identity(self) -> str | None:
        """The PIDs of zebra and bgpd (pid files in the run dir); None when FRR is down or unreadable.

        A different value means FRR restarted since it was last seen, whatever config it came back with.
        """
        base = (self.cfg.rundir or "/var/run/frr").rstrip("/")
        rundir = f"{base}/{self.cfg.pathspace}" if self.cfg.pathspace else base
        files = [f"{rundir}/{d}.pid" for d in IDENTITY_DAEMONS]
        result = self._run([*self.cfg.exec_prefix, "cat", *files])
        pids = result.stdout.split()
        return " ".join(pids) if result.ok and len(pids) == len(files) else None

    def verify(self, name: str = LAST_GOOD, *, timeout: float | None = None) -> Delta:
        """What frr-reload.py would change to make FRR run the file `name` of the config dir."""
        result = self._run(self.reload_argv("--test", self._path(name)), timeout=timeout)
        if not result.ok:
            raise ApplyError(result.describe(), retryable=True, phase="frr:verify")
        return parse_delta(result.stdout)

    def delta(self, text: str, *, timeout: float | None = None) -> Delta:
        """What frr-reload.py would change to reach `text` (``--test``), applying nothing."""
        path = self.write_file(CANDIDATE, text, timeout=timeout)
        result = self._run(self.reload_argv("--test", path), timeout=timeout)
        if not result.ok:
            raise ApplyError(result.describe(), retryable=True, phase="frr:test")
        return parse_delta(result.stdout)

    def needs_adoption(self) -> bool:
        """True when FRR holds routing config but the daemon never applied a file here."""
        return self.last_good() is None and has_substance(self.running_config())

    # -- applying ----------------------------------------------------------------------------------
    def apply(self, text: str, *, timeout: float | None = None, verify: bool = True) -> Delta:
        """Make FRR run `text`; returns the drift left after a reload (empty when clean).

        The fast path (a delta from the last good config, checked by an exact comparison) is tried
        first; on any doubt the reload path runs.  There a syntax error is not retryable (a rendering
        bug); a failed reload restores the last good file and is retryable.  `verify=False` skips the
        reload path's ``--test`` (for an intermediate config that a later apply of the same sync
        replaces and verifies) and returns an empty delta.
        """
        if self._apply_fast(text, timeout):
            self.last_path = FAST
            return Delta()
        self.last_path = RELOAD
        return self._reload(text, timeout=timeout, verify=verify)

    def _apply_fast(self, text: str, timeout: float | None) -> bool:
        """Apply the delta from the last good config in one vtysh call; True when FRR runs `text`."""
        base = self.last_good()
        if base is None:
            return self._fallback("no last good config")
        try:
            commands = frr_delta(base, text)
        except DeltaUnsupported as exc:
            return self._fallback(f"delta not computable: {exc}")
        if commands:
            result = self._run(self.vtysh_argv("-f", "/dev/stdin"), timeout=timeout, text=commands)
            output = result.stdout + result.stderr
            if not result.ok or _REJECTED.search(output):
                return self._fallback(f"FRR rejected the delta: {output.strip()[:300] or result.describe()}")
        shown = self._run(self.vtysh_argv("-c", "show running-config"), timeout=timeout)
        if not shown.ok:
            return self._fallback(f"running config unreadable after the delta: {shown.describe()[:200]}")
        if not same_config(shown.stdout, text):
            diff = config_difference(shown.stdout, text)
            return self._fallback(f"running config differs from the candidate after the delta: {diff}")
        if text != base:
            self._remember_good(text, timeout)
        self.fallback_reason = ""
        return True

    def _fallback(self, reason: str) -> bool:
        self.fallback_reason = reason
        log.info("FRR fast path not taken, reloading: %s", reason, extra={"frr_fallback": reason[:600]})
        return False

    def _reload(self, text: str, *, timeout: float | None, verify: bool) -> Delta:
        """The reload path: write, check, ``frr-reload.py --reload`` and (with `verify`) ``--test``."""
        path = self.write_file(CANDIDATE, text, timeout=timeout)
        check = self._run(self.vtysh_argv("-C", "-f", path), timeout=timeout)
        if not check.ok:
            raise ApplyError(check.describe(), retryable=False, phase="frr:check")
        reload = self._run(self.reload_argv("--reload", path), timeout=timeout)
        if not reload.ok or reported_failure(reload):
            restored = self._restore(timeout)
            raise ApplyError(
                f"{reload.describe()}; last good config {restored}", retryable=True, phase="frr:reload"
            )
        self._remember_good(text, timeout)
        if not verify:
            return Delta()
        return self.verify(CANDIDATE, timeout=timeout)  # the candidate file holds `text` already

    def _restore(self, timeout: float | None) -> str:
        """Reload the last good config; says how that went (for the error message)."""
        if self.last_good() is None:
            return "not available (nothing applied yet)"
        result = self._run(self.reload_argv("--reload", self._path(LAST_GOOD)), timeout=timeout)
        return "restored" if result.ok else f"could not be restored either ({result.describe()[:200]})"
