"""A network namespace per lab node, links between them, and processes inside them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from fabric.adapters.process import Result, run, run_checked
from fabric.errors import FabricError
from lab.rig import procs
from lab.rig.daemon import Daemon, start_daemon, wrap
from lab.rig.run import NETNS_DIR, Item, Ledger

IFNAMSIZ = 15  # longest Linux interface name

# Routers forward; DAD on fresh veths only delays link-local addresses (and BGP unnumbered) by ~1-2 s.
ROUTER_SYSCTLS = (
    "net.ipv4.ip_forward=1",
    "net.ipv6.conf.all.forwarding=1",
    "net.ipv6.conf.default.forwarding=1",
    "net.ipv6.conf.all.accept_dad=0",
    "net.ipv6.conf.default.accept_dad=0",
)


class Netns:
    """A network namespace named ``<prefix>-<node>``, recorded in the run's ledger.

    Construct through `Rig.netns()`, which also creates it.  `name` is the kernel-visible name,
    `node` the short name tests use.
    """

    def __init__(self, ledger: Ledger, node: str) -> None:
        self.ledger = ledger
        self.node = node
        self.name = f"{ledger.prefix}-{node}"
        self._item: Item | None = None

    def __repr__(self) -> str:
        return f"Netns({self.name!r})"

    @property
    def path(self) -> Path:
        """The namespace's bind mount, /run/netns/<name>."""
        return NETNS_DIR / self.name

    def create(self, *, router: bool = True) -> Netns:
        """`ip netns add`, bring `lo` up and, for a `router`, enable forwarding and skip IPv6 DAD."""
        self._item = self.ledger.record(Item("netns", self.name))
        run_checked(["ip", "netns", "add", self.name], phase=f"rig:netns {self.name}", timeout=10)
        run_checked(["ip", "-n", self.name, "link", "set", "lo", "up"], phase="rig:netns", timeout=10)
        if router:
            self.exec_checked(["sysctl", "-q", "-w", *ROUTER_SYSCTLS])
        return self

    def exists(self) -> bool:
        """True while /run/netns/<name> exists."""
        return self.path.exists()

    def exec(
        self,
        argv: Sequence[str],
        *,
        hostname: str | None = None,
        timeout: float = 30.0,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Result:
        """Run `argv` to completion inside the namespace (`ip netns exec`), under `hostname` if given."""
        return run(wrap(argv, netns=self.name, hostname=hostname), timeout=timeout, input=input, env=env)

    def exec_checked(
        self, argv: Sequence[str], *, hostname: str | None = None, timeout: float = 30.0
    ) -> Result:
        """Like `exec`, but a failure raises `ApplyError` naming the namespace."""
        return run_checked(
            wrap(argv, netns=self.name, hostname=hostname), phase=f"rig:{self.name}", timeout=timeout
        )

    def ip(self, *args: str) -> Result:
        """`ip -n <name> ARGS...`, raising `ApplyError` on failure (e.g. ``ns.ip("addr", "add", ...)``)."""
        return run_checked(["ip", "-n", self.name, *args], phase=f"rig:{self.name}", timeout=10)

    def start(
        self,
        argv: Sequence[str],
        *,
        what: str,
        hostname: str | None = None,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Daemon:
        """Start a long-running `argv` inside the namespace (under `hostname`); its PID is recorded."""
        return start_daemon(
            self.ledger, argv, what=what, netns=self.name, hostname=hostname, log_path=log_path, env=env
        )

    def delete(self) -> None:
        """Delete the namespace (and with it its veth ends); idempotent."""
        if self.exists():
            run(["ip", "netns", "delete", self.name], timeout=10)
            if self.exists():
                raise FabricError(f"rig: could not delete netns {self.name}")
        if self._item is not None and self._item in self.ledger.items:
            self.ledger.forget(self._item)


def veth(a: Netns, a_if: str, b: Netns, b_if: str, *, up: bool = True, mtu: int | None = None) -> None:
    """Link `a`:`a_if` to `b`:`b_if` with a veth pair and bring both ends up.

    The pair is created inside `a` with its peer placed straight into `b`, so no name ever exists in
    the host namespace (where concurrent runs could collide).  No ledger entry: a veth dies with its
    namespace.
    """
    for name in (a_if, b_if):
        if not 0 < len(name) <= IFNAMSIZ:
            raise FabricError(f"interface name {name!r} must have 1..{IFNAMSIZ} characters")
    argv = ["link", "add", a_if, *(["mtu", str(mtu)] if mtu else [])]
    a.ip(*argv, "type", "veth", "peer", "name", b_if, "netns", b.name, *(["mtu", str(mtu)] if mtu else []))
    if up:
        a.ip("link", "set", a_if, "up")
        b.ip("link", "set", b_if, "up")


class NetnsDir:
    """A node's private namespace directory: the /run/netns its FRR sees under the netns VRF backend.

    FRR's netns VRF backend (`zebra -n`) turns every namespace in /run/netns into a VRF, so each leaf
    must see only its own (docs/concepts.md#lab).  This is a ledger temp dir, bind-mounted on itself as
    its own *shared* peer group; `FrrInstance(netns_dir=...)` rbinds it over /run/netns in each daemon's
    private (slave) mount namespace, so namespaces added here appear to that node's daemons only and
    nothing ever propagates back to the host's /run/netns.

    Namespaces are created with `unshare --net=DIR/NAME` (a persistent namespace bound to a file), not
    `ip netns add`, which knows only /run/netns.  Build through `Rig.netns_dir()`.
    """

    def __init__(self, ledger: Ledger, node: str) -> None:
        self.ledger = ledger
        self.node = node
        self.path = ledger.tempdir(f"vrfns-{node}")
        ledger.mount(str(self.path), self.path, options="bind")
        # A peer group of its own: the root mount's propagation must not matter.
        for mode in ("--make-private", "--make-shared"):
            run_checked(["mount", mode, str(self.path)], phase=f"rig:netns-dir {node}", timeout=10)

    @classmethod
    def at(cls, path: Path) -> NetnsDir:
        """The directory `path` that another process made with `Rig.netns_dir()`, to add or remove
        namespaces in (the lab's SONiC stand-in does, from its own process); it records nothing."""
        self = cls.__new__(cls)
        self.node, self.path = path.name, path
        return self

    def __repr__(self) -> str:
        return f"NetnsDir({str(self.path)!r})"

    def add(self, name: str) -> Path:
        """Create namespace `name` bound at DIR/NAME with `lo` up; returns its path.

        The file appears before the namespace is bound to it; zebra polls a new entry until it is a
        namespace, so that order is fine.
        """
        path = self.path / name
        path.touch()
        run_checked(["unshare", f"--net={path}", "ip", "link", "set", "lo", "up"], phase="rig:vrf-netns")
        return path

    def delete(self, name: str) -> None:
        """Remove namespace `name` (unmount and unlink DIR/NAME); idempotent."""
        path = self.path / name
        if str(path) in procs.mountpoints():
            # Lazy, like `ip netns delete`: zebra keeps the namespace file open in its mount namespace.
            run_checked(["umount", "-l", str(path)], phase="rig:vrf-netns", timeout=10)
        path.unlink(missing_ok=True)

    def names(self) -> list[str]:
        """The namespaces in this directory."""
        return sorted(p.name for p in self.path.iterdir())

    def exec(self, name: str, argv: Sequence[str], *, timeout: float = 30.0) -> Result:
        """Run `argv` inside namespace `name` of this directory (`nsenter --net=DIR/NAME`)."""
        return run(["nsenter", f"--net={self.path / name}", *argv], timeout=timeout)
