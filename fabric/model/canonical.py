"""The one rule for a document's canonical JSON and its hash.

The hash covers the content only: `revision` and `hash` are excluded, so re-sealing an unchanged
document at a new revision keeps its hash, and a daemon can tell "nothing to do" from the hash alone.
Keys are sorted and separators fixed; lists keep the order the models normalised them into.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel

NOT_HASHED = frozenset({"revision", "hash"})


def canonical_json(doc: BaseModel) -> bytes:
    """Canonical JSON bytes of `doc` without `revision` and `hash`."""
    data: dict[str, Any] = doc.model_dump(mode="json", exclude=set(NOT_HASHED), by_alias=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def content_hash(doc: BaseModel) -> str:
    """`sha256:` + hex digest of `canonical_json(doc)`."""
    return "sha256:" + hashlib.sha256(canonical_json(doc)).hexdigest()
