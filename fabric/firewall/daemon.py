"""Composition root of `fabric firewall run`: adapters from the configuration, wired into the loop.

The daemon owns `table inet fabric` (nft), the kernel devices of the firewall's VRFs (netlink) and FRR
(the switch daemon's `FrrAdapter`: vtysh -C, frr-reload.py --reload, an empty --test); FRR config it
did not write is taken over only with `adopt` (``--adopt``), as on the switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from fabric.adapters import sdnotify
from fabric.adapters.frr import FrrAdapter
from fabric.adapters.kube import ClusterCache, connect
from fabric.adapters.nft import NftTable
from fabric.firewall.config import FirewallConfig
from fabric.firewall.loop import Loop
from fabric.firewall.metrics import FirewallMetrics
from fabric.firewall.routing import Routing
from fabric.firewall.sync import Syncer
from fabric.runtime.api import StateClient, api_client
from fabric.runtime.config import timing

log = logging.getLogger(__name__)


def routing(cfg: FirewallConfig, *, adopt: bool = False) -> Routing | None:
    """FRR and plumbing as configured; None when the daemon manages neither.

    `adopt`: take over FRR config the daemon did not write (else the sync refuses at ``frr:adopt``).
    """
    if cfg.frr is None and cfg.plumbing is None:
        return None
    return Routing(
        FrrAdapter(cfg.frr) if cfg.frr is not None else None,
        vrf_backend=cfg.frr.vrf_backend if cfg.frr is not None else "kernel",
        plumbing=cfg.plumbing is not None,
        netns=cfg.plumbing.netns if cfg.plumbing is not None else None,
        refresh=cfg.resync_period,
        adopt=adopt,
    )


def build_loop(
    cfg: FirewallConfig,
    api: StateClient,
    cache: ClusterCache,
    metrics: FirewallMetrics | None = None,
    *,
    adopt: bool = False,
) -> Loop:
    """The daemon's loop over `api` and `cache` (both opened by the caller)."""
    table = NftTable(prefix=cfg.nft.exec_prefix, nft=cfg.nft.nft)
    syncer = Syncer(table, cfg.isolation, routing(cfg, adopt=adopt))
    periods = timing(cfg, cfg.api.watch_wait, debounce=cfg.debounce, debounce_max=cfg.debounce_max)
    return Loop(cfg.name, api, cache, syncer, timing=periods, metrics=metrics, notify=sdnotify.notify)


async def run(cfg: FirewallConfig, *, adopt: bool = False) -> None:
    """Run the daemon until cancelled (SIGTERM ends `asyncio.run`)."""
    metrics = FirewallMetrics()
    if cfg.metrics_port:
        metrics.serve(cfg.metrics_port, cfg.metrics_address)
    kube = await connect(cfg.kube.kubeconfig, cfg.kube.context)
    loop: Loop | None = None
    try:
        async with api_client(cfg.api, cfg.api.timeout) as api:
            cache = ClusterCache(kube, lambda: loop.dirty.set() if loop else None)
            for reflector in cache.reflectors:
                reflector.watch_timeout = cfg.kube.watch_timeout
            loop = build_loop(cfg, api, cache, metrics, adopt=adopt)
            log.info("fabric firewall %s: watching %s and the cluster", cfg.name, cfg.api.url)
            await loop.run(watchdog=sdnotify.watchdog_interval())
    finally:
        sdnotify.notify("STOPPING=1")
        await kube.close()


async def serve(cfg: FirewallConfig, *, adopt: bool = False) -> None:
    """`run` until SIGTERM or SIGINT, then stop cleanly (systemd's stop, Ctrl-C)."""
    task = asyncio.ensure_future(run(cfg, adopt=adopt))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
