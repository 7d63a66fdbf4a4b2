"""The CONFIG_DB write's encoding, without Redis: the script's arguments and the RESP bytes sent.

(Redis runs them in test_switch_configdb.py; this pins SONiC's conventions in the arguments.)
"""

from __future__ import annotations

from fabric.adapters.configdb import encode_command, list_field, script_args
from fabric.core.ops import DelKey, SetKey


def test_script_args_keep_sonic_conventions() -> None:
    name, value = list_field("members", ["Ethernet0", "Ethernet4"])
    keys, argv = script_args(
        [
            SetKey("INTERFACE", "Ethernet0", {"vrf_name": "Vrf1"}, drop=("stale",)),
            SetKey("SUPPRESS_VLAN_NEIGH", "Vlan1001", {}),
            SetKey("PORTCHANNEL", "PortChannel1", {name: value}),
            DelKey("VLAN_MEMBER", "Vlan4000|Ethernet0"),
        ],
        "|",
    )
    assert keys == [
        "INTERFACE|Ethernet0",
        "SUPPRESS_VLAN_NEIGH|Vlan1001",
        "PORTCHANNEL|PortChannel1",
        "VLAN_MEMBER|Vlan4000|Ethernet0",
    ]
    assert argv == [
        *("S", "1", "vrf_name", "Vrf1", "2", "stale", "NULL"),  # gains fields: drops the placeholder
        *("S", "1", "NULL", "NULL", "0"),  # no fields: the placeholder, nothing dropped
        *("S", "1", "members@", "Ethernet0,Ethernet4", "1", "NULL"),
        "D",
    ]


def test_encode_command_is_resp_with_byte_lengths() -> None:
    assert encode_command(["HSET", "k", "é"]) == b"*3\r\n$4\r\nHSET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n"
    assert encode_command([]) == b"*0\r\n"
