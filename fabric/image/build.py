"""Build an image from its `ImageSpec`: Debian base, fabric from wheels, our files; cached by inputs.

Two stages, each cached by a digest of its inputs under the cache directory (default
``/var/cache/fabric/images``, ``$FABRIC_IMAGE_CACHE``):

1. **base** (``base-<key>.tar``): `mmdebstrap` of the suite with the spec's packages, from this
   machine's own apt sources.  Changes only with the package list.
2. **image** (``<name>-<key>/``): the base unpacked, fabric installed into a virtualenv from wheels
   fetched here at build time (the image never needs a network), our files written, units enabled,
   then ``mke2fs -d`` makes ``rootfs.ext4`` of it: no loop device, no mount, no Docker.  Beside it:
   the kernel (``vmlinuz``), Debian's stock ``initrd.img`` (real hardware), the lean
   ``initrd-direct.img`` (VMs booting with ``-kernel``), ``packages.txt`` and ``manifest.json``.

A stage is built in a ``.partial`` path and renamed into place only when complete, so a failed or
interrupted build never becomes the cached image.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import fabric
from fabric.adapters.process import Result, run
from fabric.errors import FabricError
from fabric.image.initrd import build_direct_initrd
from fabric.image.seeding import write_file
from fabric.image.spec import ROOT_LABEL, VENV, ImageSpec

CACHE = Path(os.environ.get("FABRIC_IMAGE_CACHE", "/var/cache/fabric/images"))
APT_SOURCES = (Path("/etc/apt/sources.list.d"), Path("/etc/apt/sources.list"))
KEEP = 2  # images of one name kept in the cache (the newest)
# What goes into fabric's wheel, hence into the image's key (README and tests are not in it).
SOURCE_PARTS = ("fabric", "lab", "templates", "pyproject.toml")
Progress = Callable[[str], None]


class ImageError(FabricError):
    """An image could not be built; the message names the step and what it printed."""


@dataclass(frozen=True)
class Image:
    """A built image in the cache: its directory and the files in it."""

    name: str
    key: str
    path: Path

    rootfs = property(lambda self: self.path / "rootfs.ext4")
    kernel = property(lambda self: self.path / "vmlinuz")
    initrd = property(lambda self: self.path / "initrd.img")
    direct_initrd = property(lambda self: self.path / "initrd-direct.img")
    packages = property(lambda self: self.path / "packages.txt")

    def manifest(self) -> dict[str, object]:
        """What `build_image` recorded: versions, sizes, the seconds of each step."""
        return dict(json.loads((self.path / "manifest.json").read_text()))


@dataclass
class BuildReport:
    """What one `build_image` call did: the image, whether it came from the cache, each step's time."""

    image: Image
    cached: bool
    seconds: dict[str, float] = field(default_factory=dict)


def source_tree() -> Path:
    """The fabric source checkout that this fabric runs from (an image is built from sources)."""
    repo = Path(fabric.__file__).resolve().parents[1]
    if not (repo / "pyproject.toml").is_file():
        raise ImageError(f"fabric runs from {repo}, not from a source checkout: build images from one")
    return repo


def source_digest(repo: Path) -> str:
    """sha256 over the paths and contents of everything that goes into fabric's wheel."""
    import hashlib

    digest = hashlib.sha256()
    for part in SOURCE_PARTS:
        top = repo / part
        paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in paths:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def apt_sources() -> list[Path]:
    """This machine's apt source files (deb822 ``.sources`` and one-line ``.list``), in apt's order."""
    found: list[Path] = []
    for place in APT_SOURCES:
        if place.is_dir():
            found += sorted(p for p in place.iterdir() if p.suffix in (".sources", ".list"))
        elif place.is_file() and place.read_text().strip():
            found.append(place)
    if not found:
        raise ImageError("no apt sources on this machine (/etc/apt/sources.list.d/*.sources)")
    return found


