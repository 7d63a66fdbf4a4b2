"""The pure parts of lab/vm: the cpio writer, module load order, the result protocol."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from fabric.adapters.process import run
from fabric.image.initrd import Entry, newc_archive
from lab.vm.initramfs import init_script
from lab.vm.kernel import GuestKernel, find_kernel
from lab.vm.result import RESULT_BEGIN, RESULT_END, parse_result


def test_parse_result_takes_the_last_complete_block() -> None:
    output = f'log\n{RESULT_BEGIN}\n{{"a": 1}}\n{RESULT_END}\n{RESULT_BEGIN}\n{{"a": 2}}\n{RESULT_END}\n'
    assert parse_result(output) == {"a": 2}
    assert parse_result(f'log\n{RESULT_BEGIN}\n{{"a": 1}}\n') is None
    with pytest.raises(ValueError):
        parse_result(f"{RESULT_BEGIN}\nnot json\n{RESULT_END}\n")


@pytest.mark.needs("qemu")  # /bin/busybox (busybox-static) is part of it
def test_newc_archive_lists_with_cpio(tmp_path: Path) -> None:
    archive = newc_archive(
        [
            Entry("bin", stat.S_IFDIR | 0o755),
            Entry("bin/hello", stat.S_IFREG | 0o755, b"odd length!"),
            Entry("bin/sh", stat.S_IFLNK | 0o777, b"busybox"),
            Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        ]
    )
    assert len(archive) % 4 == 0
    (tmp_path / "a.cpio").write_bytes(archive)
    listed = run(["/bin/busybox", "cpio", "-tv", "-F", str(tmp_path / "a.cpio")], timeout=10)
    assert listed.ok, listed.describe()
    names = [
        line.split()[-1] if "->" not in line else line.split()[-3] for line in listed.stdout.splitlines()
    ]
    assert names == ["bin", "bin/hello", "bin/sh", "dev/console"]
    assert "bin/sh -> busybox" in listed.stdout


def test_init_script_loads_modules_in_order_and_hands_over() -> None:
    script = init_script(["a.ko", "b.ko"], Path("/repo/lab/vm/guest-init.sh"))
    assert "for m in a.ko b.ko;" in script
    assert script.rstrip().endswith("exec switch_root /newroot /repo/lab/vm/guest-init.sh")


def test_module_closure_puts_dependencies_first(tmp_path: Path) -> None:
    (tmp_path / "modules.dep").write_text(
        "kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko\n"
        "kernel/net/9p/9pnet.ko:\nkernel/fs/netfs/netfs.ko:\n"
        "kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko\n"
    )
    kernel = GuestKernel("6.1.0-1-amd64", tmp_path / "vmlinuz", tmp_path)
    names = [p.name for p in kernel.module_closure(["9pnet_virtio", "9p"])]
    assert names == ["9pnet.ko", "9pnet_virtio.ko", "netfs.ko", "9p.ko"]
    with pytest.raises(LookupError, match="no module 'vrf'"):
        kernel.module_closure(["vrf"])


@pytest.mark.needs("qemu")
def test_installed_kernel_has_the_modules_scenarios_need() -> None:
    kernel = find_kernel()
    assert kernel is not None
    needed = ["vrf", "veth", "vxlan", "bridge", "nf_tables", "9pnet_virtio", "9p", "overlay", "virtio_pci"]
    assert all(path.is_file() for path in kernel.module_closure(needed))
