"""The one jinja2 Environment of fabric.

`StrictUndefined` makes a missing variable an error instead of an empty string; autoescape is off
because the outputs are FRR and nftables text, which is why every value reaching a template is validated
by `fabric.model` first.  Filters are registered here and nowhere else.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from fabric.errors import FabricError


def template_dirs() -> list[Path]:
    """Where templates are looked up: `$FABRIC_TEMPLATES`, the source tree, then the installed share dir."""
    candidates = [
        os.environ.get("FABRIC_TEMPLATES", ""),
        str(Path(__file__).resolve().parents[2] / "templates"),
        str(Path(sys.prefix) / "share" / "fabric" / "templates"),
    ]
    return [Path(c) for c in candidates if c and Path(c).is_dir()]


@cache
def environment() -> jinja2.Environment:
    """The shared Environment (built once)."""
    dirs = template_dirs()
    if not dirs:
        raise FabricError("no template directory found (set FABRIC_TEMPLATES)")
    env = jinja2.Environment(  # autoescape off: FRR and nftables text, not HTML
        loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env


def render(template: str, **context: Any) -> str:
    """Render `template` (a path below a template dir, e.g. `frr/leaf.j2`) with `context`."""
    return environment().get_template(template).render(**context)
