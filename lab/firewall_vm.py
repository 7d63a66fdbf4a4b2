"""A firewall node of the lab booted from the firewall machine image: the product as shipped, in qemu.

The image is the one `fabric image build firewall` makes (built first when the cache lacks it).  Inside
it, everything is the product: systemd, the seed service, `fabric firewall run` with kernel VRFs, FRR
and nftables.  What the lab adds around it:

- its cables: one qemu tap device per NIC of the topology, plugged into the switch's namespace under
  the switch's port name (the switch's end of the cable), so the leaves see the firewall's own NICs;
- its seed: the node's name, a firewall token from the lab's API, a kubeconfig for the lab's cluster
  (the Kubernetes STAND-IN, `lab.kube`), its NICs by the MACs the lab's intent declares, the
  management link and an SSH key for `fabric lab exec`;
- its management path: relays from the VM's management link to the API and the stand-in on the host's
  loopback (`lab.vm.image.Forward`).

The VM boots under TCG (no usable KVM here), one vCPU: about a minute to a running daemon.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from fabric.adapters.api_client import ApiClient
from fabric.commands.image import firewall_unit
from fabric.image.build import Image, build_image
from fabric.image.seeding import make_seed_disk
from fabric.image.spec import firewall_spec
from lab.control import Api
from lab.intent import host_nics
from lab.kube import kubeconfig
from lab.rig import Rig
from lab.state import LabState
from lab.topology import Topology
from lab.vm.image import Forward, ImageVm, TapNic, management_seed, ssh_keypair

API_PORT, KUBE_PORT = 8080, 6443  # where the guest finds the API and the cluster on its management link


def firewall_image(progress: Callable[[str], None] = lambda _line: None) -> Image:
    """The firewall image from the cache, built first when the cache lacks it (`progress` hears how)."""
    return build_image(firewall_spec(firewall_unit()), progress=progress).image


async def _firewall_token(api: Api, name: str) -> str:
    async with ApiClient(api.url, api.token) as client:
        created = await client.request("POST", "/v1/tokens", {"role": "firewall", "subject": name})
    return str(created["token"])


def plugs(topology: Topology, state: LabState, node: str) -> list[TapNic]:
    """One tap per NIC of `node`, with the MAC the intent declares, plugged in at the far end."""
    macs = dict(host_nics(topology, node))
    taps = []
    for index, (own, far) in enumerate(topology.links_of(node)):
        tap = f"{state.prefix[-6:]}{node}{index}"[-15:]
        taps.append(TapNic(tap, macs[own.port], (state.nodes[far.node].netns, far.port)))
    return taps


def boot(rig: Rig, topology: Topology, state: LabState, node: str, *, api: Api, image: Image) -> ImageVm:
    """Start `node`'s VM (returns while it boots; its daemon reports to the API when it runs)."""
    directory = rig.tempdir(f"seed-{node}")
    key, public = ssh_keypair(directory)
    api_port, kube_port = (int(url.rsplit(":", 1)[1]) for url in (api.url, state.kube_url or ""))
    forwards = [Forward(API_PORT, api_port), Forward(KUBE_PORT, kube_port)]
    kube_token = Path(state.kube_token_file or "").read_text().strip()
    seed = {
        "name": node,
        "api": {"url": forwards[0].url, "token": asyncio.run(_firewall_token(api, node))},
        "kubeconfig": kubeconfig(forwards[1].url, kube_token),
        "ports": [{"name": own, "mac": mac} for own, mac in host_nics(topology, node)],
        "management": management_seed(),
        "ssh_authorized_keys": [public],
    }
    make_seed_disk(json.dumps(seed), directory / "seed.img")
    nics = plugs(topology, state, node)
    vm = ImageVm(rig, image, directory / "seed.img", key, name=node, nics=nics, forwards=forwards)
    vm.start()
    record = state.nodes[node]
    record.ssh = vm.ssh_argv()
    if vm.daemon is not None:
        record.daemons["qemu"] = (vm.daemon.pid, vm.daemon.item.start)
    return vm
