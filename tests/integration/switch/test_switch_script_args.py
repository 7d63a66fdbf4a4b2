"""The CONFIG_DB write's encoding, without Redis: the script's arguments and the RESP bytes sent.

(Redis runs them in test_switch_configdb.py and test_switch_placeholder.py; this pins SONiC's
conventions in the arguments, and that the fast RESP builder sends exactly those arguments.)
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fabric.adapters.configdb import list_field
from fabric.adapters.configdb_script import apply_command, encode_command, script_args
from fabric.core.ops import DelKey, SetKey

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_script_args_keep_sonic_conventions() -> None:
    name, value = list_field("members", ["Ethernet0", "Ethernet4"])
    keys, argv = script_args(
        [
            SetKey("INTERFACE", "Ethernet0", {"vrf_name": "Vrf1"}, drop=("stale",)),
            SetKey("VRF", "Vrf1", {"vni": "1"}, drop=("NULL",)),
            SetKey("SUPPRESS_VLAN_NEIGH", "Vlan1001", {}),
            SetKey("PORTCHANNEL", "PortChannel1", {name: value}),
            SetKey("VLAN", "Vlan1", {"NULL": "NULL"}, drop=("NULL",)),
            SetKey("VLAN", "Vlan4000", {}, drop=("dhcp_servers@",)),
            DelKey("VLAN_MEMBER", "Vlan4000|Ethernet0"),
        ],
        "|",
    )
    assert keys == [
        "INTERFACE|Ethernet0",
        "INTERFACE|Ethernet0",  # its stale field dropped after the HSET
        "VRF|Vrf1",
        "VRF|Vrf1",
        "SUPPRESS_VLAN_NEIGH|Vlan1001",
        "PORTCHANNEL|PortChannel1",
        "VLAN|Vlan1",
        "VLAN|Vlan4000",
        "VLAN_MEMBER|Vlan4000|Ethernet0",
    ]
    assert argv == [
        *("1", "1", "vrf_name", "Vrf1"),  # groups: field count, steps, the field names; then values
        *("-1", "1", "stale"),  # HDEL: the fields of each step
        *("1", "1", "vni", "1"),
        *("-1", "1", "NULL"),  # the plan saw the placeholder: it goes
        *("1", "1", "NULL", "NULL"),  # no fields: the placeholder
        *("1", "1", "members@", "Ethernet0,Ethernet4"),  # no placeholder seen: no HDEL
        *("1", "1", "NULL", "NULL"),  # NULL is never dropped when it is what is written
        *("-1", "1", "dhcp_servers@"),  # no fields but a drop: HDEL only, no placeholder written
        *("0", "1"),
    ]


def test_steps_setting_the_same_fields_share_one_group() -> None:
    ops = [SetKey("PORT", f"Ethernet{i}", {"admin_status": "up", "mtu": str(9000 + i)}) for i in range(3)]
    keys, argv = script_args([*ops, SetKey("VRF", "Vrf1", {"vni": "1"}), DelKey("VRF", "Vrf2")], "|")
    assert keys == ["PORT|Ethernet0", "PORT|Ethernet1", "PORT|Ethernet2", "VRF|Vrf1", "VRF|Vrf2"]
    assert argv == [
        *("2", "3", "admin_status", "mtu", "up", "9000", "up", "9001", "up", "9002"),
        *("1", "1", "vni", "1"),
        *("0", "1"),
    ]


def test_encode_command_is_resp_with_byte_lengths() -> None:
    assert encode_command(["HSET", "k", "é"]) == b"*3\r\n$4\r\nHSET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n"
    assert encode_command([]) == b"*0\r\n"


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_ops = st.lists(
    st.one_of(
        st.builds(DelKey, _text, _text),
        st.builds(
            SetKey,
            _text,
            _text,
            st.dictionaries(_text, _text, max_size=20),
            st.lists(st.one_of(_text, st.just("NULL")), max_size=20).map(tuple),
        ),
    ),
    max_size=8,
)


@given(_ops)
def test_apply_command_sends_exactly_the_script_args(ops: list[SetKey | DelKey]) -> None:
    keys, argv = script_args(ops, "|")
    assert apply_command(SHA, ops, "|") == encode_command(["EVALSHA", SHA, str(len(keys)), *keys, *argv])
