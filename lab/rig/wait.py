"""Waiting on observable state, the FRR topotests way: poll and compare a JSON subset, never sleep blind.

`json_subset(expected, actual)` says *where* `actual` differs from what a test expects:

- a dict in `expected` matches a dict in `actual` that has at least its keys, each matching
  recursively (extra keys in `actual` are fine: tests name only what they care about);
- a list matches a list of the same length, element by element in order (show commands print
  ordered lists: nexthops, paths; a test that cares about fewer elements should pick them out first);
- the value `ANY` matches anything present; `ABSENT` as a dict value requires the key to be missing;
- anything else must be equal (``True`` does not equal ``1``; ``1`` equals ``1.0``).

Paths look like ``$.peers.eth1.state`` and ``$.routes["10.0.0.2/32"][0].installed``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
MAX_SHOWN_MISMATCHES = 10
MAX_SHOWN_CHARS = 2000


class _Marker:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


ANY = _Marker("ANY")
"""In `expected`: matches any value that is present."""
ABSENT = _Marker("ABSENT")
"""In `expected`, as a dict value: the key must not exist in `actual`."""


def _key_path(path: str, key: object) -> str:
    text = str(key)
    return f"{path}.{text}" if _PLAIN_KEY.match(text) else f"{path}[{json.dumps(text)}]"


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_subset(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Every place where `actual` fails to match `expected` (see module doc); empty list = match."""
    if expected is ANY:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {_kind(actual)}"]
        problems: list[str] = []
        for key, want in expected.items():
            sub = _key_path(path, key)
            if want is ABSENT:
                if key in actual:
                    problems.append(f"{sub}: expected absent, got {_short(actual[key])}")
            elif key not in actual:
                have = ", ".join(sorted(map(str, actual))[:10])
                problems.append(f"{sub}: missing (present: {have or 'nothing'})")
            else:
                problems.extend(json_subset(want, actual[key], sub))
        return problems
    if isinstance(expected, list | tuple):
        if not isinstance(actual, list | tuple):
            return [f"{path}: expected a list, got {_kind(actual)}"]
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} elements, got {len(actual)}"]
        problems = []
        for index, (want, have) in enumerate(zip(expected, actual, strict=True)):
            problems.extend(json_subset(want, have, f"{path}[{index}]"))
        return problems
    # bool is an int in Python; in JSON true and 1 are different things.
    if isinstance(expected, bool) != isinstance(actual, bool) or expected != actual:
        return [f"{path}: expected {_short(expected)}, got {_short(actual)}"]
    return []


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, indent=1, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "\n... (truncated)"


def run_and_expect(
    func: Callable[[], Any],
    expected: Any,
    *,
    timeout: float = 10.0,
    interval: float = 0.2,
    what: str = "",
    retry_on: tuple[type[BaseException], ...] = (),
) -> Any:
    """Call `func` until `json_subset(expected, func())` is empty; return that last value.

    Exceptions of a type in `retry_on` (e.g. `ApplyError` while a daemon starts) count as "not yet".
    At `timeout` raises `AssertionError` naming `what`, the mismatch paths and the last value seen.
    """
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        attempts += 1
        try:
            value = func()
            problems = json_subset(expected, value)
            if not problems:
                return value
            last = f"last value:\n{_show(value)}"
        except retry_on as exc:
            problems = [f"raised {type(exc).__name__}: {exc}"]
            last = ""
        if time.monotonic() >= deadline:
            shown = problems[:MAX_SHOWN_MISMATCHES]
            more = len(problems) - len(shown)
            lines = [
                f"{what or getattr(func, '__name__', 'value')}: no match after {timeout:g}s "
                f"({attempts} attempts)",
                *(f"  {p}" for p in shown),
            ]
            if more:
                lines.append(f"  ... and {more} more")
            raise AssertionError("\n".join([*lines, last]).rstrip())
        time.sleep(interval)


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.1,
    what: str = "",
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Call `predicate` until it returns something truthy; return that value.

    Raises `AssertionError` naming `what` (and the last exception, if `retry_on` swallowed one) at
    `timeout`.
    """
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            value = predicate()
            if value:
                return value
        except retry_on as exc:
            last_error = f" (last error: {type(exc).__name__}: {exc})"
        if time.monotonic() >= deadline:
            name = what or getattr(predicate, "__name__", "condition")
            raise AssertionError(f"{name}: not true after {timeout:g}s{last_error}")
        time.sleep(interval)
