"""The firewall pipeline in one place: manifests → objects → compiled policy → ruleset → nft text."""

from __future__ import annotations

import gc
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fabric.core.policy.compiler import compile_policy
from fabric.core.policy.ir import CompiledPolicy, Isolation
from fabric.core.policy.kube import Network
from fabric.core.policy.ruleset import Ruleset, build_ruleset
from fabric.errors import ValidationError
from fabric.firewall.manifests import load_manifests
from fabric.model import FirewallState, load_file


def parse_prefixes(texts: list[str]) -> list[Network]:
    """`--cluster-prefix` values; a bad one is a ValidationError naming it."""
    out: list[Network] = []
    for text in texts:
        try:
            out.append(ipaddress.ip_network(text, strict=True))
        except ValueError as exc:
            raise ValidationError(f"{text!r} is not a prefix: {exc}", "--cluster-prefix") from None
    return out


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: compiling 20,000 services allocates ~10^6 objects, and the
    collector's passes over them cost as much as the work itself.  (Nothing here makes cycles.)"""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compile_manifests(
    manifests: list[Path], prefixes: list[Network], isolation: Isolation, state_file: Path | None = None
) -> tuple[CompiledPolicy, Ruleset]:
    """Everything `fabric firewall compile` does before formatting; prefixes from `state_file` join in."""
    state = load_file(FirewallState, state_file) if state_file is not None else None
    all_prefixes = list(prefixes) + (list(state.cluster_prefixes) if state is not None else [])
    if not all_prefixes:
        raise ValidationError("give at least one --cluster-prefix (or a --state with cluster_prefixes)")
    with paused_gc():
        compiled = compile_policy(load_manifests(manifests), all_prefixes, isolation)
        return compiled, build_ruleset(compiled, state)
