"""Tables of the store (SQLAlchemy 2).

Uniqueness that concurrent intents could violate is a database constraint, not a check in Python: two
allocations of one address collide on `ips (pool_id, key)`, two of one ASN or VNI on the pool's free
spans (taken under the pool's row lock) and on `UNIQUE (partition, vni)`.  Values of pools are stored as
fixed-width hex keys (see `fabric.core.ipam.key`) so IPv6 fits and string order is numeric order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAME = 63
WHO = 255  # an audit entry's author: a role, a subject and a signed-in user's name (an e-mail address)
KEY = 32


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Pool(Base):
    """A set of allocatable values: a prefix, a VNI range, an ASN range."""

    __tablename__ = "pools"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    first: Mapped[str] = mapped_column(String(KEY))
    last: Mapped[str] = mapped_column(String(KEY))


class FreeRange(Base):
    """One free span of a pool; lookups go through (pool_id, first) and (pool_id, last)."""

    __tablename__ = "free_ranges"
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"), primary_key=True)
    first: Mapped[str] = mapped_column(String(KEY), primary_key=True)
    last: Mapped[str] = mapped_column(String(KEY))
    __table_args__ = (Index("ix_free_ranges_last", "pool_id", "last", unique=True),)


class Partition(Base):
    """One site with its pools."""

    __tablename__ = "partitions"
    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    vni_pool: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    machine_asn_pool: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    switch_asn_pool: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    loopback_pool: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    loopback_prefix: Mapped[str] = mapped_column(String(64))
    vlan_first: Mapped[int] = mapped_column(Integer)
    vlan_last: Mapped[int] = mapped_column(Integer)
    pxe_vlan: Mapped[int] = mapped_column(Integer)
    dhcp_relay: Mapped[list[str]] = mapped_column(JSON, default=list)
    mgmt_gateway: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Project(Base):
    """A tenant."""

    __tablename__ = "projects"
    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    description: Mapped[str] = mapped_column(String(200), default="")


class Network(Base):
    """underlay, super (parent of private networks), private (one VNI) or external (shared)."""

    __tablename__ = "networks"
    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    partition: Mapped[str] = mapped_column(ForeignKey("partitions.name"))
    kind: Mapped[str] = mapped_column(String(16))
    project: Mapped[str | None] = mapped_column(ForeignKey("projects.name"), nullable=True)
    parent: Mapped[str | None] = mapped_column(ForeignKey("networks.name"), nullable=True)
    vni: Mapped[int | None] = mapped_column(Integer, nullable=True)
    nat: Mapped[bool] = mapped_column(Boolean, default=False)
    destination_prefixes: Mapped[list[str]] = mapped_column(JSON, default=list)
    extra_prefixes: Mapped[list[str]] = mapped_column(JSON, default=list)
    child_length_v4: Mapped[int | None] = mapped_column(Integer, nullable=True)
    child_length_v6: Mapped[int | None] = mapped_column(Integer, nullable=True)
    __table_args__ = (UniqueConstraint("partition", "vni", name="uq_networks_vni"),)


class Prefix(Base):
    """A prefix of a network; a child prefix was carved from `parent` (a super network's prefix)."""

    __tablename__ = "prefixes"
    cidr: Mapped[str] = mapped_column(String(64), primary_key=True)
    network: Mapped[str] = mapped_column(ForeignKey("networks.name"), index=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"), unique=True)
    parent: Mapped[str | None] = mapped_column(ForeignKey("prefixes.cidr"), nullable=True)
    family: Mapped[int] = mapped_column(Integer)


class Ip(Base):
    """An allocated address; `(pool_id, key)` makes a duplicate impossible."""

    __tablename__ = "ips"
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    key: Mapped[str] = mapped_column(String(KEY))
    network: Mapped[str] = mapped_column(ForeignKey("networks.name"), index=True)
    project: Mapped[str | None] = mapped_column(ForeignKey("projects.name"), nullable=True, index=True)
    machine: Mapped[str | None] = mapped_column(ForeignKey("machines.name"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(16), default="static")
    name: Mapped[str] = mapped_column(String(NAME), default="")
    __table_args__ = (UniqueConstraint("pool_id", "key", name="uq_ips_pool_key"),)


class Switch(Base):
    """A switch as declared by an operator; ASN and loopback come from the partition's pools."""

    __tablename__ = "switches"
    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    partition: Mapped[str] = mapped_column(ForeignKey("partitions.name"))
    rack: Mapped[str] = mapped_column(String(NAME))
    role: Mapped[str] = mapped_column(String(8))
    asn: Mapped[int] = mapped_column(BigInteger)
    loopback: Mapped[str] = mapped_column(String(64))
    sonic_version: Mapped[str] = mapped_column(String(32), default="")
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    exits: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    __table_args__ = (UniqueConstraint("partition", "asn", name="uq_switches_asn"),)


class SwitchPort(Base):
    """A port registered by the switch daemon, with the LLDP neighbour learned on it."""

    __tablename__ = "switch_ports"
    switch: Mapped[str] = mapped_column(ForeignKey("switches.name", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    neighbour_switch: Mapped[str | None] = mapped_column(String(NAME), nullable=True)
    neighbour_port: Mapped[str | None] = mapped_column(String(64), nullable=True)
    neighbour_mac: Mapped[str | None] = mapped_column(String(17), nullable=True, index=True)
    admin_down: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Machine(Base):
    """A bare-metal server (or, once allocated as one, a firewall)."""

    __tablename__ = "machines"
    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    partition: Mapped[str] = mapped_column(ForeignKey("partitions.name"))
    rack: Mapped[str] = mapped_column(String(NAME))
    role: Mapped[str | None] = mapped_column(String(8), nullable=True)
    project: Mapped[str | None] = mapped_column(ForeignKey("projects.name"), nullable=True)
    asn: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    __table_args__ = (UniqueConstraint("partition", "asn", name="uq_machines_asn"),)


class Nic(Base):
    """A NIC of a machine, known by its MAC."""

    __tablename__ = "nics"
    mac: Mapped[str] = mapped_column(String(17), primary_key=True)
    machine: Mapped[str] = mapped_column(ForeignKey("machines.name", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(16))
    __table_args__ = (UniqueConstraint("machine", "name", name="uq_nics_name"),)


class MachineNetwork(Base):
    """A network an allocated machine lives in, or a firewall serves."""

    __tablename__ = "machine_networks"
    machine: Mapped[str] = mapped_column(ForeignKey("machines.name", ondelete="CASCADE"), primary_key=True)
    network: Mapped[str] = mapped_column(ForeignKey("networks.name"), primary_key=True, index=True)


class Document(Base):
    """The current desired-state document of one switch, machine or firewall."""

    __tablename__ = "documents"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Float)


class DocumentHistory(Base):
    """Every revision of every document, for diffs."""

    __tablename__ = "document_history"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    body: Mapped[str] = mapped_column(Text)


class Status(Base):
    """The last status a daemon reported, apart from desired state."""

    __tablename__ = "statuses"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[float] = mapped_column(Float)


class Audit(Base):
    """Who changed what, when."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    who: Mapped[str] = mapped_column(String(WHO))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class Token(Base):
    """A bearer token, stored as its SHA-256 only."""

    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(NAME), default="")
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
