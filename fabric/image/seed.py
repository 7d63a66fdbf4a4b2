"""The seed: what makes one booted firewall image a particular firewall (pure: data in, files out).

One image serves every firewall.  At every boot, `fabric-seed.service` looks for a small filesystem
labelled ``fabric-seed`` (a second disk, a USB stick, a CD; any filesystem the kernel reads) holding
one file, ``seed.yaml``, validates it whole, and only then writes the files below.  A seed that is
missing or wrong writes nothing, and `fabric-firewall.service` (which requires the seed service) does
not start: the firewall never runs half-configured.

`Seed` is the format (`EXAMPLE` is a complete one); `seed_files(seed)` is everything the seed
decides on the image, as `SeedFile`s with absolute paths.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import pydantic
import yaml
from pydantic import Field, field_validator, model_validator

from fabric.errors import ValidationError
from fabric.model.base import Model
from fabric.model.names import IfName, Name

LABEL = "fabric-seed"
FILE = "seed.yaml"
CONFIG = "/etc/fabric/firewall.yaml"
TOKEN = "/etc/fabric/firewall.token"
CA = "/etc/fabric/ca.pem"
KUBECONFIG = "/etc/fabric/kubeconfig"
_MAC = r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"
_PEM = "-----BEGIN CERTIFICATE-----"


class SeedApi(Model):
    """Where `fabric api` is and how this firewall authenticates to it."""

    url: str = Field(pattern=r"^https?://[^\s/]+", description="Base URL of `fabric api`.")
    token: str = Field(
        min_length=16,
        pattern=r"^\S+$",
        description="This firewall's own token (`fabric token create firewall NAME`); written 0600.",
    )
    ca: str | None = Field(default=None, description="PEM of the CA that signs the API's certificate.")

    @field_validator("ca")
    @classmethod
    def _pem(cls, value: str | None) -> str | None:
        if value is not None and _PEM not in value:
            raise ValueError(f"is not a PEM certificate (no {_PEM!r} line)")
        return value


class SeedNic(Model):
    """A NIC that the seed names: matched by its MAC address, renamed to `name`."""

    name: IfName
    mac: str = Field(pattern=_MAC, description="Lower-case MAC address, e.g. 52:54:00:00:00:01.")


class SeedPort(SeedNic):
    """A fabric-facing NIC (cabled to a leaf)."""

    mtu: int = Field(
        default=9000, ge=1280, le=9216, description="The fabric's jumbo frames: VXLAN adds 50 bytes."
    )


class SeedManagement(SeedNic):
    """The management NIC: DHCP, or static `addresses` with a `gateway`."""

    dhcp: bool = Field(default=True, description="Ask DHCP for the address (ignored with addresses).")
    addresses: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = Field(
        default_factory=list, description="Static addresses with prefix length, e.g. 192.0.2.10/24."
    )
    gateway: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = Field(
        default_factory=list, description="Default gateways (one per family at most)."
    )
    dns: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_gateway_per_family(self) -> SeedManagement:
        families = [gw.version for gw in self.gateway]
        if len(families) != len(set(families)):
            raise ValueError("gateway: more than one gateway of one address family")
        return self


class Seed(Model):
    """``seed.yaml``: this firewall's identity, credentials and NICs."""

    name: Name = Field(description="The firewall's name in `fabric api` (also the hostname).")
    api: SeedApi
    kubeconfig: str = Field(
        min_length=1, description="The tenant cluster's kubeconfig (YAML text); written 0600."
    )
    ports: list[SeedPort] = Field(
        min_length=1, description="The fabric-facing NICs, named as the FirewallState's uplinks (lan0, lan1)."
    )
    management: SeedManagement
    ntp: list[str] = Field(default_factory=list, description="NTP servers for chrony; none: no network time.")
    ssh_authorized_keys: list[str] = Field(default_factory=list, description="Keys that may log in as root.")
    firewall: dict[str, Any] = Field(
        default_factory=dict,
        description="More fields of the daemon's configuration (e.g. isolation: kubernetes).",
    )

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig(cls, value: str) -> str:
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ValueError(f"is not YAML: {exc}") from None
        if not isinstance(parsed, dict) or not parsed.get("clusters"):
            raise ValueError("is not a kubeconfig (no clusters)")
        return value

    @field_validator("ntp")
    @classmethod
    def _ntp(cls, value: list[str]) -> list[str]:
        for server in value:
            if not server or any(c.isspace() for c in server):
                raise ValueError(f"{server!r} is not a host name or address")
        return value

    @field_validator("ssh_authorized_keys")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if "\n" in key or not key.startswith(("ssh-", "ecdsa-", "sk-")):
                raise ValueError(f"{key[:20]!r}... is not one OpenSSH public key line")
        return value

    @model_validator(mode="after")
    def _distinct_nics(self) -> Seed:
        nics = [*self.ports, self.management]
        for attr in ("name", "mac"):
            values = [getattr(nic, attr) for nic in nics]
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"ports and management share the {attr} {', '.join(twice)}")
        return self

    def daemon_config(self) -> dict[str, Any]:
        """The daemon's configuration file as a mapping (validated by `seed_files`)."""
        api: dict[str, Any] = {"url": self.api.url, "token_file": TOKEN}
        if self.api.ca:
            api["ca"] = CA
        return {
            "name": self.name,
            **self.firewall,
            "api": {**api, **self.firewall.get("api", {})},
            "kube": {"kubeconfig": KUBECONFIG, **self.firewall.get("kube", {})},
        }


