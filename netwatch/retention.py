"""Retention: deletes raw measurements older than the configured number of days, periodically.

Measurements an outage cites are kept with it (``Store.delete_expired_measurements``). The first
run happens at start, then every ``interval_s`` seconds, on its own thread: a first run over a
large database can take a while and must not hold up detection.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from netwatch.store import Store, StoreError

log = logging.getLogger(__name__)


class RetentionJob:
    """Deletes measurements that started more than ``days`` before ``wall()`` from the store at
    ``store_path``. Failures are logged and reported to ``on_error("retention")``; the job
    tries again at the next interval."""

    def __init__(
        self,
        store_path: Path,
        days: int,
        interval_s: float,
        *,
        wall: Callable[[], datetime],
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._store_path = store_path
        self._keep = timedelta(days=days)
        self._interval_s = interval_s
        self._wall = wall
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Delete what has expired now; return how many measurements (0 after a failure)."""
        before = self._wall() - self._keep
        try:
            deleted = Store(self._store_path).delete_expired_measurements(before)
        except (StoreError, sqlite3.Error, OSError) as exc:
            log.error("retention: cannot delete expired measurements: %s", exc)
            if self._on_error is not None:
                self._on_error("retention")
            return 0
        if deleted:
            log.info("retention: deleted %d measurements started before %s", deleted, before.isoformat())
        return deleted

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="netwatch-retention", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop; a run still deleting after ``timeout_s`` is left to finish its current chunk on
        its daemon thread (each chunk is its own transaction, so nothing is left half-done)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while True:
            self.run_once()
            if self._stop.wait(self._interval_s):
                return
