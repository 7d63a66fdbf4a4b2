"""Kernel VRF VM: scenarios in a qemu VM running Debian's kernel (draft docstring, see README)."""

from lab.vm.kernel import GuestKernel, find_kernel
from lab.vm.result import emit, parse_result
from lab.vm.vm import KernelVm, VmError, VmResult, vmlinux_for

__all__ = [
    "GuestKernel",
    "KernelVm",
    "VmError",
    "VmResult",
    "emit",
    "find_kernel",
    "parse_result",
    "vmlinux_for",
]
