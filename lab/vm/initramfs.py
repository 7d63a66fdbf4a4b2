"""A tiny initramfs of our own: static busybox, the few modules a 9p root needs, and an /init.

Debian's own initrd (what `update-initramfs` made) expects a block device root; ours mounts the
host root read-only over virtio-9p, puts a tmpfs overlay on it (the guest may write anywhere, the
host sees nothing) and `switch_root`s into the guest init script of lab/vm.  It is an uncompressed
newc cpio archive written here in Python (no cpio tool needed), about 3 MB, built in milliseconds.
"""

from __future__ import annotations

import shlex
import stat
from dataclasses import dataclass
from pathlib import Path

from lab.vm.kernel import GuestKernel

BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static: no shared libraries needed
# What mounting a 9p root under an overlay needs, in the Debian 6.1 kernel where all are modules.
BOOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
ROOT_TAG = "root"
JOB_TAG = "job"
FAIL_MARKER = "FABRIC-VM-FAIL"
_TRAILER = "TRAILER!!!"

_INIT = """#!/bin/sh
# lab/vm initramfs: host root (9p, read-only) + tmpfs overlay, then the guest init of lab/vm.
fail() {{ echo "{fail} initramfs: $*"; reboot -f; }}
mount -t proc proc /proc || fail "mount /proc"
for m in {modules}; do insmod "/modules/$m" || fail "insmod $m"; done
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose {root_tag} /lower \\
  || fail "mount 9p root"
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "mount tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot \\
  || fail "mount overlay"
umount /proc
exec switch_root /newroot {guest_init}
"""


@dataclass(frozen=True)
class _Entry:
    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def _header(ino: int, entry: _Entry) -> bytes:
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


def newc_archive(entries: list[_Entry]) -> bytes:
    """`entries` as an SVR4 "newc" cpio archive (the format the kernel unpacks as initramfs)."""
    out = bytearray()
    for ino, entry in enumerate([*entries, _Entry(_TRAILER, 0)], start=1):
        out += _header(ino, entry) + entry.data + b"\0" * (-len(entry.data) % 4)
    return bytes(out)


def init_script(module_files: list[str], guest_init: Path) -> str:
    """The initramfs /init that loads `module_files` (in order) and hands over to `guest_init`."""
    return _INIT.format(
        fail=FAIL_MARKER,
        modules=" ".join(shlex.quote(m) for m in module_files),
        root_tag=ROOT_TAG,
        guest_init=shlex.quote(str(guest_init)),
    )


def build_initramfs(kernel: GuestKernel, guest_init: Path, dest: Path) -> Path:
    """Write the initramfs for `kernel` that boots into `guest_init` (a path on the host root)."""
    modules = kernel.module_closure(BOOT_MODULES)
    entries = [_Entry(d, stat.S_IFDIR | 0o755) for d in ("bin", "dev", "proc", "lower", "rw")]
    entries += [_Entry(d, stat.S_IFDIR | 0o755) for d in ("newroot", "modules")]
    # The kernel opens /dev/console before it runs /init; without it init has no output at all.
    entries.append(_Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    entries.append(_Entry("bin/busybox", stat.S_IFREG | 0o755, BUSYBOX.read_bytes()))
    for applet in ("sh", "mount", "umount", "insmod", "mkdir", "switch_root", "reboot", "echo"):
        entries.append(_Entry(f"bin/{applet}", stat.S_IFLNK | 0o777, b"busybox"))
    for module in modules:
        entries.append(_Entry(f"modules/{module.name}", stat.S_IFREG | 0o644, module.read_bytes()))
    script = init_script([m.name for m in modules], guest_init)
    entries.append(_Entry("init", stat.S_IFREG | 0o755, script.encode()))
    dest.write_bytes(newc_archive(entries))
    return dest
