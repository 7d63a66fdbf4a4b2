"""The lab's control plane: `fabric api` on SQLite, the lab's intent applied, one `fabric switch run`
per switch, one machine agent per machine.  Every process is started through the lab's ledger.

Where things run: the API listens on 127.0.0.1 (a free port) in the host's namespaces, and so do the
switch daemons: what they drive is reachable from there (Redis is a unix socket; FRR is reached through
an exec prefix that enters the switch's namespace, as ``docker exec -i bgp`` enters SONiC's bgp
container).  Machine agents (`lab.machine`) run there too and enter the machine's namespace the same way.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from fabric.adapters.api_client import ApiClient
from fabric.adapters.process import run
from fabric.errors import FabricError
from lab.addressing import SwitchIdentity
from lab.intent import lab_intent, switch_config
from lab.machine import AgentConfig
from lab.rig import Rig, procs, wait_until
from lab.rig.daemon import Daemon, start_daemon
from lab.rig.ports import free_port
from lab.rig.run import Ledger
from lab.state import LabState, NodeRecord
from lab.topology import Topology

FABRIC = str(Path(sys.executable).parent / "fabric")
API_READY_S = 30.0


@dataclass(frozen=True)
class Api:
    """A running `fabric api`: its URL and the file holding the admin token."""

    url: str
    token_file: Path

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()

    def env(self) -> dict[str, str]:
        """The environment that points `fabric` client commands at this API."""
        return {**os.environ, "FABRIC_URL": self.url, "FABRIC_TOKEN": self.token}


def lab_api(state: LabState) -> Api:
    """The API of a running lab (URL and admin token file)."""
    if not state.api_url or not state.api_dir:
        raise ValueError(f"lab {state.name} runs no fabric api")
    return Api(state.api_url, Path(state.api_dir) / "admin.token")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def start_api(ledger: Ledger, state: LabState, directory: Path, *, port: int | None = None) -> Daemon:
    """`fabric api serve` on SQLite in `directory`, an admin token generated into it; waits for /healthz.

    Restarting it (`port` given) reuses the database and token.
    """
    token_file = directory / "admin.token"
    if not token_file.exists():
        token_file.write_text(secrets.token_hex(32) + "\n")
        token_file.chmod(0o600)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    db = f"sqlite:///{directory / 'fabric.db'}"
    argv = [FABRIC, "api", "serve", "--db", db, "--listen", f"127.0.0.1:{port}"]
    env = {**os.environ, "FABRIC_ADMIN_TOKEN": token_file.read_text().strip()}
    daemon = start_daemon(ledger, argv, what="fabric-api", log_path=directory / "api.log", env=env)
    wait_until(lambda: _healthy(url) or not daemon.alive(), timeout=API_READY_S, what="fabric api /healthz")
    if not daemon.alive():
        raise FabricError(f"fabric api did not start:\n{daemon.log_tail()}")
    state.api_url, state.api_dir = url, str(directory)
    state.daemons["api"] = (daemon.pid, daemon.item.start)
    return daemon


def apply_file(api: Api, path: Path) -> None:
    """`fabric apply -f path` against `api`; `FabricError` with its output when it fails."""
    result = run([FABRIC, "apply", "-f", str(path)], env=api.env(), timeout=60)
    if not result.ok:
        raise FabricError(f"fabric apply -f {path} failed: {result.describe()}\n{result.stdout}")


async def _switch_tokens(api: Api, names: list[str], directory: Path) -> dict[str, Path]:
    out = {}
    async with ApiClient(api.url, api.token) as client:
        for name in names:
            created = await client.request("POST", "/v1/tokens", {"role": "switch", "subject": name})
            path = directory / f"{name}.token"
            path.write_text(created["token"] + "\n")
            path.chmod(0o600)
            out[name] = path
    return out


def start_control(
    rig: Rig, topology: Topology, identities: dict[str, SwitchIdentity], state: LabState
) -> None:
    """The API with the lab's intent, a switch daemon per switch and an agent per machine."""
    directory = rig.tempdir("api")
    start_api(rig.ledger, state, directory)
    api = Api(state.api_url or "", directory / "admin.token")
    intent = directory / "lab.yaml"
    intent.write_text(yaml.safe_dump(lab_intent(topology, identities), sort_keys=False))
    apply_file(api, intent)
    tokens = asyncio.run(_switch_tokens(api, list(identities), directory))
    for name, me in identities.items():
        record = state.nodes[name]
        config = directory / f"switch-{name}.yaml"
        config.write_text(
            yaml.safe_dump(
                switch_config(
                    me,
                    netns=record.netns,
                    frr_dir=record.frr_dir or "",
                    database_config=record.database_config or "",
                    url=api.url,
                    token_file=str(tokens[name]),
                )
            )
        )
        record.switch_config = str(config)
        start_switch_daemon(rig.ledger, record)
    for name, node in topology.nodes.items():
        if node.labels.role == "machine":
            start_agent(rig.ledger, state.nodes[name], api, directory)
    start_kube(rig.ledger, state, directory)


