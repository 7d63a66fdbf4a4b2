"""The FRR adapter against a real FRR in a throwaway namespace: apply, verify, restore, adopt."""

from __future__ import annotations

import pytest
from switch_helpers import frr_config

from fabric.adapters.frr import LAST_GOOD, FrrAdapter
from fabric.errors import ApplyError
from lab.rig import FrrInstance, Rig

pytestmark = pytest.mark.needs("root", "netns", "frr")

GOOD = """frr version 8.4.4
frr defaults traditional
hostname frr1
service integrated-vtysh-config
!
ip prefix-list fabric-test seq 5 permit 10.0.0.0/8
!
router bgp 65001
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
exit
!
"""
# Passes `vtysh -C` (syntax) but bgpd rejects it on reload: the peer-group is not defined.
BAD = GOOD.replace(
    " no bgp ebgp-requires-policy\n",
    " no bgp ebgp-requires-policy\n neighbor eth9 interface peer-group NOPE\n",
)


@pytest.fixture(scope="module")
def instance(rig: Rig) -> FrrInstance:
    return rig.frr(rig.netns("frr1"), "frr1")


@pytest.fixture(scope="module")
def adapter(instance: FrrInstance) -> FrrAdapter:
    return FrrAdapter(frr_config(instance))


def test_version_and_sessions(adapter: FrrAdapter) -> None:
    version = adapter.version()
    assert version is not None and version.startswith("8.")
    assert adapter.bgp_sessions() == []


def test_foreign_config_needs_adoption(instance: FrrInstance, adapter: FrrAdapter) -> None:
    instance.vtysh("configure terminal", "router bgp 65099", "exit")
    assert adapter.needs_adoption()
    assert "router bgp 65099" in "\n".join(adapter.delta(GOOD).lines())
    instance.vtysh("configure terminal", "no router bgp 65099")


def test_apply_is_clean_then_failed_reload_restores_last_good(
    instance: FrrInstance, adapter: FrrAdapter
) -> None:
    drift = adapter.apply(GOOD)
    assert drift.empty, drift.lines()
    assert adapter.read_file(LAST_GOOD) == GOOD
    assert not adapter.needs_adoption()
    with pytest.raises(ApplyError) as err:
        adapter.apply(BAD)
    assert err.value.phase == "frr:reload" and err.value.retryable
    assert "restored" in str(err.value)
    assert adapter.delta(GOOD).empty  # FRR runs the last good config again
    assert "peer-group NOPE" not in instance.running_config()


def test_syntax_error_is_not_retryable(adapter: FrrAdapter) -> None:
    with pytest.raises(ApplyError) as err:
        adapter.apply(GOOD + "router bgp\n bogus command here\n")
    assert err.value.phase == "frr:check" and not err.value.retryable
