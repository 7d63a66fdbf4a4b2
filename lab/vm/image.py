"""`ImageVm`: boot a built machine image (the firewall image) in qemu, as the product ships it.

Unlike `KernelVm` (the host root over 9p, one scenario script), this boots the image's own root file
system: systemd, the shipped units, fabric from the image's virtualenv.  Direct kernel boot of the
image's kernel (its ELF, through qemu's PVH entry) with the image's lean ``initrd-direct.img``;
``rootfs.ext4`` is attached with ``snapshot=on``, so the cached image is never written (each boot
starts from the image as built).  Software emulation (TCG), one vCPU: this machine has no usable KVM.

Networking:

- **fabric ports**: one tap device per port (`TapNic`), created by qemu on the host; the caller moves
  it where the port is cabled (e.g. into a leaf's namespace) or leaves it unplugged;
- **management**: a tap device too, moved into a namespace of the rig's own (``<prefix>-<name>mgmt``)
  as 10.0.2.2/24; the seed gives the guest 10.0.2.15/24 and no gateway, so the guest reaches nothing
  but that namespace.  Each `Forward` is a relay (`lab.vm.relay`) listening there on 10.0.2.2:PORT
  that carries every connection to a port on the host's loopback (where `fabric api` and the
  cluster's API run).  Tests (and people) log in over SSH from that namespace with the key the seed
  authorises (`ssh`).

(qemu's user networking cannot serve here: its ``guestfwd`` runs one relay process for all the
connections of a forward, so the daemon's concurrent watches break each other.)
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from fabric.adapters.process import Result, run, run_checked
from fabric.image.build import Image
from lab.rig.daemon import Daemon, start_daemon
from lab.rig.rig import Rig
from lab.rig.wait import wait_until
from lab.vm.kernel import GuestKernel
from lab.vm.vm import QEMU, VmError, vmlinux_for

MGMT_MAC = "52:54:00:fa:00:02"
HOST_MGMT, GUEST_MGMT = "10.0.2.2", "10.0.2.15"  # the management link's two ends (a /24)
KERNEL_ARGS = "root=/dev/vda console=ttyS0 panic=-1 mitigations=off quiet"


@dataclass(frozen=True)
class TapNic:
    """A fabric port of the guest: a host tap device `tap` backing a guest NIC with `mac`; `plug`
    (namespace, name) moves the tap there under that name once qemu made it (e.g. into a leaf's
    namespace as its port `Ethernet8`: the leaf's end of the cable)."""

    tap: str
    mac: str
    plug: tuple[str, str] | None = None


@dataclass(frozen=True)
class Forward:
    """The guest's connections to 10.0.2.2:`port` reach 127.0.0.1:`host_port` on the host."""

    port: int
    host_port: int

    @property
    def url(self) -> str:
        """The URL the guest uses (http)."""
        return f"http://{HOST_MGMT}:{self.port}"

    def relay_argv(self, namespace: str) -> list[str]:
        """The relay (`lab.vm.relay`): listening in `namespace`, connecting in the host's."""
        return [
            sys.executable,
            "-m",
            "lab.vm.relay",
            namespace,
            HOST_MGMT,
            str(self.port),
            str(self.host_port),
        ]


def management_seed() -> dict[str, object]:
    """The seed's ``management`` section for a guest booted by `ImageVm`."""
    return {"name": "mgmt0", "mac": MGMT_MAC, "addresses": [f"{GUEST_MGMT}/24"]}


def ssh_keypair(directory: Path) -> tuple[Path, str]:
    """A fresh ed25519 key in `directory`: (private key path, public key line)."""
    key = directory / "id_ed25519"
    made = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fabric-lab", "-f", key], timeout=30)
    if not made.ok:
        raise VmError(f"ssh-keygen: {made.describe()}")
    return key, key.with_suffix(".pub").read_text().strip()


class ImageVm:
    """One boot of `image` with `seed_disk`; `start()`, then `ssh(...)`; `stop()` (or the rig) ends it."""

    def __init__(
        self,
        rig: Rig,
        image: Image,
        seed_disk: Path,
        ssh_key: Path,
        *,
        name: str = "fw",
        nics: Sequence[TapNic] = (),
        forwards: Sequence[Forward] = (),
        memory_mb: int = 1024,
    ) -> None:
        self.rig, self.image, self.seed_disk, self.ssh_key = rig, image, seed_disk, ssh_key
        self.name, self.nics, self.forwards, self.memory_mb = name, tuple(nics), tuple(forwards), memory_mb
        self.dir = rig.tempdir(f"vm-{name}")
        self.console = self.dir / "console.log"
        self.mgmt = rig.netns(f"{name}mgmt", router=False)
        self.mgmt_tap = f"{rig.prefix[-6:]}{name}m"[-15:]
        kernel = str(image.manifest()["kernel"])
        self._vmlinux = vmlinux_for(GuestKernel(kernel, image.kernel, image.path))
        self._qemu: Daemon | None = None
        self.started = 0.0

    def __enter__(self) -> ImageVm:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def qemu_argv(self) -> list[str]:
        """The qemu command line (for a person who wants to boot the image the same way)."""
        mgmt = f"tap,id=mgmt,ifname={self.mgmt_tap},script=no,downscript=no"
        argv = [
            QEMU,
            *("-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", str(self.memory_mb)),
            *("-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"),
            *("-serial", f"file:{self.console}"),
            *(
                "-kernel",
                str(self._vmlinux),
                "-initrd",
                str(self.image.direct_initrd),
                "-append",
                KERNEL_ARGS,
            ),
            *("-drive", f"file={self.image.rootfs},format=raw,if=virtio,snapshot=on"),
            *("-drive", f"file={self.seed_disk},format=raw,if=virtio,readonly=on"),
            *("-netdev", mgmt, "-device", f"virtio-net-pci,netdev=mgmt,mac={MGMT_MAC}"),
        ]
        for index, nic in enumerate(self.nics):
            argv += ["-netdev", f"tap,id=port{index},ifname={nic.tap},script=no,downscript=no"]
            argv += ["-device", f"virtio-net-pci,netdev=port{index},mac={nic.mac}"]
        return argv

    def start(self) -> None:
        """Start qemu and the management path (returns while the guest boots; `wait_ssh` waits)."""
        self.started = time.monotonic()
        qemu = self._qemu = start_daemon(
            self.rig.ledger,
            self.qemu_argv(),
            what=f"qemu@{self.rig.prefix}-{self.name}",
            log_path=self.dir / "qemu.log",
        )
        tap = Path("/sys/class/net") / self.mgmt_tap
        wait_until(lambda: tap.exists() or not qemu.alive(), timeout=30, what=f"qemu's tap {self.mgmt_tap}")
        if not qemu.alive():
            raise VmError(f"{self.name}: qemu exited at start: {qemu.log_tail()}")
        run_checked(["ip", "link", "set", self.mgmt_tap, "netns", self.mgmt.name], phase="lab:vm", timeout=10)
        self.mgmt.ip("addr", "add", f"{HOST_MGMT}/24", "dev", self.mgmt_tap)
        self.mgmt.ip("link", "set", self.mgmt_tap, "up")
        for nic in self.nics:
            if nic.plug is not None:
                namespace, name = nic.plug
                argv = ["ip", "link", "set", nic.tap, "netns", namespace, "name", name]
                run_checked(argv, phase="lab:vm", timeout=10)
                run_checked(["ip", "-n", namespace, "link", "set", name, "up"], phase="lab:vm", timeout=10)
        for fwd in self.forwards:
            log = self.dir / f"relay-{fwd.port}.log"
            argv = fwd.relay_argv(self.mgmt.name)
            start_daemon(self.rig.ledger, argv, what=f"relay@{self.mgmt.name}:{fwd.port}", log_path=log)

    def stop(self) -> None:
        """Kill qemu by its recorded PID (idempotent); its tap devices go with it."""
        if self._qemu is not None:
            self._qemu.stop(grace=2.0)
            self._qemu = None

    def alive(self) -> bool:
        return self._qemu is not None and self._qemu.alive()

    def ssh_argv(self) -> list[str]:
        """The command line that runs a shell line (appended) as root in the guest, over SSH from the
        management namespace with the seed's key (`fabric lab exec` uses it too)."""
        known_hosts = self.dir / "known_hosts"
        argv = ["ip", "netns", "exec", self.mgmt.name, "ssh", "-q", "-i", str(self.ssh_key)]
        argv += ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "StrictHostKeyChecking=accept-new"]
        return [*argv, "-o", f"UserKnownHostsFile={known_hosts}", f"root@{GUEST_MGMT}"]

    def ssh(self, command: str, *, timeout: float = 60.0) -> Result:
        """Run `command` (a shell line) as root in the guest over SSH, with the seed's key."""
        return run([*self.ssh_argv(), command], timeout=timeout)

    @property
    def daemon(self) -> Daemon | None:
        """The qemu process (None when stopped)."""
        return self._qemu

    def wait_ssh(self, timeout: float = 240.0) -> float:
        """Wait until the guest's sshd answers; returns the seconds since `start`."""
        last: list[Result] = []

        def ready() -> bool:
            if not self.alive():
                raise VmError(f"{self.name}: qemu exited; console tail:\n{self.console_tail()}")
            last[:] = [self.ssh("true", timeout=20)]
            return last[0].ok

        try:
            wait_until(ready, timeout=timeout, interval=1.0, what=f"{self.name}: sshd in the guest")
        except AssertionError as exc:
            tried = last[0].describe() if last else "no attempt"
            raise VmError(f"{exc}; last try: {tried}\nconsole tail:\n{self.console_tail()}") from None
        return time.monotonic() - self.started

    def console_tail(self, lines: int = 40) -> str:
        if not self.console.exists():
            return ""
        text = self.console.read_text(errors="replace")
        return "\n".join(re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text).splitlines()[-lines:])