def build_image(
    spec: ImageSpec, *, cache: Path = CACHE, force: bool = False, progress: Progress = lambda _: None
) -> BuildReport:
    """The image of `spec`, from the cache or built now (`force`: build even when cached).

    Needs root, `mmdebstrap` and `mke2fs` (Debian packages mmdebstrap, e2fsprogs) and pip's access
    to the package index for the wheels.  Raises `ImageError` naming the failed step.
    """
    if os.geteuid() != 0:
        raise ImageError("building an image needs root (mmdebstrap's root mode, chroot, file ownership)")
    repo = source_tree()
    sources = apt_sources()
    sources_text = "".join(p.read_text() for p in sources)
    key = spec.key(sources_text, source_digest(repo))
    image = Image(spec.name, key, cache / f"{spec.name}-{key}")
    if (image.path / "manifest.json").is_file() and not force:
        return BuildReport(image, cached=True)
    report = BuildReport(image, cached=False)
    cache.mkdir(parents=True, exist_ok=True)
    step = _Steps(report, progress)
    with _partial(image.path) as work:
        base = _base(spec, sources, sources_text, cache, step)
        root = work / "root"
        with step("unpack"):
            root.mkdir()
            _check(run(["tar", "-C", root, "--numeric-owner", "-xpf", base], timeout=600), "unpack the base")
        with step("wheels"):
            wheels = _wheels(repo, work / "wheels")
        with step("install"):
            _install_fabric(root, wheels)
            _configure(root, spec)
        with step("kernel"):
            version = _kernel(root, work)
        with step("packages"):
            listed = _check(
                run(["chroot", root, "dpkg-query", "-W", "-f", "${Package} ${Version}\\n"]), "list"
            )
            python = run(["chroot", root, f"{VENV}/bin/pip", "list", "--format=freeze"], timeout=120)
            debs = sorted(listed.stdout.splitlines())
            pythons = [f"python:{line}" for line in sorted(_check(python, "pip list").stdout.splitlines())]
            (work / "packages.txt").write_text("\n".join([*debs, *pythons]) + "\n")
        with step("ext4"):
            argv: list[str | Path] = [
                "mke2fs",
                "-q",
                "-t",
                "ext4",
                "-L",
                ROOT_LABEL,
                "-d",
                root,
                work / "rootfs.ext4",
            ]
            _check(run([*argv, f"{spec.size_mib}M"], timeout=900), "mke2fs")
        shutil.rmtree(root)
        shutil.rmtree(work / "wheels")
        _manifest(work, spec, key, version, report)
    _prune(cache, spec.name, keep=KEEP)
    return report