@dataclass(frozen=True)
class SeedFile:
    """One file the seed writes: an absolute path on the image, its text and mode."""

    path: str
    text: str
    mode: int = 0o644


def parse_seed(text: str, where: str = FILE) -> Seed:
    """Parse and validate ``seed.yaml`` text; `ValidationError` names every bad field of `where`."""
    from fabric.model import problems_of

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(f"{where}: not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{where}: expected a mapping at the top level")
    try:
        seed = Seed.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [(f"{where}: {path}", why) for path, why in problems_of(exc, "seed")]
        raise ValidationError("invalid seed", problems=problems) from None
    _check_daemon_config(seed, where)
    return seed


def _check_daemon_config(seed: Seed, where: str) -> None:
    from fabric.firewall.config import FirewallConfig
    from fabric.model import problems_of

    try:
        FirewallConfig.model_validate(seed.daemon_config())
    except pydantic.ValidationError as exc:
        problems = [(f"{where}: firewall.{path}", why) for path, why in problems_of(exc, "firewall")]
        raise ValidationError("invalid seed", problems=problems) from None


def seed_files(seed: Seed) -> list[SeedFile]:
    """Every file `seed` decides on the image, in the order they are written."""
    files = [
        SeedFile("/etc/hostname", f"{seed.name}\n"),
        SeedFile("/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{seed.name}\n::1\tlocalhost\n"),
        SeedFile(CONFIG, yaml.safe_dump(seed.daemon_config(), sort_keys=False), 0o640),
        SeedFile(TOKEN, seed.api.token + "\n", 0o600),
        SeedFile(KUBECONFIG, seed.kubeconfig, 0o600),
        SeedFile(
            "/etc/chrony/sources.d/fabric-seed.sources", "".join(f"server {s} iburst\n" for s in seed.ntp)
        ),
        SeedFile("/root/.ssh/authorized_keys", "".join(k + "\n" for k in seed.ssh_authorized_keys), 0o600),
    ]
    if seed.api.ca:
        files.append(SeedFile(CA, seed.api.ca))
    for nic in [*seed.ports, seed.management]:
        files.append(SeedFile(f"/etc/systemd/network/10-fabric-{nic.name}.link", _link(nic)))
    for port in seed.ports:
        files.append(SeedFile(f"/etc/systemd/network/20-fabric-{port.name}.network", _port_network(port)))
    files.append(
        SeedFile(
            f"/etc/systemd/network/20-fabric-{seed.management.name}.network", _mgmt_network(seed.management)
        )
    )
    return files


def _link(nic: SeedNic) -> str:
    return f"[Match]\nMACAddress={nic.mac}\n\n[Link]\nName={nic.name}\n"


def _port_network(port: SeedPort) -> str:
    # Up with an IPv6 link-local address only: BGP unnumbered towards the leaf (FRR sends the RAs).
    return (
        f"[Match]\nName={port.name}\n\n[Link]\nMTUBytes={port.mtu}\nRequiredForOnline=no\n\n"
        "[Network]\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\nLLDP=no\nEmitLLDP=no\n"
    )


def _mgmt_network(mgmt: SeedManagement) -> str:
    lines = ["[Match]", f"Name={mgmt.name}", "", "[Network]"]
    if not mgmt.addresses:
        lines.append("DHCP=yes" if mgmt.dhcp else "DHCP=no")
    lines += [f"Address={address}" for address in mgmt.addresses]
    lines += [f"Gateway={gateway}" for gateway in mgmt.gateway]
    lines += [f"DNS={server}" for server in mgmt.dns]
    lines.append("IPv6AcceptRA=no")
    return "\n".join(lines) + "\n"


EXAMPLE = """\
# seed.yaml: on a file system labelled fabric-seed (`fabric image seed disk seed.yaml -o seed.img`).
name: fw01                                  # the firewall's name in fabric api; also the hostname
api:
  url: https://fabric-api.example:8443
  token: 0123456789abcdef-replace-me        # `fabric token create firewall fw01`; written 0600
  ca: |                                     # optional: the CA that signs the API's certificate
    -----BEGIN CERTIFICATE-----
    MIIB...
    -----END CERTIFICATE-----
kubeconfig: |                               # the tenant cluster's API server; written 0600
  apiVersion: v1
  kind: Config
  clusters: [{name: c, cluster: {server: "https://k8s.example:6443"}}]
  users: [{name: fw, user: {token: replace-me}}]
  contexts: [{name: c, context: {cluster: c, user: fw}}]
  current-context: c
ports:                                      # the fabric ports, named as the FirewallState's uplinks
  - {name: lan0, mac: "52:54:00:00:01:00"}
  - {name: lan1, mac: "52:54:00:00:01:01"}
management:                                 # DHCP, or addresses + gateway
  name: mgmt0
  mac: "52:54:00:00:01:02"
  addresses: [192.0.2.10/24]
  gateway: [192.0.2.1]
ntp: [ntp1.example, ntp2.example]           # chrony's servers; none: no network time
ssh_authorized_keys:
  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyOnly operator@example
firewall:                                   # more fields of the daemon's configuration
  isolation: kubernetes
"""
