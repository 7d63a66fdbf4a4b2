"""Manifest files: `.json` read as JSON gives exactly what reading it as YAML gives, and the plain YAML
fast path gives exactly what PyYAML's safe loader gives (or hands the text to it)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fabric.firewall.manifests import LOADER, _Unusual, load_manifests, load_plain_yaml, read_documents
from tests.unit.policy_helpers import lb, pod, policy

OBJECTS = [
    lb("web", ["203.0.113.10", "2001:db8:ffff::10"], [{"port": 443, "protocol": "UDP"}], ["192.0.2.0/25"]),
    pod("db", ["10.244.1.20"], {"app": "db"}, pg=(5432, "TCP")),
    policy("p", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}]}),
    lb("bad", ["203.0.113.11"], [{"port": 0}]),
]


def test_json_and_yaml_read_the_same(tmp_path: Path) -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": OBJECTS}
    (tmp_path / "a.json").write_text(json.dumps(listing, indent=1))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(listing))
    from_json, from_yaml = load_manifests([tmp_path / "a.json"]), load_manifests([tmp_path / "b.yaml"])
    assert from_json == from_yaml
    assert len(from_json.services) == 1 and from_json.rejected[0].object == "Service/app/bad"


def test_a_json_file_that_is_really_yaml_still_loads(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(yaml.safe_dump(OBJECTS[0]))
    assert [s.name for s in load_manifests([tmp_path / "c.json"]).services] == ["web"]


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(
        ["yes", "off", "0o17", "0x1f", "1e3", ".inf", "~", "2020-01-01", "<<", "=", "1_000", "-"]
    ),
)
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), inner, max_size=4),
    ),
    max_leaves=20,
)


def _outcome(load: Callable[[str], object], text: str) -> object:
    try:
        return repr(load(text))  # repr: distinguishes 1 from True, and nan == nan
    except Exception as exc:  # PyYAML raises ValueError too (`!!int x`)
        return ("error", type(exc).__name__, str(exc))


def _read(text: str) -> object:
    """What `read_documents` makes of a `.yaml` file holding `text`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.yaml"
        path.write_text(text)
        return _outcome(lambda _: read_documents(path), text)


def _full(text: str) -> object:
    return _outcome(lambda t: list(yaml.load_all(t, Loader=LOADER)), text)


@settings(max_examples=300, deadline=None)
@given(st.lists(DATA, min_size=1, max_size=3), st.sampled_from([None, True, False]), st.booleans())
def test_plain_yaml_loads_what_the_safe_loader_loads(
    docs: list[object], flow: bool | None, start: bool
) -> None:
    text = yaml.safe_dump_all(docs, default_flow_style=flow, explicit_start=start)
    fast = _outcome(load_plain_yaml, text)
    if fast != ("error", "_Unusual", ""):
        assert fast == _full(text)
    assert _read(text) == _full(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "---\n",
        "a: 1\n---\n- x\n- 2020-01-01\n",
        "a: !!str 3\nb: !!binary aGk=\nc: !!int 7\n",
        "a: yes\nb: 0o17\nc: 1e3\nd: .nan\ne: ~\nf: '1'\n",
        "- {a: [1, {b: c}], c: 2}\n",
        "a: 1\na: 2\n",
        "a: !!int x\n",
        "a: [1\n",
    ],
)
def test_plain_yaml_examples(text: str) -> None:
    assert _outcome(load_plain_yaml, text) == _full(text)


def test_kubectl_listings_take_the_fast_path() -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": OBJECTS}
    text = yaml.safe_dump(listing)
    assert load_plain_yaml(text) == [listing]


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",
        "<<: {a: 1}\n",
        "'<<': 1\n",
        "? [1]\n: 2\n",
        "x: !!set {a, b}\n",
        "a: !foo 1\n",
        "=: 1\n",
    ],
)
def test_unusual_yaml_goes_to_the_full_loader(text: str) -> None:
    with pytest.raises(_Unusual):
        load_plain_yaml(text)
    assert _read(text) == _full(text)


NULLS = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop, labels: }
spec:
  podSelector: {matchLabels: }
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: }
      podSelector:
    ports:
  - from:
    - ipBlock: {cidr: 10.0.0.0/8, except: }
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, annotations: }
spec:
  type: LoadBalancer
  selector:
  ports: [{port: 443, protocol: TCP}]
  loadBalancerSourceRanges:
status: {loadBalancer: {ingress: [{ip: 203.0.113.7}]}}
"""
ABSENT = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {}
  - from:
    - ipBlock: {cidr: 10.0.0.0/8}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: LoadBalancer
  ports: [{port: 443, protocol: TCP}]
status: {loadBalancer: {ingress: [{ip: 203.0.113.7}]}}
"""


def test_a_null_field_means_what_the_api_server_makes_of_it_the_field_absent() -> None:
    from fabric.core.policy.compiler import compile_policy
    from fabric.core.policy.manifests import parse_objects

    def compiled(text: str) -> object:
        cluster = parse_objects(list(yaml.safe_load_all(text)))
        assert cluster.rejected == []
        return compile_policy(cluster, [], "kubernetes")

    assert compiled(NULLS) == compiled(ABSENT)
