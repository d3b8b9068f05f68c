"""Where measurements go once taken. The store (SQLite) and the JSON Lines file both implement
``MeasurementSink``; the runner hands every measurement to every sink."""

from __future__ import annotations

from typing import Protocol

from netwatch.model import Measurement


class MeasurementSink(Protocol):
    """Receives every measurement exactly once, on a probe thread.

    ``write`` must return quickly (queue, don't block on disk) and must not raise for storage
    trouble: it reports that through its own metric and log, because probing must go on.
    ``close`` flushes what was accepted and releases files; after it, ``write`` is not called.
    """

    def write(self, measurement: Measurement) -> None: ...

    def close(self) -> None: ...
