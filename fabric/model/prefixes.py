"""Prefixes and prefix filters as the documents carry them."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Self

from pydantic import Field, model_validator
from pydantic.functional_validators import BeforeValidator

from fabric.model.base import Model


def _parse_network(value: Any) -> Any:
    # One parser for both families gives one clear message instead of one per union member.
    if isinstance(value, str):
        try:
            return ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a network: {exc}") from None
    return value


def _parse_address(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None
    return value


IPNetwork = Annotated[ipaddress.IPv4Network | ipaddress.IPv6Network, BeforeValidator(_parse_network)]
"""An IPv4 or IPv6 network; host bits must be zero."""
IPAddress = Annotated[ipaddress.IPv4Address | ipaddress.IPv6Address, BeforeValidator(_parse_address)]
"""An IPv4 or IPv6 address."""


def network_key(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int, int]:
    """Sort key: IPv4 before IPv6, then address, then prefix length."""
    return (net.version, int(net.network_address), net.prefixlen)


def address_key(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[int, int]:
    """Sort key: IPv4 before IPv6, then address."""
    return (addr.version, int(addr))


def _parse_allowed(value: Any) -> Any:
    # Shorthand: "10.244.0.0/16" means exactly that prefix; "10.244.0.0/16 le 24" also its
    # more-specifics up to /24 (the words FRR's prefix-lists use).
    if isinstance(value, str):
        parts = value.split()
        if len(parts) == 3 and parts[1] == "le":
            return {"prefix": parts[0], "le": parts[2]}
        return {"prefix": value}
    return value


class AllowedPrefix(Model):
    """A prefix a neighbour may announce: exactly `prefix`, or with `le` also its more-specifics."""

    prefix: IPNetwork = Field(description="The network (host bits must be zero).")
    le: int | None = Field(default=None, description="Longest more-specific accepted; none: exact.")

    @model_validator(mode="after")
    def _le_in_range(self) -> Self:
        if self.le is not None:
            top = self.prefix.max_prefixlen
            if not self.prefix.prefixlen < self.le <= top:
                raise ValueError(
                    f"le {self.le} must be greater than the prefix length {self.prefix.prefixlen} "
                    f"and at most {top}"
                )
        return self

    @property
    def version(self) -> int:
        return self.prefix.version

    def sort_key(self) -> tuple[int, int, int, int]:
        return (*network_key(self.prefix), self.le or 0)


Allowed = Annotated[AllowedPrefix, BeforeValidator(_parse_allowed)]


def normalise_allowed(items: list[AllowedPrefix]) -> list[AllowedPrefix]:
    """Sorted, without duplicates: the order of an allow list never changes a document's hash."""
    return sorted(set(items), key=AllowedPrefix.sort_key)


def normalise_networks(
    items: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Sorted, without duplicates."""
    return sorted(set(items), key=network_key)
