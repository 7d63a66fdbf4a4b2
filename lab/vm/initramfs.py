"""A tiny initramfs of our own: static busybox, the few modules a 9p root needs, and an /init.

Debian's own initrd (what `update-initramfs` made) expects a block device root; ours mounts the
host root read-only over virtio-9p, puts a tmpfs overlay on it (the guest may write anywhere, the
host sees nothing) and `switch_root`s into the guest init script of lab/vm.  It is an uncompressed
newc cpio archive written by `fabric.image.initrd` (no cpio tool needed), about 3 MB, built in milliseconds.
"""

from __future__ import annotations

import shlex
import stat
from pathlib import Path

from fabric.image.initrd import Entry, base_entries, module_entries, newc_archive
from lab.vm.kernel import GuestKernel

BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static: no shared libraries needed
# What mounting a 9p root under an overlay needs, in the Debian 6.1 kernel where all are modules.
BOOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
ROOT_TAG = "root"
JOB_TAG = "job"
FAIL_MARKER = "FABRIC-VM-FAIL"

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
    applets = ("sh", "mount", "umount", "insmod", "mkdir", "switch_root", "reboot", "echo")
    dirs = ("bin", "dev", "proc", "lower", "rw", "newroot", "modules")
    entries = base_entries(BUSYBOX.read_bytes(), applets, dirs) + module_entries(modules)
    script = init_script([m.name for m in modules], guest_init)
    entries.append(Entry("init", stat.S_IFREG | 0o755, script.encode()))
    dest.write_bytes(newc_archive(entries))
    return dest
