"""The one subprocess helper: exit codes, timeouts and missing programs never raise from `run`."""

from __future__ import annotations

import sys

import pytest

from fabric.adapters.process import run, run_checked
from fabric.errors import ApplyError, FabricError


def test_run_captures_output_and_rc() -> None:
    result = run(
        [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"]
    )
    assert (result.rc, result.stdout, result.stderr, result.ok) == (3, "out\n", "err\n", False)
    assert "exit 3" in result.describe() and "err" in result.describe()


def test_run_feeds_input() -> None:
    result = run([sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"], input="abc")
    assert result.ok and result.stdout == "ABC\n"


def test_timeout_is_reported_not_raised() -> None:
    # Under test: a child that outlasts its timeout (it sleeps in the child; the test never waits 30 s).
    result = run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.3)
    assert result.timed_out and result.rc == -1 and "timed out" in result.describe()


def test_missing_program() -> None:
    result = run(["/nonexistent/fabric-test-binary"])
    assert result.rc == -1 and not result.ok and result.stderr


def test_run_checked_raises_apply_error() -> None:
    with pytest.raises(ApplyError) as exc:
        run_checked([sys.executable, "-c", "raise SystemExit(1)"], phase="frr:check")
    assert exc.value.phase == "frr:check" and exc.value.retryable is False
    assert isinstance(exc.value, FabricError)
    with pytest.raises(ApplyError) as exc:
        run_checked([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.3)  # outlasts it
    assert exc.value.retryable is True
