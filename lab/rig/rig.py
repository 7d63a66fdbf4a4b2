"""`Rig`: one run's prefix and ledger, and the factories a test module builds its world with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from lab.rig.frr import DEFAULT_DAEMONS, FrrInstance
from lab.rig.netns import Netns, NetnsDir
from lab.rig.redis import SONIC_DATABASES, RedisInstance
from lab.rig.run import Item, Ledger


class Rig:
    """A run of the rig: create namespaces, FRR and Redis instances, temp dirs; `close()` removes all.

    Use it as a context manager or call `close()`; a run that dies without either is found by
    `find_leftovers()` (its ledger at /run/fabric-rig/<prefix>/ names everything).
    """

    def __init__(self, *, root: Path | None = None, prefix: str | None = None) -> None:
        self.ledger = Ledger.create(root, prefix=prefix)
        self.frrs: list[FrrInstance] = []
        self.redises: list[RedisInstance] = []
        self.namespaces: dict[str, Netns] = {}
        self.closed = False

    @property
    def prefix(self) -> str:
        """This run's prefix, e.g. ``fr3a9c``; it starts every namespace and temp dir name."""
        return self.ledger.prefix

    def __repr__(self) -> str:
        return f"Rig({self.prefix})"

    def __enter__(self) -> Rig:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def netns(self, node: str, *, router: bool = True) -> Netns:
        """Create namespace ``<prefix>-<node>`` with lo up (and forwarding on, DAD off for a `router`)."""
        if node in self.namespaces:
            raise ValueError(f"{self}: namespace for node {node!r} exists already")
        ns = Netns(self.ledger, node).create(router=router)
        self.namespaces[node] = ns
        return ns

    def netns_dir(self, node: str) -> NetnsDir:
        """A private namespace directory for `node`'s FRR under the netns VRF backend (see `NetnsDir`)."""
        return NetnsDir(self.ledger, node)

    def frr(
        self,
        ns: Netns,
        hostname: str | None = None,
        *,
        config: str | None = None,
        daemons: Sequence[str] = DEFAULT_DAEMONS,
        extra_daemons: Sequence[str] = (),
        netns_vrf: bool = False,
        netns_dir: NetnsDir | None = None,
        daemon_args: Mapping[str, Sequence[str]] | None = None,
        start: bool = True,
    ) -> FrrInstance:
        """An FRR instance in `ns` with `hostname` (default: the node name), started with `config`.

        Pass `start=False` to get it unstarted (then call `start(config_text)` yourself).
        """
        frr = FrrInstance(
            self.ledger,
            ns,
            hostname or ns.node,
            daemons=daemons,
            extra_daemons=extra_daemons,
            netns_vrf=netns_vrf,
            netns_dir=netns_dir.path if netns_dir else None,
            daemon_args=daemon_args,
        )
        self.frrs.append(frr)
        if start:
            frr.start(config)
        return frr

    def redis(
        self,
        name: str = "redis",
        *,
        ns: Netns | None = None,
        databases: int = SONIC_DATABASES,
        notify_keyspace_events: str = "",
        start: bool = True,
    ) -> RedisInstance:
        """A Redis server on a unix socket in its own temp dir, started unless `start=False`."""
        instance = RedisInstance(
            self.ledger,
            name,
            ns=ns,
            databases=databases,
            notify_keyspace_events=notify_keyspace_events,
        )
        self.redises.append(instance)
        if start:
            instance.start()
        return instance

    def tempdir(self, name: str = "tmp", *, owner: str | None = None) -> Path:
        """A recorded temp dir ``/tmp/<prefix>-<name>-<4 hex>``, removed at `close()`."""
        return self.ledger.tempdir(name, owner=owner)

    def mount(self, source: str, target: Path, *, fstype: str | None = None, options: str = "") -> Item:
        """Mount `source` on `target` in the host mount namespace, recorded; unmounted at `close()`."""
        return self.ledger.mount(source, target, fstype=fstype, options=options)

    def close(self) -> list[str]:
        """Stop daemons cleanly, then remove everything in the ledger; returns what was removed.

        Idempotent.  Raises `CleanupError` when something could not be removed (it stays in the
        ledger, where `python -m lab.rig clean` finds it once this process has exited).
        """
        if self.closed:
            return []
        # Orderly stops first (FRR: zebra last); the ledger then mops up anything that remains.
        for frr in self.frrs:
            frr.stop()
        for instance in self.redises:
            instance.stop()
        removed = self.ledger.clean()
        self.closed = True
        return removed
