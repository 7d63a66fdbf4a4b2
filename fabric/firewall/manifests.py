"""Reading manifests from disk: `kubectl get -o yaml` output, multi-document files, `List` kinds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fabric.core.policy.manifests import Cluster, Rejection, parse_objects

SUFFIXES = (".yaml", ".yml", ".json")
# libyaml's safe loader when PyYAML was built with it: ~10x faster on 20,000 services.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def manifest_files(paths: list[Path]) -> list[Path]:
    """Every manifest file under `paths` (files as given, directories recursively, sorted)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()))
        else:
            out.append(path)
    return out


def load_manifests(paths: list[Path]) -> Cluster:
    """Typed objects from every file; a file that does not parse is one rejection, the rest still load."""
    documents: list[Any] = []
    unreadable: list[Rejection] = []
    for path in manifest_files(paths):
        try:
            documents.extend(yaml.load_all(path.read_text(), Loader=LOADER))
        except (OSError, yaml.YAMLError) as exc:
            unreadable.append(Rejection(f"File/{path}", f"cannot read: {exc}".replace("\n", " ")))
    cluster = parse_objects(documents)
    cluster.rejected[:0] = unreadable
    return cluster
