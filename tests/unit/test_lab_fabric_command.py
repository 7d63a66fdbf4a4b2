"""The lab's closing hints name fabric the way the user can call it again."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fabric.commands.lab import _fabric_command


def _script(directory: Path) -> Path:
    script = directory / "fabric"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    return script


def test_a_venv_script_not_on_path_is_named_by_its_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    script = _script(bin_dir)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setattr(sys, "argv", [str(script)])
    assert _fabric_command() == ".venv/bin/fabric"


def test_fabric_on_path_is_named_bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setattr(sys, "argv", [str(script)])
    assert _fabric_command() == "fabric"
