"""The guest kernel: Debian's `linux-image-*-amd64` installed on the host, and its modules.

The guest sees the host root over 9p, so its /lib/modules is the host's: a kernel is usable only
when the package that brought /boot/vmlinuz-VERSION also brought /lib/modules/VERSION (the running
host kernel is not a Debian one and has no modules directory at all).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fabric.image.initrd import module_closure

BOOT = Path("/boot")
MODULES_ROOT = Path("/lib/modules")
KERNEL_PACKAGE = "linux-image-amd64"
_VERSION = re.compile(r"^vmlinuz-(?P<version>\d+\.\d+\.\d+-\d+-amd64)$")


@dataclass(frozen=True)
class GuestKernel:
    """A bootable kernel image with its modules directory."""

    version: str
    image: Path
    modules: Path

    def module_closure(self, names: Iterable[str]) -> list[Path]:
        """Module files for `names` and their dependencies, dependencies first (`module_closure`)."""
        return module_closure(self.modules, names)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def find_kernels(boot: Path = BOOT, modules_root: Path = MODULES_ROOT) -> list[GuestKernel]:
    """Every Debian amd64 kernel in `boot` whose modules are installed, newest first."""
    found = []
    for image in boot.glob("vmlinuz-*"):
        match = _VERSION.match(image.name)
        if match and (modules_root / match["version"] / "modules.dep").is_file():
            version = match["version"]
            found.append(GuestKernel(version, image, modules_root / version))
    return sorted(found, key=lambda kernel: _version_key(kernel.version), reverse=True)


def find_kernel() -> GuestKernel | None:
    """The newest usable guest kernel, or None (install Debian's `linux-image-amd64`)."""
    kernels = find_kernels()
    return kernels[0] if kernels else None