def start_kube(ledger: Ledger, state: LabState, directory: Path) -> Daemon:
    """The cluster's API: the Kubernetes STAND-IN (`lab.kube`; no real API server runs here)."""
    token_file = directory / "kube.token"
    token_file.write_text(secrets.token_hex(16) + "\n")
    token_file.chmod(0o600)
    port = free_port()
    daemon = start_daemon(
        ledger,
        [sys.executable, "-m", "lab.kube", "127.0.0.1", str(port), str(token_file)],
        what="kube-standin",
        log_path=directory / "kube.log",
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: _answers(url) or not daemon.alive(), timeout=API_READY_S, what="the Kubernetes stand-in"
    )
    if not daemon.alive():
        raise FabricError(f"the Kubernetes stand-in did not start:\n{daemon.log_tail()}")
    state.kube_url, state.kube_token_file = url, str(token_file)
    state.daemons["kube"] = (daemon.pid, daemon.item.start)
    return daemon


def _answers(url: str) -> bool:
    """Whether an HTTP server answers at `url` (any status: the stand-in wants a token)."""
    try:
        with urllib.request.urlopen(url + "/api/v1/namespaces", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, urllib.error.URLError):
        return False


def start_switch_daemon(ledger: Ledger, record: NodeRecord) -> Daemon:
    """`fabric switch run --config` for the switch of `record` (its log beside the config)."""
    config = Path(record.switch_config or "")
    # A leaf's FRR starts holding the `vrf VrfN / netns ...` blocks zebra shows for the VRF namespaces
    # the lab made before it (lab.fabric_lab): FRR config the daemon did not write, so it must adopt it
    # (its rendering keeps these blocks: `frr.netns_vrfs_always`, lab.intent.switch_config).
    adopt = ["--adopt"] if record.role == "leaf" else []
    daemon = start_daemon(
        ledger,
        [FABRIC, "switch", "run", "--config", str(config), *adopt],
        what=f"fabric-switch@{record.name}",
        log_path=config.with_suffix(".log"),
    )
    record.daemons["fabric-switch"] = (daemon.pid, daemon.item.start)
    return daemon


def agent_file(directory: Path, name: str) -> Path:
    """The configuration file of machine `name`'s agent in the API's directory."""
    return directory / f"machine-{name}.json"


def agent_config(state: LabState, name: str) -> AgentConfig:
    """The configuration of machine `name`'s agent in a running lab."""
    return AgentConfig(**json.loads(agent_file(Path(state.api_dir or ""), name).read_text()))


def start_agent(ledger: Ledger, record: NodeRecord, api: Api, directory: Path) -> Daemon:
    """The machine agent (`lab.machine`) of the machine of `record`."""
    config = agent_file(directory, record.name)
    spec = {"name": record.name, "netns": record.netns, "frr_dir": record.frr_dir, "url": api.url}
    speaker = {"speaker_file": str(config.with_suffix(".speaker.json"))}
    config.write_text(json.dumps({**spec, "token_file": str(api.token_file), **speaker}) + "\n")
    daemon = start_daemon(
        ledger,
        [sys.executable, "-m", "lab.machine", str(config)],
        what=f"agent@{record.name}",
        log_path=config.with_suffix(".log"),
    )
    record.daemons["agent"] = (daemon.pid, daemon.item.start)
    return daemon


def stop(state: LabState, record_daemons: dict[str, tuple[int, int | None]], name: str) -> None:
    """Stop one recorded daemon by its PID (SIGTERM, then SIGKILL) and forget it in the ledger."""
    pid, start = record_daemons.pop(name)
    procs.terminate([(pid, start)])
    ledger = Ledger.load(state.directory)
    for item in [i for i in ledger.items if i.pid == pid]:
        ledger.forget(item)
    state.save()


def restart_api(state: LabState, *, stopped: bool = False) -> None:
    """Start the lab's API again on its port, database and token (after `stop(state, state.daemons,
    "api")`, or stopping it first unless `stopped`)."""
    if not stopped and "api" in state.daemons:
        stop(state, state.daemons, "api")
    port = int((state.api_url or "").rsplit(":", 1)[1])
    start_api(Ledger.load(state.directory), state, Path(state.api_dir or ""), port=port)
    state.save()


def restart_switch_daemon(state: LabState, node: str) -> None:
    """Stop and start the switch daemon of `node` (same configuration)."""
    record = state.node(node)
    stop(state, record.daemons, "fabric-switch")
    start_switch_daemon(Ledger.load(state.directory), record)
    state.save()
