"""`python -m bench image`: the firewall image's build time and size, and its boot time under emulation.

Side by side in one run, in a fresh cache directory: a cold build (mmdebstrap of the base + the
image), a rebuild of the image stage over the cached base (what a change of fabric's code costs),
and a cache hit; then one boot of the image (qemu, TCG, one vCPU) until sshd answers and systemd
reports the system running.  Needs root and the Debian packages of `make deps`.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from fabric.commands.image import firewall_unit
from fabric.image.build import BuildReport, build_image
from fabric.image.seeding import make_seed_disk
from fabric.image.spec import firewall_spec


def _timed(cache: Path, *, force: bool = False) -> tuple[BuildReport, float]:
    start = time.monotonic()
    report = build_image(firewall_spec(firewall_unit()), cache=cache, force=force)
    return report, time.monotonic() - start


def _boot(report: BuildReport) -> dict[str, float]:
    from lab.rig import Rig
    from lab.vm.image import ImageVm, TapNic, ssh_keypair
    from tests.integration.vm.test_firewall_image import FW1_NICS, seed_text

    with Rig() as rig:
        work = rig.tempdir("bench")
        key, public = ssh_keypair(work)
        kube = "clusters: [{name: c, cluster: {server: 'http://10.0.2.2:6443'}}]\n"
        make_seed_disk(seed_text("fw1", "http://10.0.2.2:8080", "0" * 32, kube, public), work / "seed.img")
        taps = [TapNic(f"{rig.prefix[-6:]}b{i}", nic["mac"]) for i, nic in enumerate(FW1_NICS)]
        with ImageVm(rig, report.image, work / "seed.img", key, name="bench", nics=taps) as vm:
            vm.start()
            sshd = vm.wait_ssh()
            running = vm.ssh("systemctl is-system-running --wait", timeout=300)
            analyze = vm.ssh("systemd-analyze", timeout=60).stdout.split("\n")[0]
            return {"sshd_s": round(sshd, 1), "running_s": round(time.monotonic() - vm.started, 1)} | {
                "state": running.stdout.strip(),  # type: ignore[dict-item]
                "systemd_analyze": analyze,  # type: ignore[dict-item]
            }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="fabric-bench-image-", dir="/var/tmp") as tmp:
        cache = Path(tmp)
        cold, cold_s = _timed(cache)
        rebuilt, rebuilt_s = _timed(cache, force=True)
        _, hit_s = _timed(cache)
        manifest = rebuilt.image.manifest()
        sizes = {
            name: round((rebuilt.image.path / name).stat().st_size / 2**20, 1)
            for name in ("vmlinuz", "initrd.img", "initrd-direct.img")
        }
        print(f"cold build (base + image): {cold_s:.1f} s  steps {cold.seconds}")
        print(f"image stage over the cached base: {rebuilt_s:.1f} s  steps {rebuilt.seconds}")
        print(f"cache hit: {hit_s:.2f} s  ({cold_s / rebuilt_s:.1f}x faster rebuild than cold)")
        used = int(str(manifest["rootfs_used_bytes"])) / 2**20
        size = int(str(manifest["rootfs_bytes"])) / 2**20
        debs, wheels = manifest["packages"], manifest["python_packages"]
        print(f"rootfs.ext4: {used:.0f} MiB used of {size:.0f} MiB (sparse); {debs} Debian, {wheels} Python")
        print(f"beside it (MiB): {sizes}")
        print("boot (TCG, 1 vCPU, direct kernel boot):", json.dumps(_boot(rebuilt)))


if __name__ == "__main__":
    main()
