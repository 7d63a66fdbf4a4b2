"""Prefixes and prefix filters as the documents carry them."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Self

from pydantic import Field, StringConstraints, model_validator
from pydantic.functional_validators import BeforeValidator

from fabric.model.base import Model
from fabric.model.names import TEXT_PATTERN

# Addresses and prefixes as the API's bodies take them, stated as patterns so that the OpenAPI
# document says exactly what is accepted (IPv6 in its hexadecimal forms, IPv4 without leading
# zeros).  What a pattern cannot say (host bits zero, `le` longer than the prefix) the parsers below
# refuse, naming the field.
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}"
_HEX = r"[0-9a-fA-F]{1,4}"
_IPV6 = "|".join(
    (
        rf"({_HEX}:){{7}}{_HEX}",
        rf"({_HEX}:){{1,7}}:",
        rf"({_HEX}:){{1,6}}:{_HEX}",
        *(rf"({_HEX}:){{1,{6 - n}}}(:{_HEX}){{1,{n + 1}}}" for n in range(1, 6)),
        rf":((:{_HEX}){{1,7}}|:)",
    )
)
_LEN4 = r"(3[0-2]|[12]?[0-9])"
_LEN6 = r"(12[0-8]|1[01][0-9]|[1-9]?[0-9])"
_IPV4_PREFIX = rf"{_IPV4}/{_LEN4}"
_PREFIX = rf"({_IPV4_PREFIX}|({_IPV6})/{_LEN6})"

IPV4_PREFIX_PATTERN = rf"^{_IPV4_PREFIX}$"
PREFIX_PATTERN = rf"^{_PREFIX}$"
ADDRESS_PATTERN = rf"^({_IPV4}|{_IPV6})$"
ALLOWED_PATTERN = rf"^{_PREFIX}( le {_LEN6})?$"

PATTERN_MEANINGS = {
    IPV4_PREFIX_PATTERN: "an IPv4 prefix such as 10.0.0.0/24",
    PREFIX_PATTERN: "an IPv4 or IPv6 prefix such as 10.0.0.0/24 or 2001:db8::/48",
    ADDRESS_PATTERN: "an IPv4 or IPv6 address",
    ALLOWED_PATTERN: "a prefix, optionally with 'le LENGTH' (10.244.0.0/16 le 24)",
    TEXT_PATTERN: "text without NUL characters",
}
"""What each pattern accepts, in words: errors say this instead of the regular expression."""

Ipv4PrefixText = Annotated[str, StringConstraints(pattern=IPV4_PREFIX_PATTERN)]
"""An IPv4 prefix as text, e.g. `10.0.0.0/24`."""
PrefixText = Annotated[str, StringConstraints(pattern=PREFIX_PATTERN)]
"""An IPv4 or IPv6 prefix as text, e.g. `2001:db8::/48`."""
AddressText = Annotated[str, StringConstraints(pattern=ADDRESS_PATTERN)]
"""An IPv4 or IPv6 address as text."""
AllowedText = Annotated[str, StringConstraints(pattern=ALLOWED_PATTERN)]
"""A prefix filter as text: `10.244.0.0/16`, or with its more-specifics `10.244.0.0/16 le 24`."""


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