@contextmanager
def _partial(final: Path) -> Iterator[Path]:
    """A work directory beside `final`, renamed to it on success and removed on any failure."""
    work = final.with_name(f".{final.name}.partial-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)  # a forced rebuild replaces the cached one
    os.rename(work, final)


class _Steps:
    """Times each step of a build into the report, telling `progress` when one starts and ends."""

    def __init__(self, report: BuildReport, progress: Progress) -> None:
        self.report, self.progress = report, progress

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.progress(f"{name}...")
        start = time.monotonic()
        yield
        self.report.seconds[name] = round(time.monotonic() - start, 1)
        self.progress(f"{name}: {self.report.seconds[name]} s")


def _check(result: Result, what: str) -> Result:
    if not result.ok:
        raise ImageError(f"{what}: {result.describe()}")
    return result


def _base(spec: ImageSpec, sources: list[Path], sources_text: str, cache: Path, step: _Steps) -> Path:
    """The base stage's tarball, from the cache or made now with mmdebstrap."""
    base = cache / f"base-{spec.base_key(sources_text)}.tar"
    if base.is_file():
        return base
    partial = base.with_name(f".{base.stem}.partial-{os.getpid()}.tar")
    argv: list[str | Path] = [
        "mmdebstrap",
        "--mode=root",
        "--variant=minbase",
        f"--include={','.join(spec.packages)}",
        *(f"--dpkgopt=path-exclude={p}" for p in spec.path_excludes),
        *(f"--dpkgopt=path-include={p}" for p in spec.path_includes),
        spec.suite,
        partial,
        *sources,
    ]
    with step("base"):
        try:
            _check(run(argv, timeout=1800, input=""), "mmdebstrap (apt-get install mmdebstrap)")
            os.rename(partial, base)
        finally:
            partial.unlink(missing_ok=True)
    return base


def _wheels(repo: Path, dest: Path) -> Path:
    """fabric's wheel and every dependency's, for the image's CPython 3.11 on x86_64 glibc."""
    dest.mkdir()
    pip = [sys.executable, "-m", "pip"]
    _check(run([*pip, "wheel", "-q", "--no-deps", "-w", dest, repo], timeout=600), "build fabric's wheel")
    wheel = next(dest.glob("fabric-*.whl"))
    # Debian 12's glibc is 2.36: any manylinux wheel up to that runs there.
    platforms = [f"manylinux_2_{minor}_x86_64" for minor in range(17, 37)] + ["manylinux2014_x86_64"]
    argv: list[str | Path] = [
        *pip,
        "download",
        "-q",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--implementation",
    ]
    argv += ["cp", "--abi", "cp311", *(a for p in platforms for a in ("--platform", p)), "-d", dest, wheel]
    _check(run(argv, timeout=900), "fetch the dependencies' wheels")
    return dest


def _install_fabric(root: Path, wheels: Path) -> None:
    """A virtualenv at /opt/fabric in the image with fabric installed from `wheels`.

    pip runs in the image (its own Python decides environment markers) with a clean environment;
    a dependency whose marker only the image's Python selects (e.g. ``python_full_version <
    "3.11.3"`` on Debian's 3.11.2) is fetched from the index there, as the host's would be.
    """
    inside = root / "tmp" / "fabric-wheels"
    shutil.copytree(wheels, inside)
    resolv = root / "etc" / "resolv.conf"
    kept = resolv.read_bytes() if resolv.exists() else None
    shutil.copyfile("/etc/resolv.conf", resolv)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "PIP_CONFIG_FILE": "/dev/null"}
    env |= {k: v for k, v in os.environ.items() if k in ("PIP_INDEX_URL", "PIP_DEFAULT_TIMEOUT")}
    # The host's CA bundle: the index may be reached through a proxy that only the host's trusts.
    bundle = Path(os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt"))
    if bundle.is_file():
        shutil.copyfile(bundle, inside / "ca.pem")
        env["PIP_CERT"] = "/tmp/fabric-wheels/ca.pem"
    try:
        made = run(["chroot", root, "python3", "-m", "venv", VENV], timeout=300, env=env)
        _check(made, "make the virtualenv")
        wheel = next(inside.glob("fabric-*.whl")).name
        pip = [f"{VENV}/bin/pip", "install", "-q", "--no-cache-dir", "--find-links", "/tmp/fabric-wheels"]
        _check(
            run(["chroot", root, *pip, f"/tmp/fabric-wheels/{wheel}"], timeout=900, env=env), "pip install"
        )
    finally:
        shutil.rmtree(inside)
        if kept is None:
            resolv.unlink()
        else:
            resolv.write_bytes(kept)


def _configure(root: Path, spec: ImageSpec) -> None:
    """Our files, links and units; no per-machine identity left in the image."""
    for file in spec.files:
        write_file(root, file)
    for path, target in spec.links:
        link = root / path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    for verb, units in (("enable", spec.enable), ("mask", spec.mask)):
        if units:
            _check(run(["chroot", root, "systemctl", verb, *units], timeout=120), f"systemctl {verb}")
    for key in (root / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()  # made at each firewall's first boot (ssh.service.d/host-keys.conf)
    (root / "etc" / "machine-id").write_text("")  # systemd makes one at first boot
    (root / "var" / "lib" / "dbus" / "machine-id").unlink(missing_ok=True)


def _kernel(root: Path, out: Path) -> str:
    """Copy the image's kernel and stock initrd to `out`, write the direct-boot initrd; its version."""
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise ImageError(f"expected one kernel in the image's /boot, found {[k.name for k in kernels]}")
    version = kernels[0].name.removeprefix("vmlinuz-")
    shutil.copyfile(kernels[0], out / "vmlinuz")
    shutil.copyfile(root / "boot" / f"initrd.img-{version}", out / "initrd.img")
    build_direct_initrd(root, version, out / "initrd-direct.img")
    return version


def _manifest(work: Path, spec: ImageSpec, key: str, kernel: str, report: BuildReport) -> None:
    packages = (work / "packages.txt").read_text().splitlines()
    manifest = {
        "name": spec.name,
        "key": key,
        "suite": spec.suite,
        "kernel": kernel,
        "fabric": fabric.__version__,
        "packages": sum(1 for p in packages if not p.startswith("python:")),
        "python_packages": sum(1 for p in packages if p.startswith("python:")),
        "rootfs_bytes": (work / "rootfs.ext4").stat().st_size,
        "rootfs_used_bytes": (work / "rootfs.ext4").stat().st_blocks * 512,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": report.seconds,
    }
    (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _prune(cache: Path, name: str, *, keep: int) -> None:
    """Remove all but the `keep` newest images of `name` (and partial builds of dead processes)."""
    built = sorted(cache.glob(f"{name}-*/manifest.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for manifest in built[keep:]:
        shutil.rmtree(manifest.parent, ignore_errors=True)
    for partial in cache.glob(f".{name}-*.partial-*"):
        pid = partial.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(partial, ignore_errors=True)
