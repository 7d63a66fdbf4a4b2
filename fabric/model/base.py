"""Base classes shared by every model: strict, frozen, no unknown fields."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fabric.model.canonical import content_hash

SCHEMA_VERSION: Literal[1] = 1


class Model(BaseModel):
    """A record: unknown fields are refused (a typo must not silently disappear)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Problems(ValueError):
    """Several consistency problems of one document, each with its JSON path.

    Raised from model validators; `fabric.model.load` turns it into one `fabric.errors.ValidationError`
    whose `problems` keep every path.
    """

    def __init__(self, problems: Iterable[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in self.problems))


class Document(Model):
    """A versioned desired-state document: `revision` grows only, `hash` seals the content."""

    schema_version: Literal[1] = Field(
        default=SCHEMA_VERSION, description="Version of this document's schema."
    )
    revision: int = Field(default=0, ge=0, description="Grows with every change of the content.")
    hash: str = Field(
        default="",
        pattern=r"^(sha256:[0-9a-f]{64})?$",
        description="sha256 of the canonical JSON without revision and hash; empty when not sealed.",
    )

    @model_validator(mode="after")
    def _hash_matches(self) -> Self:
        if self.hash and self.hash != content_hash(self):
            raise Problems([("hash", "does not match the document's content (edited after sealing?)")])
        return self

    def sealed(self, revision: int | None = None) -> Self:
        """A copy with `hash` computed (and `revision` set when given)."""
        rev = self.revision if revision is None else revision
        return self.model_copy(update={"revision": rev, "hash": content_hash(self)})
