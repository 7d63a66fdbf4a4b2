"""Errors of the store beyond `fabric.errors`: an unknown id, and a conflicting existing record."""

from __future__ import annotations

from fabric.errors import FabricError


class NotFound(FabricError):
    """An id names nothing; `path` is the field that carried it."""

    def __init__(self, what: str, name: str, path: str = "name") -> None:
        self.path = path
        super().__init__(f"{what} {name!r} does not exist")


class Conflict(FabricError):
    """The request collides with what is stored (a duplicate name, an overlap, a stale If-Match)."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(message)


class Stale(FabricError):
    """`If-Match` names a version the object is no longer at; `current` is the version it is at."""

    def __init__(self, what: str, name: str, current: str) -> None:
        self.path = "If-Match"
        self.current = current
        super().__init__(
            f"{what}/{name} changed since that version was read: it is at {current} now; "
            "read it again and retry"
        )
