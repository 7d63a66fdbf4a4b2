"""CONFIG_DB files as SONiC's tools write them (`Observed.from_configdb`): typed values become the
strings SONiC's own loader stores, and only the tables fabric reads must have the table/key/fields
shape."""

from __future__ import annotations

import pytest

from fabric.core.observed import Observed
from fabric.errors import ValidationError


def test_typed_values_become_the_strings_sonic_stores() -> None:
    observed = Observed.from_configdb(
        {
            "PORT": {"Ethernet0": {"speed": 100000, "mtu": 9100, "admin_status": "up", "lanes": "1,2,3,4"}},
            "BGP_NEIGHBOR": {"default|10.0.0.57": {"asn": 64600, "nhopself": 0, "holdtime": 1.5}},
            "RESTAPI": {"config": {"client_auth": True, "allow_insecure": False}},
            "ACL_TABLE": {"DATAACL": {"ports": ["Ethernet0", "Ethernet4"], "stage": "ingress"}},
            "VLAN": {"Vlan1000": {"vlanid": 1000, "dhcp_servers": ["192.0.2.1", "192.0.2.2"]}},
        }
    )
    db = observed.configdb
    assert db["PORT"]["Ethernet0"] == {
        "speed": "100000",
        "mtu": "9100",
        "admin_status": "up",
        "lanes": "1,2,3,4",
    }
    assert db["BGP_NEIGHBOR"]["default|10.0.0.57"] == {"asn": "64600", "nhopself": "0", "holdtime": "1.5"}
    assert db["RESTAPI"]["config"] == {"client_auth": "True", "allow_insecure": "False"}
    assert db["ACL_TABLE"]["DATAACL"]["ports@"] == "Ethernet0,Ethernet4"
    assert db["VLAN"]["Vlan1000"] == {"vlanid": "1000", "dhcp_servers@": "192.0.2.1,192.0.2.2"}


def test_odd_shapes_outside_the_tables_fabric_reads_are_left_out() -> None:
    observed = Observed.from_configdb(
        {"_comment": "written by a tool", "SNMP_COMMUNITY": ["public"], "CRM": {"Config": "x"}, "VRF": {}}
    )
    assert observed.configdb == {"CRM": {}, "VRF": {}}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        pytest.param({"PORT": ["Ethernet0"]}, "PORT", id="table-not-an-object"),
        pytest.param({"VLAN": {"Vlan1000": "1000"}}, "VLAN|Vlan1000", id="key-not-an-object"),
        pytest.param(["PORT"], "$", id="file-not-an-object"),
    ],
)
def test_a_table_fabric_reads_must_have_its_shape(data: object, path: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Observed.from_configdb(data)
    assert refused.value.path == path


def test_the_placeholder_is_dropped_and_remembered_beside_other_fields() -> None:
    observed = Observed.from_configdb({"VRF": {"Vrf1": {"NULL": "NULL", "vni": 1}, "Vrf2": {"NULL": "NULL"}}})
    assert observed.configdb["VRF"] == {"Vrf1": {"vni": "1"}, "Vrf2": {}}
    assert observed.holds_placeholder("VRF", "Vrf1") and observed.holds_placeholder("VRF", "Vrf2")
