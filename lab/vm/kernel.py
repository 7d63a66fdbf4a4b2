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
        """Module files for `names` and everything they depend on, dependencies first (load order).

        Raises `LookupError` naming a module that modules.dep does not know (e.g. built in, or absent).
        """
        deps = _read_modules_dep(self.modules / "modules.dep")
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
                raise LookupError(f"kernel {self.version}: no module {name!r} in modules.dep")
            visit(path)
        return [self.modules / path for path in ordered]


def _module_name(path: str) -> str:
    return Path(path).name.split(".ko")[0].replace("-", "_")


def _read_modules_dep(path: Path) -> dict[str, list[str]]:
    deps: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        module, _, rest = line.partition(":")
        deps[module] = rest.split()
    return deps


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
