"""Session-wide rules for tests that touch the machine, and the per-module `rig` fixture.

- Before anything runs: if earlier runs left rig resources behind (ledgers under /run/fabric-rig whose
  owner process is dead), stop loudly and say how to clean — or clean them when
  FABRIC_RIG_CLEAN_LEFTOVERS=1.  Live runs of other people on this machine are never touched.
- `@pytest.mark.needs("frr", "redis", ...)` (and the `rig` fixture, which needs "netns") skip a test
  whose requirements are missing — except under CI (CI=true), where a missing requirement fails.
- After everything: this session must have left nothing behind (no ledger, no namespace of its runs).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from lab.rig import Rig, clean_leftovers, find_ledgers, find_leftovers, list_netns, missing
from lab.rig import prefixes_created_here as rig_prefixes

CLEAN_ENV = "FABRIC_RIG_CLEAN_LEFTOVERS"
CLEAN_COMMAND = "sudo .venv/bin/python -m lab.rig clean"


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(*features: str) -> None:
    """Skip the current test (fail it under CI) when the machine lacks rig `features`."""
    reasons = missing(*features)
    if not reasons:
        return
    message = f"needs {', '.join(features)}: {'; '.join(reasons)}"
    if _under_ci():
        pytest.fail(f"{message} (CI=true: a missing requirement is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs(*features): rig features the test needs (root, netns, frr, redis, ping)"
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    leftovers = find_leftovers()
    if not leftovers:
        return
    if os.environ.get(CLEAN_ENV) == "1":
        for line in clean_leftovers(leftovers):
            print(f"rig: cleaned leftover {line}")
        return
    lines = []
    for ledger in leftovers:
        items = ", ".join(item.describe() for item in ledger.items) or "no items"
        lines.append(f"  {ledger.path} (owner pid {ledger.owner_pid}, dead): {items}")
    pytest.exit(
        "Earlier test runs left rig resources behind:\n"
        + "\n".join(lines)
        + f"\nRemove them with `{CLEAN_COMMAND}` (or run the tests with {CLEAN_ENV}=1).",
        returncode=3,
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("needs"):
        require(*marker.args)
    if item.get_closest_marker("root") is not None:
        require("root")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    mine = set(rig_prefixes())
    if not mine:
        return
    leaks = [f"ledger {ledger.path}" for ledger in find_ledgers() if ledger.prefix in mine]
    leaks += [f"namespace {name}" for name in list_netns() if name.split("-", 1)[0] in mine]
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = "rig: this session left resources behind: " + "; ".join(leaks)
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_sep("!", text, red=True, bold=True)
        else:
            print(text)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    """One `Rig` per test module: build the module's namespaces and daemons once, close at the end."""
    require("netns")
    with Rig() as module_rig:
        yield module_rig
