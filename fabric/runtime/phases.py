"""Where a sync can fail: every `failing_phase` a daemon reports, what it means and what to do.

A reported phase is `<kind>` or `<kind>:<detail>` (`frr:reload`, `configdb:add-vrf`, `state-wait:add-vrf`,
`netlink:vxlan`); a sync cancelled by its deadline reports the step it was in the same way.  `PHASES`
is keyed by the kind; `explain(phase)` finds a phase's entry.  The docs' failure reference is generated
from this table, and a test checks that every phase the code raises has an entry here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    """One kind of failure: the daemon(s) reporting it, whether the loop retries, and what to do."""

    daemons: str  # switch, firewall, both, or a CLI command
    meaning: str
    retried: str  # "yes", "no", or when
    action: str


PHASES: dict[str, Phase] = {
    "preconditions": Phase(
        "switch",
        "The switch lacks what fabric builds on: VTEP (`VXLAN_TUNNEL`, `VXLAN_EVPN_NVO`), loopback, the PXE "
        "VLAN, a port the document names, split routing config mode, or a known FRR version. Nothing was "
        "written.",
        "yes, with backoff",
        "Add what the reason names to the switch's base configuration; the daemon converges by itself.",
    ),
    "plan": Phase(
        "switch",
        "No plan reaches the document from what the switch holds (e.g. no free local VLAN for a new VRF).",
        "no, until the document or the switch changes",
        "Read the reason; widen `vlan_range` of the partition or free VLANs configured by hand.",
    ),
    "guard": Phase(
        "switch",
        "The plan would take down more ports or VRFs at once than `guard` allows. Nothing was written.",
        "no, until the document changes",
        "Check the intent (a wrong cabling report, a deleted network). If it is meant: `--force` once, or "
        "raise `guard.max_port_share` / `guard.max_vrf_share`.",
    ),
    "input": Phase(
        "both",
        "The daemon refuses its desired state (it fails a check the store should have made).",
        "no, until the document changes",
        "Report it: the store let through a document its daemon refuses (`fabric api state KIND NAME` "
        "shows it).",
    ),
    "crash": Phase(
        "both",
        "A bug: an unexpected exception (its traceback is in the daemon's log).",
        "yes, with backoff; after 3 crashes in a row the daemon exits and systemd restarts it",
        "Report it with the log. The last applied configuration stays in place meanwhile.",
    ),
    "sync": Phase(
        "switch",
        "The sync deadline passed before the first step.",
        "yes, with backoff",
        "Look for a slow or hung Redis or FRR; raise `sync_deadline` if the switch is merely slow.",
    ),
    "configdb": Phase(
        "switch",
        "Reading or writing CONFIG_DB failed (`configdb:read`, `configdb:<plan phase>`: Redis gone or "
        "slow; `configdb:preconditions`: the VTEP, EVPN or loopback is missing, or keys fabric does "
        "not own stand in the way: a port in a PortChannel or a foreign VLAN, addresses configured by "
        "hand, a VLAN or VRF to be removed that foreign keys still use).",
        "yes, with backoff",
        "Check SONiC's Redis (`database_config.json`, its socket); a phase is one atomic script call, "
        "so nothing of a failed phase was written. For `configdb:preconditions`: add what is missing, or "
        "remove the foreign keys the reason names.",
    ),
    "appldb": Phase(
        "switch",
        "Reading APPL_DB (LLDP neighbours, port state) failed.",
        "yes, with backoff",
        "Check SONiC's Redis.",
    ),
    "state-wait": Phase(
        "switch",
        "SONiC's managers did not show a phase's result in STATE_DB before the deadline "
        "(`state-wait:<plan phase>`).",
        "yes, with backoff",
        "Check SONiC's managers (vrfmgrd, vlanmgrd, intfmgrd, vxlanmgrd) and their logs.",
    ),
    "frr": Phase(
        "both",
        "FRR refused or could not take a configuration: `frr:check` (syntax), `frr:reload` (the last good "
        "file was restored), `frr:write`, `frr:verify`, `frr:test`, `frr:observe`, `frr:adopt` (FRR holds "
        "configuration fabric did not write).",
        "yes, with backoff (`frr:check`, `frr:adopt`: no)",
        "The reason carries FRR's words; `fabric render switch|firewall` reproduces the file offline. For "
        "`frr:adopt` review the delta, then start once with `--adopt`.",
    ),
    "nft": Phase(
        "firewall",
        "nftables refused the table (`nft:check`, `nft:load`: nothing changed, the previous table stays) "
        "or an element update (`nft:elements`: the whole table is loaded instead); `nft:list`, "
        "`nft:counters`, `nft:remove`.",
        "yes, with backoff when nft timed out; a refused script no",
        "Report a refused script with the status; `fabric firewall compile` reproduces it offline.",
    ),
    "netlink": Phase(
        "firewall",
        "Making the VRF, bridge, VXLAN or address devices failed (`netlink:<verb>`), e.g. a device of "
        "the name exists but is something else.",
        "yes, with backoff unless the kernel's answer is final",
        "Check the kernel (VRF support, `ip -d link`); remove a foreign device of the same name.",
    ),
    "plumbing": Phase(
        "firewall",
        "The sync deadline passed while the firewall's devices were made or removed.",
        "yes, with backoff",
        "Check the kernel's netlink answers.",
    ),
    "kube": Phase(
        "firewall",
        "The cluster's API answered with an error while listing or watching.",
        "yes, with backoff",
        "Check the kubeconfig, the token's RBAC (list and watch Services, NetworkPolicies, Pods, "
        "Namespaces) and the API server.",
    ),
    "compile": Phase(
        "firewall",
        "The firewall cannot compile its policy (e.g. its `FirewallState` has no `cluster_prefixes`).",
        "no, until the document changes",
        "Allocate the firewall for the cluster's networks.",
    ),
    "count": Phase(
        "firewall",
        "The sync deadline passed while the applied table's rules and elements were counted.",
        "yes, with backoff",
        "Check nft.",
    ),
    "pg_dump": Phase(
        "`fabric api backup`", "pg_dump failed.", "no", "Run pg_dump by hand with the same URL."
    ),
    "psql": Phase("`fabric api restore`", "psql failed.", "no", "Run psql by hand with the same file."),
}


def explain(phase: str) -> Phase | None:
    """The entry of a reported `failing_phase` (by its kind), or None."""
    return PHASES.get(phase.split(":", 1)[0])
