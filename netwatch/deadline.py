"""One total time budget per probe, handed down by the runner.

A ``Deadline`` is a point on the monotonic clock. Probes ask it for the time left before every
blocking call (connect, send, each read) so that no phase, and no sum of phases, outlives it:
a per-call socket timeout alone would let a slow-drip server keep a probe alive forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


class DeadlineExceeded(TimeoutError):
    """Raised by ``Deadline.remaining`` when the budget is spent."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """``expires_at`` is in seconds on ``clock`` (``time.monotonic`` unless a test passes another)."""

    expires_at: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def left(self) -> float:
        """Seconds left; may be zero or negative once expired."""
        return self.expires_at - self.clock()

    def remaining(self, floor: float = 0.001) -> float:
        """Seconds left for the next blocking call; raises ``DeadlineExceeded`` if none are.

        ``floor`` keeps the value strictly positive, since a socket timeout of 0 means non-blocking.
        """
        left = self.left()
        if left <= 0:
            raise DeadlineExceeded("probe deadline reached")
        return max(left, floor)

    @property
    def expired(self) -> bool:
        return self.left() <= 0
