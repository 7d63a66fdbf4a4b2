"""A rig run: its short unique prefix and the ledger of everything it created.

Every `Rig` gets a prefix such as ``fr3a9c`` (``fr`` + 4 hex digits) that starts every name it makes
(namespaces ``fr3a9c-leaf1``, temp dirs ``/tmp/fr3a9c-frr-leaf1-1b2c``), and a ledger directory
``/run/fabric-rig/<prefix>/`` holding ``ledger.json``: the owner (PID and start time) and one item per
resource.  The ledger is written *before* each resource is created, so a run killed at any point leaves
a ledger that names everything it may have left behind.  (A process is the one exception: its PID is
only known after the fork, so the ledger first records the intent and then the PID; processes inside
a ledger's namespaces are also found through /proc when their namespace is deleted.)

Cleanup removes exactly what a ledger lists — kill by recorded PID and start time, unmount, delete
the namespace, remove the temp dir — in that order, tolerates items already gone, and can run any
number of times.  A ledger whose owner process is dead is a *leftover*; a ledger whose owner still runs
belongs to a concurrent run (other engineers test on the same machine) and is never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fabric.adapters.process import run
from fabric.errors import FabricError
from lab.rig import procs

LEDGER_ROOT = Path(os.environ.get("FABRIC_RIG_LEDGER_ROOT", "/run/fabric-rig"))
TMP_ROOT = Path(os.environ.get("FABRIC_RIG_TMP", "/tmp"))
PREFIX_STEM = "fr"
LEDGER_FILE = "ledger.json"
NETNS_DIR = Path("/run/netns")
# A ledger directory without a ledger file is a run that is being born (mkdir, then write); only an
# old one is debris.
INCOMPLETE_GRACE_S = 60.0

KINDS = ("process", "mount", "netns", "tempdir")

_created_here: list[str] = []


class CleanupError(FabricError):
    """Some ledger items could not be removed; they stay in the ledger for the next attempt."""


@dataclass
class Item:
    """One resource of a run.

    `kind` is one of process, mount, netns, tempdir; `ref` is the namespace name, the mount target, the
    directory, or for a process what it is (``bgpd@leaf1``).  A process has `pid` and `start` (its start
    time, so a reused PID is never mistaken for it); `pid` is None between intent and fork.
    """

    kind: str
    ref: str
    pid: int | None = None
    start: int | None = None

    def describe(self) -> str:
        """A short human description, e.g. ``process bgpd@leaf1 pid 4711``."""
        if self.kind == "process":
            return f"process {self.ref} pid {self.pid if self.pid is not None else '?'}"
        return f"{self.kind} {self.ref}"


@dataclass
class Ledger:
    """The record of one run, persisted to ``<root>/<prefix>/ledger.json`` on every change."""

    prefix: str
    root: Path
    owner_pid: int
    owner_start: int | None
    created: float
    items: list[Item] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    # ---- creation and loading -------------------------------------------------------------------

    @classmethod
    def create(cls, root: Path | None = None, *, prefix: str | None = None) -> Ledger:
        """Start a new run owned by this process: pick a free prefix, create its ledger directory.

        A given `prefix` (e.g. a lab's, derived from its topology name) is taken as it is; `FabricError`
        when its ledger directory exists already.
        """
        root = root or LEDGER_ROOT
        root.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        if prefix is not None:
            try:
                (root / prefix).mkdir(mode=0o755)
            except FileExistsError:
                raise FabricError(f"rig prefix {prefix!r} is in use: {root / prefix} exists") from None
            ledger = cls(prefix, root, pid, procs.start_time(pid), time.time())
            ledger.save()
            _created_here.append(prefix)
            return ledger
        for _ in range(100):
            prefix = PREFIX_STEM + secrets.token_hex(2)
            # A namespace of that prefix without a ledger would be someone's debris: avoid it too.
            if any(n.startswith(prefix + "-") for n in list_netns()):
                continue
            try:
                (root / prefix).mkdir(mode=0o755)  # atomic: fails when another run holds the prefix
            except FileExistsError:
                continue
            ledger = cls(prefix, root, pid, procs.start_time(pid), time.time())
            ledger.save()
            _created_here.append(prefix)
            return ledger
        raise FabricError(f"no free rig prefix under {root} after 100 tries")

    @classmethod
    def load(cls, directory: Path) -> Ledger:
        """Read the ledger in `directory` (raises OSError or ValueError when it is unreadable)."""
        data = json.loads((directory / LEDGER_FILE).read_text())
        return cls(
            prefix=data["prefix"],
            root=directory.parent,
            owner_pid=int(data["owner_pid"]),
            owner_start=data.get("owner_start"),
            created=float(data.get("created", 0.0)),
            items=[Item(**item) for item in data.get("items", [])],
        )

    @property
    def path(self) -> Path:
        """The ledger directory, ``<root>/<prefix>``."""
        return self.root / self.prefix

    def save(self) -> None:
        """Write the ledger atomically (temp file + rename), so a reader never sees half a file."""
        data = {
            "prefix": self.prefix,
            "owner_pid": self.owner_pid,
            "owner_start": self.owner_start,
            "created": self.created,
            "items": [asdict(item) for item in self.items],
        }
        tmp = self.path / f".{LEDGER_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, self.path / LEDGER_FILE)

    def owner_alive(self) -> bool:
        """True while the process that created this run is still running (same PID and start time)."""
        return procs.alive(self.owner_pid, self.owner_start)

    # ---- recording ----------------------------------------------------------------------------------

    def record(self, item: Item) -> Item:
        """Add `item` and persist the ledger; call this *before* creating the resource."""
        with self._lock:
            self.items.append(item)
            self.save()
        return item

    def set_pid(self, item: Item, pid: int) -> None:
        """Fill in the PID (and its start time) of a process item recorded before the fork."""
        with self._lock:
            item.pid, item.start = pid, procs.start_time(pid)
            self.save()

    def forget(self, item: Item) -> None:
        """Drop `item` (after its resource is gone) and persist the ledger."""
        with self._lock:
            self.items = [i for i in self.items if i is not item]
            self.save()

    # ---- resources that need nothing but the ledger ---------------------------------------------------

    def tempdir(self, name: str = "tmp", *, owner: str | None = None, mode: int = 0o755) -> Path:
        """Create and record ``<tmp>/<prefix>-<name>-<4 hex>``, chowned to user `owner` if given."""
        path = TMP_ROOT / f"{self.prefix}-{name}-{secrets.token_hex(2)}"
        self.record(Item("tempdir", str(path)))
        path.mkdir(mode=mode)
        path.chmod(mode)  # mkdir's mode is filtered by the umask
        if owner is not None:
            shutil.chown(path, owner, owner)
        return path

    def mount(self, source: str, target: Path, *, fstype: str | None = None, options: str = "") -> Item:
        """Mount `source` on `target` (``mount [-t fstype] [-o options]``) and record it."""
        item = self.record(Item("mount", str(target)))
        argv = ["mount"] + (["-t", fstype] if fstype else []) + (["-o", options] if options else [])
        result = run([*argv, source, str(target)], timeout=10)
        if not result.ok:
            self.forget(item)
            raise FabricError(f"rig {self.prefix}: {result.describe()}")
        return item

    # ---- cleanup ------------------------------------------------------------------------------------------

    def clean(self) -> list[str]:
        """Remove everything the ledger lists, then the ledger itself; returns what was removed.

        Order: processes (so nothing holds a mount or a namespace), mounts (deepest last-made first),
        namespaces (with any process still inside them), temp dirs.  Items already gone are dropped
        silently.  Items that resist stay in the ledger and `CleanupError` names them.
        """
        with _dir_lock(self.path) as locked:
            if not locked:
                return []  # another cleaner holds this ledger right now
            removed: list[str] = []
            failures: list[str] = []
            for kind in KINDS:
                for item in [i for i in reversed(self.items) if i.kind == kind]:
                    try:
                        if _remove(item):
                            removed.append(item.describe())
                    except FabricError as exc:
                        failures.append(f"{item.describe()}: {exc}")
                        continue
                    self.forget(item)
            if failures:
                raise CleanupError(f"rig {self.prefix}: could not remove: " + "; ".join(failures))
            shutil.rmtree(self.path, ignore_errors=True)
        return removed


def _remove(item: Item) -> bool:
    """Remove one resource; True when something was there, False when it was already gone."""
    if item.kind == "process":
        if item.pid is None:
            return False
        return bool(procs.terminate([(item.pid, item.start)]))
    if item.kind == "mount":
        return _unmount(item.ref)
    if item.kind == "netns":
        return _delete_netns(item.ref)
    if item.kind == "tempdir":
        path = Path(item.ref)
        _unmount(item.ref)  # never rm -r through a mount
        if not path.exists():
            return False
        shutil.rmtree(path)
        return True
    raise FabricError(f"unknown ledger item kind {item.kind!r}")


def _unmount(target: str) -> bool:
    """Unmount `target` and whatever is mounted below it (deepest first); False if nothing was."""
    points = procs.mountpoints_under(Path(target))
    for point in points:
        result = run(["umount", point], timeout=10)
        if not result.ok:
            # Busy (a shell's cwd, an open file): detach it now, the kernel finishes when it is free.
            result = run(["umount", "-l", point], timeout=10)
        if not result.ok and point in procs.mountpoints():
            raise FabricError(result.describe())
    return bool(points)


def _delete_netns(name: str) -> bool:
    inode = procs.netns_inode(NETNS_DIR / name)
    if inode is None:
        return False
    # Whatever still runs inside (a PID lost in a crash, a child of a recorded daemon) is ours.
    procs.terminate(procs.pids_in_netns(inode))
    result = run(["ip", "netns", "delete", name], timeout=10)
    if (NETNS_DIR / name).exists():
        raise FabricError(result.describe())
    return True


@contextlib.contextmanager
def _dir_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive flock on directory `path`; yields False when someone else holds it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def list_netns() -> list[str]:
    """Names of the network namespaces in /run/netns."""
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []


def find_ledgers(root: Path | None = None) -> list[Ledger]:
    """Every readable ledger under `root` (default /run/fabric-rig), live or not, oldest first."""
    root = root or LEDGER_ROOT
    if not root.is_dir():
        return []
    ledgers = []
    for directory in root.iterdir():
        if not directory.is_dir() or directory.name.startswith("."):
            continue
        try:
            ledgers.append(Ledger.load(directory))
        except FileNotFoundError:
            # Being born (see INCOMPLETE_GRACE_S), or a run killed between mkdir and first write.
            with contextlib.suppress(FileNotFoundError):
                if time.time() - directory.stat().st_mtime > INCOMPLETE_GRACE_S:
                    ledgers.append(Ledger(directory.name, root, 0, None, 0.0))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(ledgers, key=lambda ledger: ledger.created)


def find_leftovers(root: Path | None = None) -> list[Ledger]:
    """Ledgers whose owner process is dead: what earlier, crashed or interrupted runs left behind."""
    return [ledger for ledger in find_ledgers(root) if not ledger.owner_alive()]


def clean_leftovers(leftovers: list[Ledger] | None = None) -> list[str]:
    """Clean `leftovers` (default: `find_leftovers()`); returns one line per removed resource.

    A ledger whose owner turns out to be alive is skipped, so passing a stale list is safe.
    """
    report: list[str] = []
    for ledger in find_leftovers() if leftovers is None else leftovers:
        if ledger.owner_alive() or not ledger.path.exists():
            continue
        removed = ledger.clean()
        report.extend(f"{ledger.prefix}: {line}" for line in removed)
        if not ledger.path.exists():  # still there: another cleaner holds it right now
            report.append(f"{ledger.prefix}: ledger {ledger.path}")
    return report


def prefixes_created_here() -> list[str]:
    """Prefixes of the runs this process created (for a test session's final leak check)."""
    return list(_created_here)
