"""``MeasurementStore``: the SQLite ``MeasurementSink``. Probe threads enqueue; one writer thread
owns the only writing connection for measurements and commits them in batches."""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from netwatch.model import Measurement
from netwatch.store import measurements
from netwatch.store.schema import StoreError, describe, open_database

log = logging.getLogger(__name__)

_STOP = object()


class MeasurementStore:
    """Batched, crash-safe measurement writer implementing ``MeasurementSink``.

    ``write`` never blocks on disk and never raises: it puts the measurement on a queue of
    ``queue_size`` items; when the queue is full (the disk is slower than the probes, or storage is
    failing) the measurement is dropped, ``dropped`` grows and ``on_drop()`` is called.

    The writer thread takes up to ``batch_size`` queued measurements and inserts them in one
    transaction. If opening the database or committing fails (disk full, read-only file, locked),
    it logs a clear error once per failure streak, increments ``write_errors``, calls
    ``on_write_error(message)``, and retries the same batch after ``retry_s`` seconds (doubling up
    to ``max_retry_s``), so nothing accepted is lost while the queue has room. ``last_error`` holds
    the current problem (None when healthy) for ``/healthz``. A batch is committed once it is in
    the WAL: a process crash after that loses none of it (see ``schema.connect``).

    Callbacks run on the writer or probe thread and must be quick and thread-safe (a metric
    ``inc()`` is). ``on_commit(batch)`` is called on the writer thread after each batch is committed.
    ``close(timeout_s)`` drains the queue, then stops the thread.
    """

    def __init__(
        self,
        path: Path,
        *,
        queue_size: int = 100_000,
        batch_size: int = 2_000,
        retry_s: float = 1.0,
        max_retry_s: float = 30.0,
        on_drop: Callable[[], None] | None = None,
        on_write_error: Callable[[str], None] | None = None,
        on_commit: Callable[[Sequence[Measurement]], None] | None = None,
    ) -> None:
        self.path = path
        self.dropped = 0
        self.write_errors = 0
        self.committed = 0
        self.last_error: str | None = None
        self._batch_size = batch_size
        self._retry_s = retry_s
        self._max_retry_s = max_retry_s
        self._on_drop = on_drop
        self._on_write_error = on_write_error
        self._on_commit = on_commit
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._closing = threading.Event()
        self._abandon = threading.Event()  # close() gave up waiting: stop retrying
        self._lock = threading.Lock()  # guards the counters written from probe threads
        self._thread = threading.Thread(target=self._run, name="netwatch-store-writer", daemon=True)
        self._thread.start()

    def write(self, measurement: Measurement) -> None:
        """Queue ``measurement`` for the writer; drop and count it if the queue is full or closed."""
        if self._closing.is_set():
            self._drop()
            return
        try:
            self._queue.put_nowait(measurement)
        except queue.Full:
            self._drop()

    def close(self, timeout_s: float = 30.0) -> None:
        """Commit everything accepted so far (waiting up to ``timeout_s``), then stop the writer.

        If storage is failing, the writer gives up at the deadline and what is still queued is lost
        (and logged with its count)."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._queue.put(_STOP)  # blocks at most until the writer frees a slot
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._abandon.set()
            log.error(
                "store writer did not finish within %.0f s (%s); %d queued measurements not stored",
                timeout_s,
                self.last_error,
                self._queue.qsize(),
            )

    def _drop(self) -> None:
        with self._lock:
            self.dropped += 1
        if self._on_drop is not None:
            self._on_drop()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        batch: list[Measurement] = []
        delay = self._retry_s
        stopping = False
        try:
            while True:
                if not batch:
                    if stopping:
                        return
                    stopping = self._take(batch)
                    if not batch:
                        continue
                try:
                    if conn is None:
                        conn = open_database(self.path)
                    self._commit(conn, batch)
                except (StoreError, sqlite3.Error, OSError) as exc:
                    self._failed(exc)
                    if conn is not None:
                        conn.close()  # a fresh connection re-checks the file (permissions fixed, space freed)
                        conn = None
                    if self._abandon.wait(delay):
                        return
                    delay = min(delay * 2, self._max_retry_s)
                    continue
                if self._on_commit is not None:
                    self._on_commit(batch)
                batch.clear()
                delay = self._retry_s
        finally:
            if conn is not None:
                conn.close()

    def _take(self, batch: list[Measurement]) -> bool:
        """Fill ``batch`` from the queue (blocking for the first item); True when told to stop."""
        item = self._queue.get()
        while True:
            if item is _STOP:
                return True
            assert isinstance(item, Measurement)
            batch.append(item)
            if len(batch) >= self._batch_size:
                return False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False

    def _commit(self, conn: sqlite3.Connection, batch: list[Measurement]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            measurements.insert(conn, batch)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        with self._lock:
            self.committed += len(batch)
        if self.last_error is not None:
            log.warning("store %s: writing again after: %s", self.path, self.last_error)
            self.last_error = None

    def _failed(self, exc: BaseException) -> None:
        message = str(exc) if isinstance(exc, StoreError) else describe(self.path, exc)
        with self._lock:
            self.write_errors += 1
        if message != self.last_error:  # log a failure streak once, not every retry
            log.error("%s", message)
        self.last_error = message
        if self._on_write_error is not None:
            self._on_write_error(message)
