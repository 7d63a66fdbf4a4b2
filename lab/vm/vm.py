"""`KernelVm`: boot Debian's kernel under qemu (software emulation) on the host root, run a scenario.

Every `run_scenario` boots a fresh VM (about 4 s), runs one script as the guest's job and powers off;
the qemu process is a rig daemon (its PID in the rig's ledger, killed by PID at the timeout or when a
crashed run is cleaned).  See the package docstring for the guest's layout.
"""

from __future__ import annotations

import json
import lzma
import os
import re
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from fabric.errors import FabricError
from lab.rig.daemon import Daemon, start_daemon
from lab.rig.rig import Rig
from lab.vm.initramfs import FAIL_MARKER, JOB_TAG, ROOT_TAG, build_initramfs
from lab.vm.kernel import KERNEL_PACKAGE, GuestKernel, find_kernel
from lab.vm.result import parse_result

QEMU = "qemu-system-x86_64"
GUEST_INIT = Path(__file__).resolve().with_name("guest-init.sh")
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("FABRIC_VM_CACHE", "/var/cache/fabric-lab/vm"))
# Loaded before the scenario starts (the rest load on demand through the host's modprobe).
DEFAULT_MODULES = ("vrf", "veth")
# quiet: every console byte costs time under emulation; mitigations=off: no retpolines to emulate.
KERNEL_ARGS = "console=ttyS0 panic=-1 quiet mitigations=off"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_BOOTED = re.compile(r"FABRIC-VM-BOOTED uptime=([0-9.]+)")


class VmError(FabricError):
    """The VM could not boot, did not finish in time, or the scenario failed (see the message)."""


@dataclass(frozen=True)
class VmResult:
    """What one scenario run gave: exit status, output, structured result and timings (seconds).

    `seconds` is the wall time from qemu's start to its exit; `boot_seconds` the guest's uptime when
    its init started (kernel + initramfs); `scenario_seconds` the guest time the scenario ran.
    `data` is the JSON the scenario emitted (`lab.vm.result.emit`), None when it emitted none.
    `job_dir` is the host directory the guest saw as /job (files the scenario wrote are there).
    """

    rc: int
    output: str
    data: Any
    seconds: float
    boot_seconds: float
    scenario_seconds: float
    job_dir: Path
    console: str

    def check(self) -> VmResult:
        """Return self, or raise `VmError` with the output's tail when the scenario failed."""
        if self.rc != 0:
            tail = "\n".join(self.output.splitlines()[-40:])
            raise VmError(f"guest scenario exited {self.rc}; output tail:\n{tail}")
        return self


