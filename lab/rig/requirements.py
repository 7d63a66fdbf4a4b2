"""What a machine needs for each rig feature, so tests can skip (or, under CI, fail) with a reason."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lab.rig.frr import FRR_RELOAD, FRR_SBIN

# feature -> programs it needs (a name looked up on PATH, or an absolute path)
PROGRAMS: dict[str, tuple[str, ...]] = {
    "netns": ("ip", "unshare", "sh", "hostname", "sysctl", "mount", "umount"),
    "frr": (
        str(FRR_SBIN / "zebra"),
        str(FRR_SBIN / "bgpd"),
        str(FRR_SBIN / "staticd"),
        "vtysh",
        str(FRR_RELOAD),
    ),
    "redis": ("redis-server",),
    "ping": ("ping",),
    "lldp": ("lldpd", "lldpctl"),
    "nft": ("nft",),
    # lab.vm: qemu (software emulation) and the static busybox of its initramfs; the kernel is below.
    "qemu": ("qemu-system-x86_64", "/bin/busybox"),
    # fabric.image: the firewall image's build and boot (lab.vm.image logs in over SSH).
    "image": ("mmdebstrap", "mke2fs", "chroot", "qemu-system-x86_64", "ssh", "ssh-keygen"),
}
FEATURES = ("root", *PROGRAMS)


def missing(*features: str) -> list[str]:
    """What is missing for `features` (any of FEATURES; every rig feature needs root).

    Returns human-readable reasons, e.g. ``["not root (uid 1000)", "redis-server not found"]``;
    an empty list means everything is there.
    """
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise ValueError(f"unknown rig feature(s) {unknown}; known: {', '.join(FEATURES)}")
    reasons: list[str] = []
    if features and os.geteuid() != 0:
        reasons.append(f"not root (uid {os.geteuid()})")
    for feature in features:
        for program in PROGRAMS.get(feature, ()):
            found = Path(program).is_file() if program.startswith("/") else shutil.which(program)
            if not found and f"{program} not found" not in reasons:
                reasons.append(f"{program} not found")
        if feature == "qemu":
            from lab.vm.kernel import KERNEL_PACKAGE, find_kernel  # lazy: lab.vm imports the rig

            if find_kernel() is None:
                reasons.append(f"no Debian kernel with its modules (apt-get install {KERNEL_PACKAGE})")
    return reasons
