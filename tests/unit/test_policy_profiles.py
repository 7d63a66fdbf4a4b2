"""Profiles: named by a hash of their keys, shared by equal shapes, and never merged on a name clash."""

from __future__ import annotations

from fabric.core.policy import elements
from fabric.core.policy.elements import Profile, profile

SHAPE = frozenset({((6, 6), (443, 443), (0, 2**32 - 1)), ((6, 6), (80, 80), (0, 2**32 - 1))})
OTHER = frozenset({((17, 17), (53, 53), (0, 2**32 - 1))})


def test_a_profile_is_named_by_its_keys_and_shared() -> None:
    made = profile("ingress", 4, SHAPE)
    assert made.elements == ("6 . 80 . 0.0.0.0/0", "6 . 443 . 0.0.0.0/0")
    assert made.name.startswith("in4_") and len(made.name) == 16
    assert profile("ingress", 4, frozenset(SHAPE)) is made
    assert profile("egress", 4, SHAPE).name == "eg4_" + made.name[4:]  # same keys, other direction


def test_a_name_clash_gives_the_newcomer_a_longer_name() -> None:
    name = profile("ingress", 4, OTHER).name
    profile.cache_clear()  # as if the first profile had been made by another shape, then forgotten
    squatter = Profile(name, ("6 . 1 . 0.0.0.0/0",))  # different keys, the very same name
    elements._NAMES[name] = squatter
    made = profile("ingress", 4, OTHER)
    assert made.elements == ("17 . 53 . 0.0.0.0/0",)
    assert made.name != name and len(made.name) == len("in4_") + 24
    assert elements._NAMES[name] is squatter  # the holder of the short name keeps it
    profile.cache_clear()
    del elements._NAMES[name], squatter
