"""The seed's shell: make a seed disk, read it at boot, check it against the machine, apply it.

`apply_seed` validates everything first (the seed, and that every NIC it names is on this machine),
then writes; a refused seed writes nothing.  Files are written one by one atomically.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

from fabric.adapters.process import run
from fabric.errors import FabricError, ValidationError
from fabric.image.seed import FILE, LABEL, Seed, SeedFile, parse_seed, seed_files

DEVICE = Path("/dev/disk/by-label") / LABEL
SYS_NET = Path("/sys/class/net")
SEED_DISK_MIB = 4


class SeedError(FabricError):
    """The seed could not be read (no disk, not mountable, no seed.yaml)."""


def make_seed_disk(text: str, dest: Path) -> Seed:
    """Validate ``seed.yaml`` `text`, then write it to a seed disk at `dest` (`write_seed_disk`).

    Raises `ValidationError` (nothing written) or `SeedError`.
    """
    seed = parse_seed(text)
    with tempfile.TemporaryDirectory(prefix="fabric-seed-") as tmp:
        content = Path(tmp) / FILE
        content.write_text(text)
        content.chmod(0o600)
        write_seed_disk(Path(tmp), dest)
    return seed


def write_seed_disk(directory: Path, dest: Path) -> None:
    """A small ext4 file system labelled fabric-seed holding `directory`'s files, as they are.

    No loop device or mount: ``mke2fs -d``.  Raises `SeedError` when mke2fs fails.
    """
    dest.unlink(missing_ok=True)
    made = run(
        ["mke2fs", "-q", "-t", "ext4", "-L", LABEL, "-d", directory, dest, f"{SEED_DISK_MIB}M"], timeout=60
    )
    if not made.ok:
        raise SeedError(f"mke2fs: {made.describe()}")


def read_seed_text(device: Path = DEVICE, *, wait: float = 0.0) -> str:
    """``seed.yaml`` from the file system on `device` (a directory is read as it is).

    Waits up to `wait` seconds for the device to appear (udev names it by its label).
    """
    deadline = time.monotonic() + wait
    while not device.exists():
        if time.monotonic() >= deadline:
            raise SeedError(
                f"no seed: {device} does not exist (a file system labelled {LABEL!r} holding {FILE})"
            )
        time.sleep(0.5)
    if device.is_dir():
        return _read(device / FILE)
    with tempfile.TemporaryDirectory(prefix="fabric-seed-") as mnt:
        mounted = run(["mount", "-o", "ro", device, mnt], timeout=30)
        if not mounted.ok:
            raise SeedError(f"cannot mount the seed disk: {mounted.describe()}")
        try:
            return _read(Path(mnt) / FILE)
        finally:
            run(["umount", mnt], timeout=30)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise SeedError(f"cannot read {FILE} on the seed disk: {exc.strerror or exc}") from None


def nics(sys_net: Path = SYS_NET) -> dict[str, str]:
    """This machine's NICs: MAC address -> interface name (loopback and devices without one left out)."""
    found: dict[str, str] = {}
    for link in sorted(sys_net.iterdir()):
        try:
            mac = (link / "address").read_text().strip().lower()
        except OSError:
            continue
        if mac and mac != "00:00:00:00:00:00":
            found.setdefault(mac, link.name)
    return found


def check_nics(seed: Seed, present: dict[str, str]) -> None:
    """`ValidationError` naming each NIC of the seed whose MAC is not on this machine."""
    missing = [
        (
            f"{where}[{nic.name}].mac",
            f"no NIC with MAC {nic.mac} on this machine (found: {', '.join(present)})",
        )
        for where, group in (("ports", seed.ports), ("management", [seed.management]))
        for nic in group
        if nic.mac not in present
    ]
    if missing:
        raise ValidationError("the seed does not fit this machine", problems=missing)


def apply_seed(seed: Seed, root: Path = Path("/"), *, present: dict[str, str] | None = None) -> list[str]:
    """Write `seed`'s files under `root`; on the live system (`root` = /) also rename the NICs and set
    the hostname.  Checks the NICs first: a seed that does not fit writes nothing.  Returns the paths.
    """
    live = root == Path("/")
    nic_names = present if present is not None else nics()
    check_nics(seed, nic_names)
    files = seed_files(seed)
    for file in files:
        write_file(root, file)
    if live:
        for nic in [*seed.ports, seed.management]:
            _rename(nic_names[nic.mac], nic.name)
        socket.sethostname(seed.name)
    return [f.path for f in files]


def write_file(root: Path, file: SeedFile) -> None:
    """Write `file` under `root` atomically (a temporary name, then rename), with its mode."""
    target = root / file.path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(file.text)
    partial.chmod(file.mode)
    os.replace(partial, target)


def _rename(current: str, name: str) -> None:
    """Rename a NIC now (udev's .link files do it at later boots); a NIC that has the name is left."""
    if current == name:
        return
    for argv in (
        ["ip", "link", "set", "dev", current, "down"],
        ["ip", "link", "set", "dev", current, "name", name],
    ):
        done = run(argv, timeout=10)
        if not done.ok:
            raise SeedError(f"cannot rename NIC {current} to {name}: {done.describe()}")
