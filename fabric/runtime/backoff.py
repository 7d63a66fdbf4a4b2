"""Exponential backoff with jitter: the only retry policy of the daemons' loops."""

from __future__ import annotations

import random


class Backoff:
    """Exponential backoff with full jitter between `initial` and `maximum` seconds."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self.initial, self.maximum = initial, maximum
        self.rng = rng or random.Random()
        self.attempt = 0

    def next(self) -> float:
        """The delay before the next attempt (grows with each call until `reset`)."""
        cap = min(self.maximum, self.initial * 2.0 ** min(self.attempt, 32))
        self.attempt += 1
        return cap / 2 + self.rng.uniform(0, cap / 2)

    def reset(self) -> None:
        self.attempt = 0
