"""A lean initramfs for direct kernel boot: static busybox, the few modules a root disk needs, an /init.

Debian's stock initrd (in the image's /boot, for real hardware) carries every storage driver and takes
tens of seconds to unpack and probe under software emulation.  A VM that boots the image with
``-kernel``/``-initrd`` needs only virtio and ext4: `build_direct_initrd` writes that archive (an
uncompressed newc cpio, written here in Python, about 4 MB) from the image's own kernel modules and
busybox.  `newc_archive` and `module_closure` also serve the lab's kernel-VRF VM (lab/vm).
"""

from __future__ import annotations

import shlex
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# What mounting an ext4 root on virtio-blk needs in Debian's kernel, where all are modules; virtio_net
# too, so the NICs are there before udev runs; ext4 asks for crc32c by name, which insmod cannot resolve.
DIRECT_MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "crc32c_generic", "ext4")
BUSYBOX = "bin/busybox"  # Debian's busybox-static: no shared libraries needed
_TRAILER = "TRAILER!!!"
FAIL_MARKER = "FABRIC-INITRD-FAIL"

_DIRECT_INIT = """#!/bin/sh
# fabric image direct-boot initramfs: load {modules_count} modules, mount root= read-only, hand over.
fail() {{ echo "{fail} $*"; sleep 5; reboot -f; }}
mount -t proc proc /proc || fail "mount /proc"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
for m in {modules}; do insmod "/modules/$m" || fail "insmod $m"; done
root=/dev/vda
for arg in $(cat /proc/cmdline); do case "$arg" in root=/dev/*) root="${{arg#root=}}";; esac; done
i=0
while [ ! -b "$root" ]; do i=$((i+1)); [ $i -gt 100 ] && fail "no root device $root"; sleep 0.1; done
mount -t ext4 -o ro "$root" /newroot || fail "mount $root"
umount /dev
umount /proc
exec switch_root /newroot /sbin/init
"""


@dataclass(frozen=True)
class Entry:
    """One member of a newc archive: a path (no leading /), its mode, content and device numbers."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def _header(ino: int, entry: Entry) -> bytes:
    name = entry.name.encode() + b"\0"
    fields = (
        ino,
        entry.mode,
        0,  # uid
        0,  # gid
        2 if stat.S_ISDIR(entry.mode) else 1,
        0,  # mtime
        len(entry.data),
        0,  # dev major
        0,  # dev minor
        entry.rdev[0],
        entry.rdev[1],
        len(name),
        0,  # check
    )
    head = b"070701" + b"".join(f"{value:08x}".encode() for value in fields) + name
    return head + b"\0" * (-len(head) % 4)


def newc_archive(entries: list[Entry]) -> bytes:
    """`entries` as an SVR4 "newc" cpio archive (the format the kernel unpacks as initramfs)."""
    out = bytearray()
    for ino, entry in enumerate([*entries, Entry(_TRAILER, 0)], start=1):
        out += _header(ino, entry) + entry.data + b"\0" * (-len(entry.data) % 4)
    return bytes(out)


def module_closure(modules_dir: Path, names: Iterable[str]) -> list[Path]:
    """Module files for `names` and everything they depend on, dependencies first (load order).

    `modules_dir` is a kernel's /lib/modules/VERSION.  Raises `LookupError` naming a module that its
    modules.dep does not know (built in, or absent).
    """
    deps = _read_modules_dep(modules_dir / "modules.dep")
    by_name = {_module_name(path): path for path in deps}
    ordered: list[str] = []

    def visit(path: str) -> None:
        if path in ordered:
            return
        for dep in deps[path]:
            visit(dep)
        ordered.append(path)

    for name in names:
        path = by_name.get(name.replace("-", "_"))
        if path is None:
            raise LookupError(f"{modules_dir}: no module {name!r} in modules.dep")
        visit(path)
    return [modules_dir / path for path in ordered]


def _module_name(path: str) -> str:
    return Path(path).name.split(".ko")[0].replace("-", "_")


def _read_modules_dep(path: Path) -> dict[str, list[str]]:
    deps: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        module, _, rest = line.partition(":")
        deps[module] = rest.split()
    return deps


def base_entries(busybox: bytes, applets: Iterable[str], dirs: Iterable[str]) -> list[Entry]:
    """Directories, /dev/console and a static busybox with its applet links: every initramfs's start."""
    entries = [Entry(d, stat.S_IFDIR | 0o755) for d in dirs]
    # The kernel opens /dev/console before it runs /init; without it init has no output at all.
    entries.append(Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    entries.append(Entry("bin/busybox", stat.S_IFREG | 0o755, busybox))
    entries += [Entry(f"bin/{applet}", stat.S_IFLNK | 0o777, b"busybox") for applet in applets]
    return entries


def module_entries(modules: list[Path]) -> list[Entry]:
    """The module files, flat under /modules (loaded by name in the given order)."""
    return [Entry(f"modules/{m.name}", stat.S_IFREG | 0o644, m.read_bytes()) for m in modules]


def build_direct_initrd(root: Path, kernel_version: str, dest: Path) -> Path:
    """Write the direct-boot initramfs of the image rooted at `root` (its kernel, modules and busybox)."""
    modules = module_closure(root / "lib" / "modules" / kernel_version, DIRECT_MODULES)
    applets = ("sh", "mount", "umount", "insmod", "switch_root", "reboot", "echo", "cat", "sleep")
    entries = base_entries(
        (root / BUSYBOX).read_bytes(), applets, ("bin", "dev", "proc", "newroot", "modules")
    )
    entries += module_entries(modules)
    script = _DIRECT_INIT.format(
        fail=FAIL_MARKER,
        modules_count=len(modules),
        modules=" ".join(shlex.quote(m.name) for m in modules),
    )
    entries.append(Entry("init", stat.S_IFREG | 0o755, script.encode()))
    dest.write_bytes(newc_archive(entries))
    return dest
