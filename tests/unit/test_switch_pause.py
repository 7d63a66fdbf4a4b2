"""The maintenance pause in the SwitchState contract: optional, and invisible while false."""

from __future__ import annotations

import json
from pathlib import Path

from fabric.model import load
from fabric.model.switch import SwitchState

LEAF = json.loads((Path(__file__).parents[1] / "data" / "examples" / "leaf01.json").read_text())


def test_paused_is_absent_while_false_so_older_documents_keep_their_hash() -> None:
    state = load(SwitchState, LEAF).sealed(7)
    assert not state.paused and "paused" not in state.model_dump(mode="json")
    # A document sealed without the field (an older API) loads and keeps the same hash.
    older = {k: v for k, v in state.model_dump(mode="json", by_alias=True).items() if k != "paused"}
    assert load(SwitchState, older).hash == state.hash


def test_pausing_changes_the_hash_and_round_trips() -> None:
    state = load(SwitchState, LEAF).sealed(7)
    paused = state.model_copy(update={"paused": True}).sealed(8)
    assert paused.hash != state.hash
    data = paused.model_dump(mode="json", by_alias=True)
    assert data["paused"] is True and load(SwitchState, data) == paused
