"""Kernel VRF VM: run a scenario inside qemu with Debian's kernel, where kernel VRF devices exist.

The machines we test on have no kernel VRF devices (``ip link add x type vrf`` fails) and KVM cannot
run a stock kernel, so a scenario that needs real VRFs (the production FRR rendering, route leaking
between VRFs, nftables between them) boots Debian's ``linux-image-amd64`` under qemu's software
emulation (TCG) and runs there.  Needs the Debian packages ``qemu-system-x86``, ``linux-image-amd64``
and ``busybox-static`` (all in the Makefile's DEBS); the rig feature is ``needs("qemu")``.

The guest:

- boots the kernel's ELF image (extracted once from /boot/vmlinuz-* into /var/cache/fabric-lab/vm)
  through qemu's PVH entry, with an initramfs built here (static busybox + the virtio/9p/overlay
  modules of that kernel);
- mounts the host root read-only over virtio-9p under a tmpfs overlay: every host binary (FRR,
  iproute2, nft, this repository and its virtualenv) is there, writes stay in the guest; /run and
  /tmp are fresh tmpfs; /lib/modules is the host's, which holds the installed kernel's modules;
- mounts the run's job directory (a rig temp dir) read-write at /job, loads ``modules`` (vrf and
  veth by default; the rest load on demand), runs the scenario as root with cwd /job, writes its
  output to /job/output.log and powers off.  The qemu PID is a rig daemon in the ledger.

Writing a scenario: a Python file runs under the host's interpreter with the repository on
PYTHONPATH, so it builds its world with `lab.rig` exactly as a host test does (namespaces, veths,
`Rig.frr`), then prints its observations with `lab.vm.result.emit(data)`; the host reads them as
`VmResult.data` and asserts there.  Input files go in through ``files=``; files the scenario writes
to /job are in `VmResult.job_dir` afterwards.  See `lab.vm.scenarios.kernel_vrf_leaf`::

    with Rig() as rig, KernelVm(rig) as vm:
        result = vm.run_scenario(Path("my_scenario.py"), files={"spec.json": text}, timeout=240)
        result.check().data  # rc 0, and the JSON the scenario emitted

Measured on the 2-core CI size while other test runs shared it (load 4-5): boot to the guest init
4.9-6.1 s (4.0 s on an idle machine; booting the compressed bzImage instead took 9.7 s, so PVH
saves ~60 %); Python start with lab.rig imported ~6-10 s (emulated, over 9p); the kernel VRF leaf
scenario (3 FRR instances, BGP unnumbered, pings) 42 s; its test module 49 s wall.
"""

from lab.vm.kernel import GuestKernel, find_kernel
from lab.vm.result import emit, parse_result
from lab.vm.vm import KernelVm, VmError, VmResult, run_spec_scenario, vmlinux_for

__all__ = [
    "GuestKernel",
    "KernelVm",
    "VmError",
    "VmResult",
    "emit",
    "find_kernel",
    "parse_result",
    "run_spec_scenario",
    "vmlinux_for",
]
