"""`fabric image`: build the firewall machine image; make, check and apply its seed."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from fabric.commands._errors import fail

app = typer.Typer(
    help="Machine images: build the firewall image; make, check and apply seeds.", no_args_is_help=True
)
seed_app = typer.Typer(
    help="The seed: what makes one booted image a particular firewall.", no_args_is_help=True
)
app.add_typer(seed_app, name="seed")


class ImageName(StrEnum):
    firewall = "firewall"


def firewall_unit() -> str:
    """The shipped fabric-firewall.service (templates/systemd)."""
    from fabric.render.env import template_dirs

    for directory in template_dirs():
        unit = directory / "systemd" / "fabric-firewall.service"
        if unit.is_file():
            return unit.read_text()
    raise FileNotFoundError("fabric-firewall.service not found in the template directories")


@app.command()
def build(
    name: Annotated[ImageName, typer.Argument(help="The image to build.")] = ImageName.firewall,
    cache: Annotated[
        Path | None, typer.Option(help="Cache directory (default /var/cache/fabric/images).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Build even when the cache holds this image.")] = False,
    output: Annotated[str, typer.Option("-o", "--output", help="text or json.")] = "text",
) -> None:
    """Build a bootable Debian 12 image (as root; no Docker, no loop devices), cached by its inputs."""
    from fabric.errors import FabricError
    from fabric.image.build import CACHE, build_image
    from fabric.image.spec import firewall_spec

    quiet = output == "json"
    try:
        report = build_image(
            firewall_spec(firewall_unit()),
            cache=cache or CACHE,
            force=force,
            progress=(lambda _: None) if quiet else (lambda line: typer.echo(line, err=True)),
        )
    except FabricError as exc:
        fail(exc)
    image = report.image
    manifest = image.manifest()
    summary = {"image": str(image.path), "cached": report.cached, **manifest}
    if quiet:
        typer.echo(json.dumps(summary, indent=2))
        return
    used = int(str(manifest["rootfs_used_bytes"])) / 2**20
    typer.echo(f"{image.name} image {image.key} ({'cached' if report.cached else 'built'}): {image.path}")
    typer.echo(
        f"  rootfs.ext4 {used:.0f} MiB used, kernel {manifest['kernel']}, {manifest['packages']} packages"
    )
    typer.echo("  boot: vmlinuz + initrd.img (real hardware) or initrd-direct.img (VMs, root=/dev/vda)")


@seed_app.command()
def example() -> None:
    """Print a complete example seed.yaml."""
    from fabric.image.seed import EXAMPLE

    typer.echo(EXAMPLE, nl=False)


@seed_app.command()
def check(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A seed.yaml.")]) -> None:
    """Validate a seed.yaml: every problem with its field."""
    from fabric.errors import ValidationError
    from fabric.image.seed import parse_seed

    try:
        seed = parse_seed(file.read_text(), str(file))
    except ValidationError as exc:
        fail(exc)
    typer.echo(f"{file}: valid seed of firewall {seed.name}")


@seed_app.command()
def disk(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A seed.yaml.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The disk image to write.")],
) -> None:
    """Validate a seed.yaml and write it to a small disk image labelled fabric-seed (mke2fs, no mount)."""
    from fabric.errors import FabricError
    from fabric.image.seeding import make_seed_disk

    try:
        seed = make_seed_disk(file.read_text(), output)
    except FabricError as exc:
        fail(exc)
    typer.echo(f"{output}: seed disk of firewall {seed.name}")


@seed_app.command()
def apply(
    device: Annotated[
        Path | None, typer.Option(help="The seed's file system or a directory (default: by its label).")
    ] = None,
    root: Annotated[
        Path, typer.Option(help="Write under this root (/ also renames NICs, sets the hostname).")
    ] = Path("/"),
    wait: Annotated[float, typer.Option(help="Seconds to wait for the seed disk to appear.")] = 0.0,
) -> None:
    """Read the seed, validate it whole, then write this firewall's files (what fabric-seed.service runs)."""
    from fabric.errors import FabricError
    from fabric.image.seed import parse_seed
    from fabric.image.seeding import DEVICE, apply_seed, read_seed_text

    source = device or DEVICE
    try:
        seed = parse_seed(read_seed_text(source, wait=wait), f"{source}/seed.yaml")
        written = apply_seed(seed, root)
    except FabricError as exc:
        typer.echo("fabric seed: nothing written", err=True)
        fail(exc)
    typer.echo(f"fabric seed: firewall {seed.name}, {len(written)} files written under {root}")
