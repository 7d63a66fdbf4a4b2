"""One small error hierarchy for the whole product.

`FabricError` is the root.  Its three branches say who has to act:

- `ValidationError`: the input is wrong (a document, a request body, a manifest); retrying will not help.
- `AllocationError`: a pool or range cannot satisfy the request; the message names the pool, its size
  and what was asked.
- `ApplyError`: touching a device failed; `retryable` tells the loop whether backing off and trying
  again can help (a timeout, a socket gone) or not (a rejected config).
"""

from __future__ import annotations


class FabricError(Exception):
    """Root of every error fabric raises on purpose."""


class ValidationError(FabricError):
    """Input refused; `path` points at the offending field (e.g. ``ports[Ethernet4].vrf``).

    `problems` lists every `(path, reason)` found, so one round trip shows the user all of them; the
    exception's own path and reason are the first.
    """

    def __init__(
        self, message: str, path: str = "", *, problems: list[tuple[str, str]] | None = None
    ) -> None:
        self.problems = problems or [(path, message)]
        self.path, self.reason = self.problems[0]
        text = "; ".join(f"{p}: {m}" if p else m for p, m in self.problems)
        super().__init__(text)


class AllocationError(FabricError):
    """A pool cannot satisfy a request (exhausted, or the asked value is taken or outside it)."""

    def __init__(self, message: str, pool: str = "", size: int | None = None) -> None:
        self.pool = pool
        self.size = size
        super().__init__(message)


class ApplyError(FabricError):
    """Applying desired state to a device failed.

    `phase` names the step (e.g. ``configdb:vrf``, ``frr:reload``); `retryable` is the loop's only input
    for deciding between backoff and giving up on this revision.
    """

    def __init__(self, message: str, *, retryable: bool, phase: str = "") -> None:
        self.retryable = retryable
        self.phase = phase
        super().__init__(f"{phase}: {message}" if phase else message)
