"""Reading manifests from disk: `kubectl get -o yaml` output, multi-document files, `List` kinds."""

from __future__ import annotations

import json
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


def read_documents(path: Path) -> list[Any]:
    """The documents of one file.  `.json` files (`kubectl get -o json`) are read as JSON, ~20x faster
    than libyaml for the same objects; YAML is a superset of JSON, so one that is not strict JSON is
    read as YAML, as before."""
    text = path.read_text()
    if path.suffix == ".json":
        try:
            return [json.loads(text)]
        except ValueError:
            pass
    try:
        return load_plain_yaml(text)
    except _Unusual:
        return list(yaml.load_all(text, Loader=LOADER))


class _Unusual(Exception):
    """The text uses YAML that `load_plain_yaml` leaves to the full loader."""


class _Mapping:
    """A mapping being built, and the key waiting for its value."""

    __slots__ = ("items", "key", "keyed")

    def __init__(self) -> None:
        self.items: dict[Any, Any] = {}
        self.key: Any = None
        self.keyed = False


_PLAIN_TAGS = (None, "!")
_SPECIAL_KEYS = frozenset({"<<", "="})  # merge and value keys: PyYAML's constructor rewrites them


def load_plain_yaml(text: str) -> list[Any]:
    """The documents of `text` exactly as `yaml.load_all` with the safe loader gives them, built straight
    from libyaml's events: PyYAML's node tree and its per-node constructor calls cost ~3x the parsing
    (20,000 services: ~3 s).  Scalars resolve and construct through PyYAML's own resolver and safe
    constructors (memoised: keys and many values repeat).  Anchors, aliases, tags on collections, merge
    keys and collection keys raise `_Unusual`; the caller then reads the text with the full loader."""
    loader = LOADER(text)
    scalars: dict[tuple[Any, ...], Any] = {}
    docs: list[Any] = []
    stack: list[Any] = []  # open collections: a list, or a _Mapping
    try:
        while loader.check_event():
            event = loader.get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                if event.anchor is not None:
                    raise _Unusual
                memo = (event.tag, event.value, event.implicit)
                if memo in scalars:
                    value = scalars[memo]
                else:
                    value = scalars[memo] = _scalar(loader, event)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if event.anchor is not None or event.tag not in _PLAIN_TAGS:
                    raise _Unusual
                stack.append(_Mapping() if kind is yaml.MappingStartEvent else [])
                continue
            elif kind is yaml.MappingEndEvent:
                value = stack.pop().items
            elif kind is yaml.SequenceEndEvent:
                value = stack.pop()
            elif kind is yaml.AliasEvent:
                raise _Unusual
            else:
                continue  # stream and document boundaries
            if not stack:
                docs.append(value)
                continue
            top = stack[-1]
            if type(top) is list:
                top.append(value)
            elif top.keyed:
                top.items[top.key] = value
                top.keyed = False
            else:
                if kind is not yaml.ScalarEvent or event.value in _SPECIAL_KEYS:
                    raise _Unusual
                top.key, top.keyed = value, True
    finally:
        loader.dispose()
    return docs


def _scalar(loader: Any, event: Any) -> Any:
    """One scalar as the safe loader constructs it (its tag resolved as PyYAML's composer does)."""
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    make = loader.yaml_constructors.get(tag)
    if make is None:
        raise _Unusual  # the full loader raises its own error naming the tag
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    return make(loader, node)


def load_manifests(paths: list[Path]) -> Cluster:
    """Typed objects from every file; a file that does not parse is one rejection, the rest still load."""
    documents: list[Any] = []
    unreadable: list[Rejection] = []
    for path in manifest_files(paths):
        try:
            documents.extend(read_documents(path))
        except (OSError, yaml.YAMLError) as exc:
            unreadable.append(Rejection(f"File/{path}", f"cannot read: {exc}".replace("\n", " ")))
    cluster = parse_objects(documents)
    cluster.rejected[:0] = unreadable
    return cluster
