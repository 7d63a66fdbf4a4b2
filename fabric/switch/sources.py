"""Desired-state sources and status sinks of the loop: a file (lab, tests, `plan`) or `fabric api`."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from fabric.model import load_file
from fabric.model.status import SwitchStatus
from fabric.model.switch import SwitchState
from fabric.runtime import api as runtime_api


class FileSource:
    """A `SwitchState` JSON/YAML file; `watch` polls its modification time (the lab's stand-in API).

    A file named `<path>.paused` beside it pauses the switch (maintenance), like the document's
    `paused` field that the API's ``POST /v1/switches/{name}/pause`` sets.
    """

    def __init__(self, path: str | Path, *, poll: float = 0.05) -> None:
        self.path = Path(path)
        self.pause_path = self.path.with_name(self.path.name + ".paused")
        self.poll = poll
        self._seen: tuple[int, bool] | None = None

    def _stamp(self) -> tuple[int, bool]:
        try:
            return self.path.stat().st_mtime_ns, self.pause_path.exists()
        except FileNotFoundError:
            return 0, self.pause_path.exists()

    async def get(self) -> SwitchState:
        """The file's document (raises `ValidationError` naming the field when it is invalid), paused
        while the marker file exists."""
        state = await asyncio.to_thread(load_file, SwitchState, self.path)
        self._seen = self._stamp()
        return state.model_copy(update={"paused": True}) if self.pause_path.exists() else state

    async def watch(self, since: int, wait: float) -> SwitchState | None:
        """The document once the file (or its pause marker) changes, None after `wait` seconds."""
        seen = self._seen
        loop = asyncio.get_running_loop()
        end = loop.time() + wait
        while loop.time() < end:
            if self._stamp() != seen:
                return await self.get()
            await asyncio.sleep(self.poll)
        return None


class FileSink:
    """Writes each status as JSON to a file (atomically: write a temp file, then rename)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.reports = 0

    async def report(self, status: SwitchStatus) -> None:
        """Replace the file with `status`."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(status.model_dump(mode="json"), indent=2) + "\n")
        os.replace(tmp, self.path)
        self.reports += 1


class ApiSource(runtime_api.ApiSource[SwitchState]):
    """`fabric api`'s long-poll watch of this switch's `SwitchState` through its client."""

    def __init__(self, client: Any, name: str) -> None:
        super().__init__(client, "switch", name, _switch_state)


def _switch_state(document: Any) -> SwitchState:
    """The API's document (its `paused` flag is the maintenance pause)."""
    if not isinstance(document, SwitchState):
        raise TypeError(f"expected a SwitchState, got {type(document).__name__}")
    return document


class ApiSink(runtime_api.ApiSink):
    """Posts status to `fabric api` (``POST /v1/switches/{name}/status``)."""

    def __init__(self, client: Any) -> None:
        super().__init__(client, "switch")
