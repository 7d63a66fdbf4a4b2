"""The lab's machine agent (`python -m lab.machine CONFIG.json`): a machine runs FRR from its
`MachineState`.  Lab code: what a provisioned server's own tooling would do (metal-stack's
metal-networker, run once at install) done continuously for the namespace lab.

It watches ``GET /v1/machines/NAME/state``, renders the document with `render_machine_frr`, applies it
through the same FRR adapter the switch daemon uses (``vtysh -C``, ``frr-reload.py``, empty delta after)
and puts the machine's own host addresses (the /32 and /128 of `announce`) on ``lo``.  A machine that is
not allocated (the API answers 404) gets the bare config (hostname only) and no addresses.  The API has
no long-poll for a document that does not exist, so an unallocated machine is polled every
`ABSENT_POLL_S`; an allocated one is long-polled.

The agent is also the machine's **load-balancer speaker** (a STAND-IN for MetalLB's, which announces a
Service's load-balancer IPs from the node that serves it): the addresses listed in the JSON file
`speaker_file` (written by `speak`, re-read every `SPEAKER_POLL_S`) are put on ``lo`` and announced
beside the document's own, while the machine is allocated.  Its leaves accept them only when they are
the project's external IPs held by no machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from fabric.adapters.api_client import ApiClient, ApiError
from fabric.adapters.frr import FrrAdapter
from fabric.adapters.process import run
from fabric.errors import ApplyError
from fabric.model.machine import MachineState
from fabric.render.frr import render_machine_frr
from fabric.runtime.config import FrrSettings
from lab.rig.daemon import wrap

log = logging.getLogger("lab.machine")
ABSENT_POLL_S = 0.25
SPEAKER_POLL_S = 0.25
WATCH_WAIT_S = 30.0
RETRY_S = 1.0


@dataclass(frozen=True)
class AgentConfig:
    """One machine: its name, namespace, FRR directory, and the API."""

    name: str
    netns: str
    frr_dir: str
    url: str
    token_file: str
    speaker_file: str = ""  # the load-balancer IPs this machine announces (JSON list); none: no file


def speak(cfg: AgentConfig, addresses: list[str]) -> None:
    """Have the machine of `cfg` announce `addresses` (load-balancer IPs), replacing what it did."""
    path = Path(cfg.speaker_file)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(sorted(addresses)) + "\n")
    tmp.replace(path)  # whole or not at all: the agent never reads half a list


def spoken(cfg: AgentConfig) -> list[str]:
    """The addresses the speaker file lists (none while it does not exist)."""
    path = Path(cfg.speaker_file) if cfg.speaker_file else None
    if path is None or not path.exists():
        return []
    return [str(ipaddress.ip_address(a)) for a in json.loads(path.read_text())]


def speaking(state: MachineState | None, addresses: list[str]) -> MachineState | None:
    """`state` announcing `addresses` too (host prefixes); an unallocated machine announces nothing."""
    if state is None or state.vrf is None or not addresses:
        return state
    hosts = [str(ipaddress.ip_network(a)) for a in addresses]
    data = state.model_dump(mode="json", by_alias=True) | {"hash": ""}
    return MachineState.model_validate(data | {"announce": [*data["announce"], *hosts]})


def bare_config(name: str) -> str:
    """frr.conf of a machine that is not allocated: no routing at all."""
    return f"frr defaults traditional\nhostname {name}\nservice integrated-vtysh-config\n!\nend\n"


def host_addresses(state: MachineState | None) -> set[str]:
    """The machine's own addresses (host prefixes of `announce`) that belong on ``lo``."""
    if state is None:
        return set()
    out = set()
    for prefix in state.announce:
        net = ipaddress.ip_network(str(prefix).split()[0])
        if net.prefixlen == net.max_prefixlen:
            out.add(str(net))
    return out


class Agent:
    """Keeps one machine's FRR and ``lo`` addresses equal to its document (and its speaker's list)."""

    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.frr = FrrAdapter(
            FrrSettings(
                exec_prefix=wrap([], netns=cfg.netns, hostname=cfg.name),
                config_dir=cfg.frr_dir,
                vty_socket_dir=cfg.frr_dir,
                rundir=cfg.frr_dir,
            )
        )
        self.applied: str | None = None
        self.document: MachineState | None = None
        self.speaker: list[str] = []
        self._lock = asyncio.Lock()  # the watch and the speaker converge one at a time

    def converge(self, state: MachineState | None) -> None:
        """Apply the FRR config and addresses of `state` (None: not allocated)."""
        text = render_machine_frr(state) if state is not None else bare_config(self.cfg.name)
        self._addresses(host_addresses(state))
        if text != self.applied:
            drift = self.frr.apply(text)
            if not drift.empty:
                log.warning("frr drift after reload: %s", drift.lines())
            self.applied = text
        log.info("applied revision %s", state.revision if state else "none (not allocated)")

    async def _converge(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self.converge, speaking(self.document, self.speaker))

    def _addresses(self, want: set[str]) -> None:
        have = self._lo_addresses()
        for addr in sorted(want - have):
            run(["ip", "-n", self.cfg.netns, "addr", "replace", addr, "dev", "lo"], timeout=10)
        for addr in sorted(have - want):
            run(["ip", "-n", self.cfg.netns, "addr", "del", addr, "dev", "lo"], timeout=10)

    def _lo_addresses(self) -> set[str]:
        result = run(["ip", "-n", self.cfg.netns, "-j", "addr", "show", "dev", "lo"], timeout=10)
        out = set()
        for link in json.loads(result.stdout or "[]") if result.ok else []:
            for a in link.get("addr_info", []):
                if a.get("scope") == "global":
                    out.add(str(ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False)))
        return out

    async def run(self) -> None:
        """Watch the document and the speaker's list forever; errors are logged and retried after
        `RETRY_S`."""
        token = Path(self.cfg.token_file).read_text().strip()
        async with ApiClient(self.cfg.url, token) as api:
            await asyncio.gather(self._watch(api), self._listen())

    async def _watch(self, api: ApiClient) -> None:
        since: int | None = None
        while True:
            try:
                since = await self._step(api, since)
            except (ApiError, ApplyError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("retrying: %s", exc)
                await asyncio.sleep(RETRY_S)

    async def _listen(self) -> None:
        """Follow the speaker file: converge again whenever its list changes (and after a failed
        converge, at the next poll)."""
        while True:
            before = self.speaker
            try:
                addresses = spoken(self.cfg)
                if addresses != before:
                    self.speaker = addresses
                    log.info("speaker: announcing %s", ", ".join(addresses) or "nothing")
                    await self._converge()
            except (ValueError, ApplyError, OSError) as exc:
                self.speaker = before
                log.warning("speaker: %s", exc)
            await asyncio.sleep(SPEAKER_POLL_S)

    async def _step(self, api: ApiClient, since: int | None) -> int | None:
        try:
            if since is None:
                fetched = await api.get_state("machine", self.cfg.name)
            else:
                fetched = await api.watch_state("machine", self.cfg.name, since, WATCH_WAIT_S)
        except ApiError as exc:
            if exc.status != 404:
                raise
            self.document = None
            if self.applied != bare_config(self.cfg.name):
                await self._converge()
            await asyncio.sleep(ABSENT_POLL_S)
            return None
        if fetched.document is None:  # 304: unchanged
            return since
        assert isinstance(fetched.document, MachineState)
        self.document = fetched.document
        await self._converge()
        return fetched.document.revision


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m lab.machine CONFIG.json`."""
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = AgentConfig(**json.loads(Path(args[0]).read_text()))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(Agent(cfg).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
