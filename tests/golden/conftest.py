"""Golden files: expected outputs compared in full; regenerated only with FABRIC_UPDATE_GOLDEN=1
(`make golden-update`), and then reviewed as a diff before committing."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

UPDATE = os.environ.get("FABRIC_UPDATE_GOLDEN") == "1"

Golden = Callable[[Path, str], None]


def check_golden(path: Path, actual: str) -> None:
    """Compare `actual` with the file at `path` in full (or write it when updating)."""
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    if not path.exists():
        pytest.fail(f"{path} is missing; run `make golden-update` and review the new file")
    expected = path.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), actual.splitlines(keepends=True), str(path), "rendered"
            )
        )
        pytest.fail(f"{path} differs from what was rendered:\n{diff}")


@pytest.fixture
def golden() -> Golden:
    """The golden comparison as a fixture."""
    return check_golden
