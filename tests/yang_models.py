"""SONiC's YANG models for the tests: loaded once, or the test is skipped (failed under `CI=true`, where
the models are required: `SONIC_YANG_DIR`, set by the Makefile)."""

from __future__ import annotations

import os
from functools import cache

import pytest

from fabric.adapters.yang import ConfigDbSchema, models_dir, schema

MISSING = "no SONiC YANG models (set SONIC_YANG_DIR to a copy of sonic-yang-models)"


@cache
def _loaded() -> ConfigDbSchema | None:
    folder = models_dir()
    return schema(folder) if folder is not None else None


def sonic_yang() -> ConfigDbSchema:
    """The loaded models; skips the calling test without them (fails it under CI=true)."""
    loaded = _loaded()
    if loaded is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{MISSING}; CI=true requires them")
        pytest.skip(MISSING)
    return loaded
