"""The routing half of a firewall sync: the kernel plumbing of its VRFs and FRR, from `FirewallState`.

Blocking calls (netlink, vtysh, frr-reload.py): the syncer runs every method here in a worker thread.
The order is the caller's (`Syncer.sync`): `check_adoption` (FRR config we did not write is not
overwritten without `adopt`) → `plumb` (devices FRR needs) → `configure` (FRR) → `unplumb` (devices FRR
no longer names).  FRR is reloaded when the rendered file differs from the one last
applied by this process, and at least every `refresh` seconds (which repairs drift: the reload
converges FRR on the file, `--test` must then be empty); the plumbing is observed on every sync and
touched only where it differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fabric.adapters.adoption import check_adoption
from fabric.adapters.frr import FrrAdapter
from fabric.adapters.netlink import Netlink
from fabric.core.frr_model import FrrOptions
from fabric.core.plumbing import PhasedPlan, RemoveLink, phase_plan, plan_plumbing
from fabric.model import FirewallState
from fabric.model.status import BgpSession
from fabric.render.frr import render_firewall_frr

DRIFT_MAX = 100


class Routing:
    """FRR (through the switch daemon's `FrrAdapter`) and netlink plumbing of one firewall.

    `frr` None: FRR is not managed; `plumbing` False: the VRF devices are not managed (FRR's netns VRF
    backend, where the VRFs are namespaces, or devices made by something else); `adopt`: take over FRR
    config the daemon did not write (the switch daemon's ``--adopt``).
    """

    def __init__(
        self,
        frr: FrrAdapter | None,
        *,
        vrf_backend: str = "kernel",
        plumbing: bool = True,
        netns: str | None = None,
        refresh: float = 300.0,
        adopt: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.frr, self.vrf_backend = frr, vrf_backend
        self.plumbing, self.netns = plumbing, netns
        self.refresh, self.clock, self.adopt = refresh, clock, adopt
        self.applied_frr: str | None = None  # the file FRR last converged on, from this process
        self.applied_at = 0.0
        self.version: str | None = None

    # -- plumbing ----------------------------------------------------------------------------------
    def plumb(self, state: FirewallState) -> list[RemoveLink]:
        """Make the devices `state` needs (replacing wrong ones); returns the removals for `unplumb`.

        Raises `ApplyError` (phase ``netlink:<verb>``); a kernel without VRF devices fails at the first
        VRF, before any bridge or vxlan device is made.
        """
        if not self.plumbing:
            return []
        with Netlink(self.netns) as netlink:
            plan: PhasedPlan = phase_plan(state, plan_plumbing(state, netlink.links()))
            netlink.apply(plan.before)
        return plan.after

    def unplumb(self, removals: list[RemoveLink]) -> None:
        """Remove devices no VRF asks for any more (after FRR stopped naming them)."""
        if not self.plumbing or not removals:
            return
        with Netlink(self.netns) as netlink:
            netlink.apply(removals)

    # -- FRR ---------------------------------------------------------------------------------------
    def check_adoption(self, state: FirewallState) -> None:
        """Refuse (`ApplyError`, phase ``frr:adopt``, with the delta) to overwrite FRR config this daemon
        did not write, unless `adopt`; the caller runs it before plumbing, which a foreign FRR config
        may rely on too.  Cheap once a file of ours was applied (the adapter remembers it)."""
        if self.frr is not None and self.checks_adoption:
            check_adoption(self.frr, self.render(state), adopt=False)

    @property
    def checks_adoption(self) -> bool:
        """Whether `check_adoption` can refuse (FRR managed, `adopt` off)."""
        return self.frr is not None and not self.adopt

    def render(self, state: FirewallState) -> str:
        """The firewall's frr.conf for the FRR release running here and the configured VRF backend."""
        if self.frr is not None and self.version is None:
            self.version = self.frr.version()
        options = FrrOptions(frr_version=self.version, netns_vrfs=self.vrf_backend == "netns")
        return render_firewall_frr(state, options)

    def configure(self, state: FirewallState) -> list[str] | None:
        """Reload FRR with the rendered config when it changed (or `refresh` passed); returns the drift
        lines left after the reload, or None when FRR was not touched.

        Raises `ValidationError` for a state the backend cannot render (netns VRFs cannot leak routes)
        and `ApplyError` (phase ``frr:<step>``) when FRR refuses it; the last good file is restored then.
        """
        if self.frr is None:
            return None
        text = self.render(state)
        fresh = self.clock() - self.applied_at < self.refresh
        if text == self.applied_frr and fresh:
            return None
        self.applied_frr = None  # until this reload is through
        drift = self.frr.apply(text)
        self.applied_frr, self.applied_at = text, self.clock()
        return drift.lines()[:DRIFT_MAX]

    def bgp_sessions(self) -> list[BgpSession]:
        """The firewall's BGP sessions (empty when FRR is not managed or does not answer)."""
        return self.frr.bgp_sessions() if self.frr is not None else []