def vmlinux_for(kernel: GuestKernel, cache_dir: Path = CACHE_DIR) -> Path:
    """The uncompressed ELF kernel of `kernel`, extracted once into `cache_dir`.

    qemu boots an ELF vmlinux through its PVH entry point: no decompression of the xz bzImage in
    emulated code, which saves about 5 s of every boot (measured: 4.0 s against 9.7 s).
    """
    stat = kernel.image.stat()
    target = cache_dir / f"vmlinux-{kernel.version}-{stat.st_size}-{stat.st_mtime_ns}"
    if target.is_file():
        return target
    image = kernel.image.read_bytes()
    start = image.find(_XZ_MAGIC)
    if start < 0:
        raise VmError(f"{kernel.image}: no xz payload found (not a Debian amd64 kernel?)")
    elf = lzma.LZMADecompressor().decompress(image[start:])
    if not elf.startswith(b"\x7fELF"):
        raise VmError(f"{kernel.image}: the xz payload is not an ELF kernel")
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    partial.write_bytes(elf)
    os.replace(partial, target)  # atomic: a concurrent run sees all of it or nothing
    return target


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class KernelVm:
    """Boots scenarios in a qemu VM with Debian's kernel: real kernel VRFs, nftables, veth, VXLAN.

    ::

        with Rig() as rig, KernelVm(rig) as vm:
            result = vm.run_scenario(Path("scenario.py"), files={"spec.json": text}).check()
            result.data  # what the scenario emitted

    `cpus` vCPUs (multi-threaded TCG), `memory_mb` of RAM, `modules` loaded before the scenario.
    """

    def __init__(
        self,
        rig: Rig,
        *,
        kernel: GuestKernel | None = None,
        memory_mb: int = 1024,
        cpus: int = 2,
        modules: Sequence[str] = DEFAULT_MODULES,
    ) -> None:
        found = kernel or find_kernel()
        if found is None:
            raise VmError(f"no Debian kernel with modules installed (apt-get install {KERNEL_PACKAGE})")
        self.rig = rig
        self.kernel = found
        self.memory_mb = memory_mb
        self.cpus = cpus
        self.modules = tuple(modules)
        self._dir = rig.tempdir("vm")
        self._initrd = build_initramfs(found, GUEST_INIT, self._dir / "initrd")
        self._vmlinux = vmlinux_for(found)
        self._runs = 0
        self._qemu: Daemon | None = None

    def __enter__(self) -> KernelVm:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Kill a VM that still runs (by its recorded PID); idempotent."""
        if self._qemu is not None:
            self._qemu.stop(grace=1.0)
            self._qemu = None

    def qemu_argv(self, job_dir: Path, console: Path) -> list[str]:
        """The qemu command line of one run (for a person who wants to boot the VM by hand)."""
        return [
            QEMU,
            *("-accel", "tcg,thread=multi", "-cpu", "max"),
            *("-smp", str(self.cpus), "-m", str(self.memory_mb)),
            *("-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"),
            *("-serial", f"file:{console}"),
            *("-kernel", str(self._vmlinux), "-initrd", str(self._initrd), "-append", KERNEL_ARGS),
            "-virtfs",
            f"local,path=/,mount_tag={ROOT_TAG},security_model=none,readonly=on,multidevs=remap",
            "-virtfs",
            f"local,path={job_dir},mount_tag={JOB_TAG},security_model=none,multidevs=remap",
        ]

    def run_scenario(
        self,
        script: Path | str,
        *,
        files: Mapping[str, str | bytes | Path] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 180.0,
    ) -> VmResult:
        """Boot, run `script` in the guest as root with cwd /job, power off; return its `VmResult`.

        `script` is a file (``*.py`` runs under this interpreter with the repository on PYTHONPATH,
        so it can use lab.rig and fabric; anything else under /bin/sh) or shell text.  `files` are put
        in /job beside it (text, bytes or a host file to copy); `env` is exported to it.  Raises
        `VmError` when the VM does not finish within `timeout` seconds or never runs the scenario;
        a scenario that fails is a result with `rc != 0` (see `VmResult.check`).
        """
        self._runs += 1
        job = self.rig.tempdir(f"vm-job{self._runs}")
        command = self._stage(job, script, files or {}, env or {})
        console = self._dir / f"console{self._runs}.log"
        started = time.monotonic()
        self._qemu = start_daemon(
            self.rig.ledger,
            self.qemu_argv(job, console),
            what=f"qemu@{self.rig.prefix}-vm{self._runs}",
            log_path=self._dir / f"qemu{self._runs}.log",
        )
        try:
            self._wait_for_exit(self._qemu, started + timeout, console, job)
        finally:
            self.stop()
        return self._collect(job, console, time.monotonic() - started, command)

    def _stage(
        self, job: Path, script: Path | str, files: Mapping[str, str | bytes | Path], env: Mapping[str, str]
    ) -> str:
        """Write the scenario, its files and /job/env into `job`; return the guest command line."""
        for name, content in files.items():
            target = job / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                target.write_bytes(content.read_bytes())
            elif isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        if isinstance(script, Path) and script.suffix == ".py":
            (job / "scenario.py").write_bytes(script.read_bytes())
            command = f"{shlex.quote(sys.executable)} -u /job/scenario.py"
        else:
            text = script.read_text() if isinstance(script, Path) else script
            (job / "scenario.sh").write_text(text)
            command = "/bin/sh /job/scenario.sh"
        exports = {"FABRIC_VM_JOB": "/job", "PYTHONPATH": str(REPO_ROOT), **env}
        lines = [
            f"FABRIC_VM_MODULES={shlex.quote(' '.join(self.modules))}",
            f"FABRIC_VM_HOSTNAME={shlex.quote(self.rig.prefix + '-vm')}",
            f"FABRIC_VM_COMMAND={shlex.quote(command)}",
            *(f"export {key}={shlex.quote(value)}" for key, value in exports.items()),
        ]
        (job / "env").write_text("\n".join(lines) + "\n")
        return command

    def _wait_for_exit(self, qemu: Daemon, deadline: float, console: Path, job: Path) -> None:
        while qemu.alive():
            if time.monotonic() >= deadline:
                output = _tail(job / "output.log")
                raise VmError(
                    f"VM {qemu.what} did not finish in time; console tail:\n{_tail(console)}"
                    + (f"\nscenario output tail:\n{output}" if output else "")
                )
            time.sleep(0.1)

    def _collect(self, job: Path, console: Path, seconds: float, command: str) -> VmResult:
        console_text = console.read_text(errors="replace") if console.exists() else ""
        status = job / "status"
        if not status.exists():
            failed = [line for line in console_text.splitlines() if FAIL_MARKER in line]
            reason = failed[-1] if failed else "the guest never finished its job"
            qemu_log = _tail(self._dir / f"qemu{self._runs}.log", 10)
            raise VmError(
                f"VM run {self._runs} ({command}): {reason}\nconsole tail:\n{_tail(console)}"
                + (f"\nqemu:\n{qemu_log}" if qemu_log else "")
            )
        rc_text, start, end = status.read_text().split()
        booted = _BOOTED.search(console_text)
        output = (job / "output.log").read_text(errors="replace")
        return VmResult(
            rc=int(rc_text),
            output=output,
            data=parse_result(output),
            seconds=seconds,
            boot_seconds=float(booted.group(1)) if booted else float(start),
            scenario_seconds=float(end) - float(start),
            job_dir=job,
            console=console_text,
        )


def run_spec_scenario(
    rig: Rig, script: Path, spec: Mapping[str, Any], files: Mapping[str, str], *, label: str
) -> VmResult:
    """Run a scenario that reads /job/spec.json in one fresh VM; print its timings; return it checked.

    The VM tests' module fixtures all do this once per module; the printed line is what `--durations`
    cannot show (boot vs scenario time under emulation).
    """
    with KernelVm(rig) as vm:
        result = vm.run_scenario(script, files={"spec.json": json.dumps(spec), **files}, timeout=240)
    steps = result.data and result.data["seconds"]
    print(
        f"{label}: wall {result.seconds:.1f}s, boot {result.boot_seconds:.1f}s, "
        f"scenario {result.scenario_seconds:.1f}s, steps {steps}"
    )
    return result.check()
