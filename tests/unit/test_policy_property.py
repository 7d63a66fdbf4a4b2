"""Property: `explain` (the compiled policy) agrees with an independent reference evaluator of the
Kubernetes rules on random clusters and flows; and the disjoint set elements cover exactly the allows."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fabric.core.policy.disjoint import disjoint
from fabric.core.policy.explain import Flow, explain
from tests.unit.policy_helpers import CLUSTER, compiled
from tests.unit.policy_random import clusters, flows
from tests.unit.policy_reference import reference_verdict


@settings(max_examples=300, deadline=None)
@given(
    objects=clusters(),
    sample=st.lists(flows(), min_size=1, max_size=12),
    isolation=st.sampled_from(["boundary", "kubernetes"]),
)
def test_explain_agrees_with_reference(
    objects: list[dict[str, Any]], sample: list[tuple[str, str, int, str]], isolation: str
) -> None:
    policy = compiled(objects, isolation)  # type: ignore[arg-type]
    for src, dst, port, proto in sample:
        got = explain(policy, Flow(ipaddress.ip_address(src), ipaddress.ip_address(dst), port, proto.lower()))
        want = reference_verdict(objects, CLUSTER, isolation, src, dst, port, proto)
        assert (got.verdict == "allow") == want, f"{src} -> {dst} {port}/{proto}: {got}"


BOX = st.tuples(*[st.tuples(st.integers(0, 7), st.integers(0, 7)).map(sorted).map(tuple)] * 3)


@settings(max_examples=300, deadline=None)
@given(boxes=st.lists(st.tuples(BOX, st.sampled_from("abc")), max_size=8))
def test_disjoint_covers_the_union_exactly(boxes: list[Any]) -> None:
    pieces = disjoint(boxes)
    for x in range(8):
        for y in range(8):
            for z in range(8):
                point = (x, y, z)
                covering = [p for p in pieces if _inside(point, p[0])]
                origins = {o for b, o in boxes if _inside(point, b)}
                assert len(covering) <= 1, f"{point} in overlapping pieces {covering}"
                assert (covering[0][1] if covering else set()) == origins


def _inside(point: tuple[int, ...], box: Any) -> bool:
    return all(lo <= v <= hi for v, (lo, hi) in zip(point, box, strict=True))
