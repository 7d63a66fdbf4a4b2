"""Incremental compilation: objects in, `CompiledPolicy` and set elements out, redoing only what changed.

`PolicyCompiler` keeps every object it was given, the fragment each one compiles to (see
`compiler.compile_service` and friends) and the set elements of every local address, so one changed
Service re-parses one object, recompiles one fragment and re-formats the elements of its own addresses.
A changed Pod recompiles the NetworkPolicies of its namespace (they select pods and resolve named ports).
The result equals `compile_policy` + `build_ruleset` over the same objects (a property test holds them
equal over random sequences of changes), except that conditions of rejected objects come sorted by
object instead of in input order.  Pure: no I/O, no clock; a daemon calls `update` once per sync.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from functools import partial
from itertools import chain
from operator import attrgetter
from typing import Any

import pydantic

from fabric.core.policy.compiler import compile_network_policy, compile_service, quarantine
from fabric.core.policy.elements import (
    Allows,
    Element,
    Group,
    allow_group,
    closure_elements,
    closure_group,
    group_offsets,
    join_groups,
    plain,
    splice_groups,
)
from fabric.core.policy.index import GroupIndex, Splicer
from fabric.core.policy.ir import (
    FAMILIES,
    Allow,
    Closure,
    CompiledPolicy,
    Deferred,
    Direction,
    Family,
    Fragment,
    Interval,
    Isolation,
    network_range,
)
from fabric.core.policy.kube import KINDS, Namespace, Network, NetworkPolicy, Pod
from fabric.core.policy.listing import by_identity, by_position, fresh_manifests
from fabric.core.policy.manifests import Rejection, flatten, parse_object, raw_id, rejection
from fabric.core.policy.ruleset import Ruleset, build_ruleset, isolated_elements
from fabric.core.policy.services import ServiceView
from fabric.model.firewall import FirewallState

_EMPTY = Fragment()  # read only
_RANK = {"NetworkPolicy": 0, "Service": 1}  # merge order: policies, services, then rejections


# Where an allow or closure goes: its set and its local address (read in C by GroupIndex.replace).
_ALLOW_SET, _CLOSURE_SET, _LOCAL = (
    attrgetter("direction", "family"),
    attrgetter("family"),
    attrgetter("local"),
)


def _merge_key(rejected: Collection[str], ident: str) -> tuple[int, str | tuple[str, ...]]:
    """Where `ident` goes in merge order: policies, then services, by namespace and name, then every
    rejected object by id."""
    if ident in rejected:
        return 2, ident
    kind, *rest = ident.split("/")
    return _RANK[kind], tuple(rest)


class _Snapshot:
    """The fragments of one `compiled()` in merge order (`order`), once read; until then, the mapping
    and rejections of that moment if the compiler changed since (else None: the live ones)."""

    __slots__ = ("__weakref__", "held", "order", "rejected")

    def __init__(self) -> None:
        self.order: tuple[Fragment, ...] | None = None
        self.held: dict[str, Fragment] | None = None
        self.rejected: frozenset[str] = frozenset()


class PolicyCompiler:
    """The compiled policy of a changing set of Kubernetes objects (see the module docstring)."""

    def __init__(self, cluster_prefixes: Iterable[Network], isolation: Isolation) -> None:
        self.isolation: Isolation = isolation
        self._raw: dict[str, dict[str, Any]] = {}
        self._held: dict[int, str] = {}  # id() of each held manifest -> its object id
        self._listing: list[Any] | None = None  # the last synced listing, if `by_position` may use it
        self._services: dict[str, ServiceView] = {}
        self._policies: dict[str, NetworkPolicy] = {}
        self._pods: dict[str, dict[str, Pod]] = {}  # namespace -> id -> pod
        self._namespaces: dict[str, Namespace] = {}
        self._rejected: dict[str, Rejection] = {}
        self._fragments: dict[str, Fragment] = {}
        self._order: list[str] | None = None
        self._in_order: list[Fragment] = []  # self._fragments in merge order (while _order is valid)
        self._position: dict[str, int] = {}
        self._unread: list[weakref.ref[_Snapshot]] = []  # snapshots of compiled(), see _in_merge_order
        self._cluster: Counter[tuple[Family, Interval]] = Counter(
            (4 if n.version == 4 else 6, network_range(n)) for n in cluster_prefixes
        )
        self._cluster_elements: dict[Family, tuple[Element, ...]] | None = None
        self._cluster_lists: dict[Family, list[Interval]] | None = None
        self._isolating: set[str] = set()
        self._isolated: CompiledPolicy | None = None
        self._allows: GroupIndex[tuple[Direction, Family], Allow, Group] = GroupIndex(
            lambda key, local, allows: allow_group(key[0], key[1], local, allows),
            lambda key, groups: join_groups(groups),
            splice=Splicer(group_offsets, splice_groups),
        )
        self._closures: GroupIndex[Family, Closure, Any] = GroupIndex(
            lambda family, local, closures: closure_group(closures),
            lambda family, groups: tuple(closure_elements(family, groups)),
            with_locals=True,
        )

    def update(self, changed: Iterable[Any] = (), deleted: Iterable[str] = ()) -> CompiledPolicy:
        """Apply added/modified manifests (dicts as kubectl or the API gives them; `List`s unpacked) and
        deletions (object ids, `Kind/namespace/name`); return the compiled policy of all objects.

        A manifest equal to the one held for its id is skipped.  Pass new dicts, never mutate one passed.
        """
        self._listing = None  # held objects change outside a listing: the next sync compares by id
        return self._update(changed, deleted)

    def _update(self, changed: Iterable[Any], deleted: Iterable[str]) -> CompiledPolicy:
        if self._unread:
            self._keep_snapshots()
        # Ids whose fragment must be recompiled, in the order they came: a dict, not a set, so a cold
        # start compiles objects in listing order (their memory order: 15% faster than hash order) and
        # the cluster addresses arrive nearly sorted (sorting them in `compiled` is then linear).
        stale: dict[str, None] = {}
        namespaces: set[str] = set()  # namespaces whose pods changed
        for ident in deleted:
            self._forget(ident, namespaces)
            stale[ident] = None
        for raw in flatten(changed):
            kind = raw.get("kind")
            if not isinstance(kind, str) or kind not in KINDS:
                continue
            ident = raw_id(kind, raw)
            held = self._raw.get(ident)
            if held is not None:
                if held == raw:
                    # Hold the new dict instead: the next sync finds it by identity, not by comparing.
                    del self._held[id(held)]
                    self._raw[ident], self._held[id(raw)] = raw, ident
                    continue
                self._forget(ident, namespaces)
            self._raw[ident] = raw
            self._held[id(raw)] = ident
            stale[ident] = None
            try:
                self._remember(ident, kind, parse_object(kind, raw), namespaces)
            except pydantic.ValidationError as exc:
                self._rejected[ident] = rejection(ident, exc, raw)
                self._order = None  # a rejected object moves to the end of the merge order
        if namespaces:  # their policies select pods and resolve named ports: recompile them
            for ident in [*self._policies, *self._rejected]:
                if ident.startswith("NetworkPolicy/") and ident.split("/")[1] in namespaces:
                    stale[ident] = None
        for ident in stale:
            self._recompile(ident)
        return self.compiled()

    def sync(self, objects: Iterable[Any]) -> CompiledPolicy:
        """Make the held objects exactly `objects` (a full listing).

        A manifest that is the very dict held already costs no Python-level work (see
        `fabric.core.policy.listing`): a sync of 20,000 unchanged objects and one changed finds the
        changed one in C.  New dicts are compared with the held one of their id, and parsed only when
        they differ."""
        listing = objects if isinstance(objects, list) else list(objects)
        prev, self._listing = self._listing, None
        delta = by_position(prev, listing, self._held) if prev is not None else None
        if delta is None:
            delta = by_identity(listing, self._held, len(self._raw))
        fresh = fresh_manifests(delta.fresh, self._held)
        gone = [i for i in delta.gone if i not in fresh.idents and i not in fresh.kept]
        compiled = self._update(fresh.changed, sorted(gone))
        if not fresh.lists and len(self._raw) == len(listing):
            # Every entry is a distinct held object (each held id is listed once): the next sync
            # may compare by position.  A copy, as the caller may change its list in place.
            self._listing = list(listing)
        return compiled

    def _forget(self, ident: str, namespaces: set[str]) -> None:
        old = self._raw.pop(ident, None)
        if old is None:
            return  # never held: nothing else is either (every other table is filled after `_raw`)
        self._held.pop(id(old), None)
        if self._rejected.pop(ident, None) is not None:
            self._order = None  # no longer rejected: its place in the merge order changes
        self._services.pop(ident, None)
        self._policies.pop(ident, None)
        self._namespaces.pop(ident, None)
        if ident.startswith("Pod/"):
            namespace = ident.split("/")[1]
            if self._pods.get(namespace, {}).pop(ident, None) is not None:
                namespaces.add(namespace)

    def _remember(self, ident: str, kind: str, obj: Any, namespaces: set[str]) -> None:
        if kind == "Service":
            self._services[ident] = obj
        elif kind == "NetworkPolicy":
            self._policies[ident] = obj
        elif kind == "Pod":
            self._pods.setdefault(obj.metadata.namespace, {})[ident] = obj
            namespaces.add(obj.metadata.namespace)
        else:
            self._namespaces[ident] = obj

    def _pods_of(self, namespace: str) -> list[Pod]:
        pods = self._pods.get(namespace, {})
        return [pods[i] for i in sorted(pods, key=lambda i: i.split("/")[2])]

    def _recompile(self, ident: str) -> None:
        fragment: Fragment | None = None
        service = self._services.get(ident)
        if service is not None:
            fragment = compile_service(service, self.isolation)
        elif ident in self._policies:
            policy = self._policies[ident]
            fragment = compile_network_policy(policy, self._pods_of(policy.metadata.namespace))
        elif ident in self._rejected:
            found = self._rejected[ident]
            fragment = quarantine(found, {found.namespace: self._pods_of(found.namespace)}, self.isolation)
        self._replace(ident, fragment)

    def _replace(self, ident: str, fragment: Fragment | None) -> None:
        old = self._fragments.pop(ident, None)
        if old is None:
            if fragment is not None:
                self._add(ident, fragment)
            return
        if fragment is None:
            self._order = None  # it leaves the merge order
        before, after = old, fragment or _EMPTY
        self._allows.replace(ident, before.allows, after.allows, _ALLOW_SET, _LOCAL)
        if before.closures or after.closures:
            self._closures.replace(ident, before.closures, after.closures, _CLOSURE_SET, _LOCAL)
        if before.cluster != after.cluster:
            counts = self._cluster
            for entry in before.cluster:
                counts[entry] -= 1
                if not counts[entry]:
                    del counts[entry]
            for entry in after.cluster:
                counts[entry] = counts.get(entry, 0) + 1
            self._cluster_elements = self._cluster_lists = None
        if before.isolated or after.isolated:
            self._isolated = None
            self._isolating.discard(ident)
            if after.isolated:
                self._isolating.add(ident)
        if fragment is not None:
            self._fragments[ident] = fragment
            if self._order is not None:
                self._in_order[self._position[ident]] = fragment

    def _add(self, ident: str, fragment: Fragment) -> None:
        """`_replace` of nothing (every object of a cold start): only what `fragment` holds is done."""
        self._order = None
        if fragment.allows:
            self._allows.replace(ident, (), fragment.allows, _ALLOW_SET, _LOCAL)
        if fragment.closures:
            self._closures.replace(ident, (), fragment.closures, _CLOSURE_SET, _LOCAL)
        if fragment.cluster:
            counts = self._cluster
            for entry in fragment.cluster:
                counts[entry] = counts.get(entry, 0) + 1
            self._cluster_elements = self._cluster_lists = None
        if fragment.isolated:
            self._isolated = None
            self._isolating.add(ident)
        self._fragments[ident] = fragment

    def _ordered(self) -> list[str]:
        if self._order is None:
            self._order = sorted(self._fragments, key=partial(_merge_key, self._rejected))
            self._in_order = [self._fragments[i] for i in self._order]
            self._position = {ident: n for n, ident in enumerate(self._order)}
        return self._order

    def compiled(self) -> CompiledPolicy:
        """The compiled policy of every object held now.

        Its allows, closures and conditions are put in merge order when first read, not here: sorting
        20,000 object ids is not needed to build the ruleset, so a daemon reads conditions once nft has
        loaded the table.  They are still those of now, whenever they are read."""
        fragments = self._in_merge_order()
        if self._cluster_lists is None:
            self._cluster_lists = {4: [], 6: []}
            for (family, rng), count in self._cluster.items():
                self._cluster_lists[family].extend([rng] * count)
            for values in self._cluster_lists.values():
                values.sort()
        return CompiledPolicy(
            isolation=self.isolation,
            cluster={f: list(v) for f, v in self._cluster_lists.items()},
            allows=Deferred(lambda: list(chain.from_iterable(map(attrgetter("allows"), fragments())))),
            closures=Deferred(lambda: list(chain.from_iterable(map(attrgetter("closures"), fragments())))),
            isolated=self._isolated_table().isolated,
            conditions=Deferred(lambda: [c for c in map(attrgetter("condition"), fragments()) if c]),
        )

    def _in_merge_order(self) -> Callable[[], tuple[Fragment, ...]]:
        """The fragments held now in merge order, sorted on first call; the sort is kept if nothing
        changed since.  Fragments are replaced, never changed, so should the compiler change before
        the first call, a copy of the mapping made just before that change is enough; one nobody can
        read any more (the usual case) is never copied."""
        if self._order is not None:
            done = tuple(self._in_order)
            return lambda: done
        snapshot = _Snapshot()
        self._unread.append(weakref.ref(snapshot))

        def make() -> tuple[Fragment, ...]:
            if snapshot.order is None:
                held = snapshot.held
                if held is None:  # nothing changed since
                    self._ordered()
                    snapshot.order = tuple(self._in_order)
                else:
                    key = partial(_merge_key, snapshot.rejected)
                    snapshot.order, snapshot.held = tuple(held[i] for i in sorted(held, key=key)), None
            return snapshot.order

        return make

    def _keep_snapshots(self) -> None:
        """Before anything changes: copy the mapping for every snapshot that may still be read."""
        for ref in self._unread:
            snapshot = ref()
            if snapshot is not None and snapshot.order is None and snapshot.held is None:
                snapshot.held, snapshot.rejected = dict(self._fragments), frozenset(self._rejected)
        self._unread.clear()

    def _isolated_table(self) -> CompiledPolicy:
        if self._isolated is None:
            table = CompiledPolicy(self.isolation, {4: [], 6: []})
            # Only the isolating objects in merge order: the same order as filtering the full one.
            for ident in sorted(self._isolating, key=partial(_merge_key, self._rejected)):
                for direction, family, address, origin in self._fragments[ident].isolated:
                    table.isolated.setdefault((direction, family), {}).setdefault(address, []).append(origin)
            self._isolated = table
        return self._isolated

    def ruleset(self, state: FirewallState | None = None) -> Ruleset:
        """The table of every object held now (elements of unchanged addresses are reused as they are)."""
        return build_ruleset(CompiledPolicy(self.isolation, {}), state, elements=self)

    # SetElements (see fabric.core.policy.ruleset): what build_ruleset reads.
    def cluster(self, family: Family) -> tuple[Element, ...]:
        if self._cluster_elements is None:
            self._cluster_elements = {
                f: tuple(plain(f, [r for (g, r), n in self._cluster.items() if g == f and n > 0]))
                for f in FAMILIES
            }
        return self._cluster_elements[family]

    def allows(self, direction: Direction, family: Family) -> Allows:
        found: Allows = self._allows.elements((direction, family))
        return found

    def closures(self, family: Family) -> tuple[Element, ...]:
        found: tuple[Element, ...] = self._closures.elements(family)
        return found

    def isolated(self, direction: Direction, family: Family) -> tuple[Element, ...]:
        return isolated_elements(family, self._isolated_table().isolated.get((direction, family), {}))
