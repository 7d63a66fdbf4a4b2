"""The test rig: namespaces, FRR and Redis instances, a ledger of all of it, and polling helpers.

A test module builds its world once::

    with Rig() as rig:
        a, b = rig.netns("a"), rig.netns("b")
        veth(a, "eth1", b, "eth1")
        frr_a = rig.frr(a, config=CONFIG_A)
        run_and_expect(lambda: frr_a.vtysh_json("show bgp summary json"), {...}, timeout=20)

Every resource is recorded in /run/fabric-rig/<prefix>/ledger.json before it is created;
`python -m lab.rig clean` removes what crashed runs left behind.
"""

from lab.rig.daemon import Daemon, start_daemon, wrap
from lab.rig.frr import FrrInstance, ReloadDelta, check_syntax, parse_reload_test
from lab.rig.netns import Netns, NetnsDir, veth
from lab.rig.ports import free_port
from lab.rig.redis import RedisInstance
from lab.rig.requirements import missing
from lab.rig.rig import Rig
from lab.rig.run import (
    CleanupError,
    Item,
    Ledger,
    clean_leftovers,
    find_ledgers,
    find_leftovers,
    list_netns,
    prefixes_created_here,
)
from lab.rig.wait import ABSENT, ANY, json_subset, run_and_expect, wait_until

__all__ = [
    "ABSENT",
    "ANY",
    "CleanupError",
    "Daemon",
    "FrrInstance",
    "Item",
    "Ledger",
    "Netns",
    "NetnsDir",
    "RedisInstance",
    "ReloadDelta",
    "Rig",
    "check_syntax",
    "clean_leftovers",
    "find_ledgers",
    "find_leftovers",
    "free_port",
    "json_subset",
    "list_netns",
    "missing",
    "parse_reload_test",
    "prefixes_created_here",
    "run_and_expect",
    "start_daemon",
    "veth",
    "wait_until",
    "wrap",
]
