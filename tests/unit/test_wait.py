"""Table tests of the rig's polling helpers (pure: no root, no daemons)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from lab.rig.wait import ABSENT, ANY, json_subset, run_and_expect, wait_until

MATCHES = [
    ("equal scalars", 1, 1),
    ("int equals float", 1, 1.0),
    ("equal strings", "Established", "Established"),
    ("null", None, None),
    ("subset of keys", {"a": 1}, {"a": 1, "b": 2}),
    ("empty dict matches any dict", {}, {"x": 1}),
    ("nested subset", {"peers": {"eth1": {"state": "up"}}}, {"peers": {"eth1": {"state": "up", "x": 1}}}),
    ("list by position", [1, {"a": 2}], [1, {"a": 2, "b": 3}]),
    ("empty lists", [], []),
    ("ANY matches a present value", {"a": ANY}, {"a": [1, 2]}),
    ("ANY matches null", {"a": ANY}, {"a": None}),
    ("ABSENT key missing", {"gone": ABSENT, "a": 1}, {"a": 1}),
    ("tuple expected, list actual", (1, 2), [1, 2]),
    ("prefix keys", {"10.0.0.2/32": [{"installed": True}]}, {"10.0.0.2/32": [{"installed": True}]}),
]

MISMATCHES = [
    ("different scalar", {"a": 1}, {"a": 2}, ["$.a: expected 1, got 2"]),
    ("top-level scalar", "x", "y", ["$: expected 'x', got 'y'"]),
    ("true is not 1", {"a": True}, {"a": 1}, ["$.a: expected True, got 1"]),
    ("1 is not true", {"a": 1}, {"a": True}, ["$.a: expected 1, got True"]),
    ("missing key", {"a": 1, "b": 2}, {"a": 1, "c": 3}, ["$.b: missing (present: a, c)"]),
    ("missing key, empty dict", {"a": 1}, {}, ["$.a: missing (present: nothing)"]),
    ("dict expected", {"a": {"b": 1}}, {"a": [1]}, ["$.a: expected an object, got a list"]),
    ("list expected", {"a": [1]}, {"a": "x"}, ["$.a: expected a list, got 'x'"]),
    ("list length", {"a": [1, 2]}, {"a": [1]}, ["$.a: expected 2 elements, got 1"]),
    ("list element", [1, {"x": 1}], [1, {"x": 2}], ["$[1].x: expected 1, got 2"]),
    ("ABSENT key present", {"gone": ABSENT}, {"gone": 0}, ["$.gone: expected absent, got 0"]),
    (
        "key needing quotes",
        {"10.0.0.2/32": [{"installed": True}]},
        {"10.0.0.2/32": [{"installed": False}]},
        ['$["10.0.0.2/32"][0].installed: expected True, got False'],
    ),
    (
        "several problems, all reported",
        {"a": 1, "b": {"c": 2}, "d": 3},
        {"a": 0, "b": {"c": 0}},
        ["$.a: expected 1, got 0", "$.b.c: expected 2, got 0", "$.d: missing (present: a, b)"],
    ),
]


@pytest.mark.parametrize(("name", "expected", "actual"), MATCHES, ids=[m[0] for m in MATCHES])
def test_json_subset_matches(name: str, expected: Any, actual: Any) -> None:
    assert json_subset(expected, actual) == []


@pytest.mark.parametrize(
    ("name", "expected", "actual", "problems"), MISMATCHES, ids=[m[0] for m in MISMATCHES]
)
def test_json_subset_reports_paths(name: str, expected: Any, actual: Any, problems: list[str]) -> None:
    assert json_subset(expected, actual) == problems


def test_run_and_expect_returns_the_first_matching_value() -> None:
    values = iter([{"state": "Idle"}, {"state": "Active"}, {"state": "Established", "up": 3}])
    got = run_and_expect(lambda: next(values), {"state": "Established"}, timeout=5, interval=0)
    assert got == {"state": "Established", "up": 3}


def test_run_and_expect_times_out_with_path_and_last_value() -> None:
    with pytest.raises(AssertionError) as info:
        run_and_expect(lambda: {"state": "Active"}, {"state": "Established"}, timeout=0.05, what="bgp a")
    message = str(info.value)
    assert message.startswith("bgp a: no match after 0.05s")
    assert "$.state: expected 'Established', got 'Active'" in message
    assert '"state": "Active"' in message  # the last value, as JSON


def test_run_and_expect_retries_listed_exceptions_only() -> None:
    calls = itertools.count()

    def flaky() -> dict[str, int]:
        if next(calls) < 2:
            raise ConnectionError("not yet")
        return {"ok": 1}

    assert run_and_expect(flaky, {"ok": 1}, timeout=5, interval=0, retry_on=(ConnectionError,)) == {"ok": 1}

    def broken() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        run_and_expect(broken, {}, timeout=5, retry_on=(ConnectionError,))


def test_run_and_expect_timeout_reports_a_retried_exception() -> None:
    def down() -> None:
        raise ConnectionError("socket gone")

    with pytest.raises(AssertionError, match="raised ConnectionError: socket gone"):
        run_and_expect(down, {}, timeout=0.05, interval=0.01, retry_on=(ConnectionError,))


def test_wait_until_returns_the_truthy_value() -> None:
    values = iter([0, "", None, "ready"])
    assert wait_until(lambda: next(values), timeout=5, interval=0) == "ready"


def test_wait_until_times_out_naming_what_and_last_error() -> None:
    with pytest.raises(AssertionError, match=r"^zebra socket: not true after 0.05s$"):
        wait_until(lambda: False, timeout=0.05, interval=0.01, what="zebra socket")

    def down() -> bool:
        raise OSError("refused")

    with pytest.raises(AssertionError, match=r"last error: OSError: refused"):
        wait_until(down, timeout=0.05, interval=0.01, retry_on=(OSError,))
