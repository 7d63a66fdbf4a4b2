"""`FirewallState`: the VRFs, route leaking and SNAT of one firewall machine."""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any, Literal, Self

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer, model_validator

from fabric.model.base import Document, Model, Problems
from fabric.model.names import IfName, Name, RealAsn, Vni, VrfName
from fabric.model.prefixes import IPAddress, IPNetwork, address_key, normalise_networks


class Firewall(Model):
    """Identity of the firewall's BGP speaker and VTEP."""

    name: Name
    asn: RealAsn
    router_id: ipaddress.IPv4Address = Field(description="Its underlay address.")
    vtep: ipaddress.IPv4Address


class VrfImport(Model):
    """Routes leaked into a VRF from another one."""

    from_vrf: VrfName = Field(alias="from")
    prefixes: list[IPNetwork] = Field(min_length=1)
    no_export: bool = Field(default=False, description="Mark leaked routes no-export.")
    announced: list[IPNetwork] = Field(
        default_factory=list,
        description="Of `prefixes`, those leaked without no-export all the same: routed as they are (not "
        "translated), so the external network must learn them (e.g. a tenant's global IPv6 prefix). "
        "Left out of the JSON while empty.",
    )

    _sort = field_validator("prefixes", "announced")(normalise_networks)

    @model_validator(mode="after")
    def _announced_are_imported(self) -> Self:
        stray = [str(n) for n in self.announced if n not in self.prefixes]
        if stray:
            raise Problems([("announced", f"{', '.join(stray)} not in prefixes")])
        return self

    @model_serializer(mode="wrap")
    def _omit_unannounced(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Absent while empty: documents without the field keep their hash (backward compatible).
        data = handler(self)
        if isinstance(data, dict) and not self.announced:
            data.pop("announced", None)
        return data


class FirewallVrf(Model):
    """One attached network as a VRF on the firewall."""

    name: VrfName
    vni: Vni
    kind: Literal["private", "external"]
    prefixes: list[IPNetwork] = Field(default_factory=list, description="The network's own prefixes.")
    destination_prefixes: list[IPNetwork] = Field(
        default_factory=list, description="What is reachable through it (external), e.g. 0.0.0.0/0."
    )
    imports: list[VrfImport] = Field(default_factory=list)
    addresses: list[IPAddress] = Field(
        default_factory=list,
        description=(
            "The firewall's own addresses in this external VRF (inside its `prefixes`): announced from "
            "the VRF as host routes and the only addresses an `snat` rule of the VRF may translate `to`."
        ),
    )

    _sort_prefixes = field_validator("prefixes", "destination_prefixes")(normalise_networks)

    @field_validator("addresses")
    @classmethod
    def _sort_addresses(cls, v: list[IPAddress]) -> list[IPAddress]:
        return sorted(set(v), key=address_key)

    @field_validator("imports")
    @classmethod
    def _sort_imports(cls, v: list[VrfImport]) -> list[VrfImport]:
        return sorted(v, key=lambda i: i.from_vrf)


class Snat(Model):
    """Source NAT for traffic of `sources` leaving through `vrf`."""

    vrf: VrfName
    sources: list[IPNetwork] = Field(min_length=1)
    to: Literal["masquerade"] | list[IPAddress] = "masquerade"

    _sort_sources = field_validator("sources")(normalise_networks)

    @field_validator("to")
    @classmethod
    def _sort_to(cls, v: str | list[IPAddress]) -> str | list[IPAddress]:
        if isinstance(v, list):
            if not v:
                raise ValueError("give at least one address, or masquerade")
            return sorted(set(v), key=address_key)
        return v


class FirewallState(Document):
    """Desired state of one firewall."""

    firewall: Firewall
    uplinks: list[IfName] = Field(min_length=1, max_length=2)
    vrfs: list[FirewallVrf] = Field(default_factory=list)
    snat: list[Snat] = Field(default_factory=list)
    cluster_prefixes: list[IPNetwork] = Field(
        default_factory=list, description="Node and pod prefixes of the tenant cluster."
    )

    _sort_cluster = field_validator("cluster_prefixes")(normalise_networks)

    @field_validator("vrfs")
    @classmethod
    def _sort_vrfs(cls, v: list[FirewallVrf]) -> list[FirewallVrf]:
        return sorted(v, key=lambda vrf: vrf.vni)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = list(_firewall_problems(self))
        if problems:
            raise Problems(problems)
        return self

    def vrf(self, name: str) -> FirewallVrf | None:
        """The VRF called `name`, or None."""
        return next((v for v in self.vrfs if v.name == name), None)


def _firewall_problems(state: FirewallState) -> list[tuple[str, str]]:
    problems = []
    if len(set(state.uplinks)) != len(state.uplinks):
        problems.append(("uplinks", "a NIC is listed twice"))
    counts: list[tuple[str, Counter[str | int]]] = [
        ("name", Counter(v.name for v in state.vrfs)),
        ("VNI", Counter(v.vni for v in state.vrfs)),
    ]
    for what, counter in counts:
        for value, count in counter.items():
            if count > 1:
                problems.append((f"vrfs[{value}]", f"{what} {value} is listed {count} times"))
    for vrf in state.vrfs:
        for imp in vrf.imports:
            if imp.from_vrf == vrf.name:
                problems.append((f"vrfs[{vrf.name}].imports[{imp.from_vrf}]", "a VRF cannot import itself"))
            elif state.vrf(imp.from_vrf) is None:
                problems.append(
                    (f"vrfs[{vrf.name}].imports[{imp.from_vrf}]", f"VRF {imp.from_vrf} is not in vrfs")
                )
        if vrf.kind == "private" and vrf.destination_prefixes:
            problems.append((f"vrfs[{vrf.name}].destination_prefixes", "only external VRFs have them"))
        problems.extend(_address_problems(vrf))
    problems.extend(_snat_problems(state))
    return problems


def _snat_problems(state: FirewallState) -> list[tuple[str, str]]:
    problems = []
    translated: Counter[tuple[str, int]] = Counter()
    for i, rule in enumerate(state.snat):
        families = sorted({n.version for n in rule.sources})
        translated.update((rule.vrf, family) for family in families)
        target = state.vrf(rule.vrf)
        if target is None:
            problems.append((f"snat[{i}].vrf", f"VRF {rule.vrf} is not in vrfs"))
        elif target.kind != "external":
            problems.append((f"snat[{i}].vrf", f"VRF {rule.vrf} is {target.kind}; SNAT leaves via external"))
        elif isinstance(rule.to, list):
            problems.extend(
                (f"snat[{i}].to", f"{a} is not an address of the firewall in {rule.vrf} (vrfs[].addresses)")
                for a in rule.to
                if a not in target.addresses
            )
            # Else that family would leave untranslated without anyone saying so.
            problems.extend(
                (f"snat[{i}].to", f"no IPv{f} address to translate the IPv{f} sources to (or masquerade)")
                for f in families
                if all(a.version != f for a in rule.to)
            )
    problems.extend(
        (f"snat[{vrf}]", f"IPv{family} leaving {vrf} is translated by {count} rules; give one")
        for (vrf, family), count in sorted(translated.items())
        if count > 1
    )
    return problems


def _address_problems(vrf: FirewallVrf) -> list[tuple[str, str]]:
    if vrf.addresses and vrf.kind != "external":
        return [(f"vrfs[{vrf.name}].addresses", "only external VRFs have the firewall's own addresses")]
    return [
        (f"vrfs[{vrf.name}].addresses", f"{a} is outside the VRF's prefixes")
        for a in vrf.addresses
        if not any(a.version == p.version and a in p for p in vrf.prefixes)
    ]
