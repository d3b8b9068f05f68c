"""``Store``: the thread-safe handle readers and event writers share.

Every call opens its own short-lived connection (well under a millisecond), so a ``Store`` can be
used from any thread or process at once; SQLite's WAL lets those readers run beside the single
measurement writer (``MeasurementStore``) without blocking it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path

from netwatch.model import Measurement, Outage, Transition
from netwatch.store import events, measurements, outbox
from netwatch.store.events import OutageFilter, OutagePage
from netwatch.store.outbox import Notification, OutboxItem
from netwatch.store.schema import connect, open_database


class Store:
    """Reads and event writes on the database at ``path`` (see ``schema.db_path``).

    The constructor creates or migrates the schema and raises ``StoreError`` with a clear message
    if it cannot. Times are aware UTC datetimes. Write methods may raise ``sqlite3.Error`` (disk
    full, read-only): the detector's and notifier's callers decide whether to retry.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        open_database(path).close()

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for this thread only, closed on exit; autocommit unless you ``BEGIN``."""
        with closing(connect(self.path)) as conn:
            yield conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE``: committed on exit, rolled back on any error."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # -- measurements (written by MeasurementStore) --------------------------------------------

    def measurements(
        self, since: datetime, until: datetime, *, target_ids: Sequence[str] | None = None
    ) -> Iterator[Measurement]:
        """Stream measurements with ``since <= started_at < until`` in time order, bounded memory."""
        with self.connect() as conn:
            yield from measurements.iter_range(conn, since, until, target_ids=target_ids)

    def get_measurements(self, ids: Iterable[str]) -> dict[str, Measurement]:
        """Stored measurements among ``ids`` keyed by id (evidence lookups); missing ids absent."""
        with self.connect() as conn:
            return measurements.get_many(conn, ids)

    def delete_expired_measurements(self, before: datetime) -> int:
        """Retention: delete measurements older than ``before`` unless an outage cites them;
        return how many. Runs in small transactions beside the live writer."""
        with self.connect() as conn:
            return measurements.delete_expired(conn, before)

    # -- detector output --------------------------------------------------------------------------

    def record(
        self,
        now: datetime,
        *,
        outages: Iterable[Outage] = (),
        transitions: Iterable[Transition] = (),
        notifications: Iterable[Notification] = (),
    ) -> None:
        """Upsert ``outages``, append ``transitions`` and queue ``notifications`` (due at ``now``)
        in one transaction: a notification is never queued for an outage that was not stored."""
        with self._transaction() as conn:
            events.upsert_outages(conn, outages)
            events.append_transitions(conn, transitions)
            for note in notifications:
                outbox.enqueue(conn, note, now)

    def outage(self, outage_id: str) -> Outage | None:
        with self.connect() as conn:
            return events.get_outage(conn, outage_id)

    def outages(
        self, where: OutageFilter | None = None, *, limit: int = 100, cursor: str | None = None
    ) -> OutagePage:
        """One page of outages matching ``where`` (all when None), newest first; ``ValueError``
        for a bad cursor or limit."""
        with self.connect() as conn:
            return events.list_outages(conn, where or OutageFilter(), limit=limit, cursor=cursor)

    def transitions(
        self, since: datetime, until: datetime, *, subject: str | None = None
    ) -> Iterator[Transition]:
        """Stream transitions with ``since <= at < until`` in time order."""
        with self.connect() as conn:
            yield from events.iter_transitions(conn, since, until, subject=subject)

    # -- outbox ---------------------------------------------------------------------------------

    def enqueue_notification(self, note: Notification, now: datetime) -> bool:
        """Queue a notification on its own (False if its dedupe key is queued already); prefer
        ``record`` to queue it atomically with the event it announces."""
        with self.connect() as conn:
            return outbox.enqueue(conn, note, now)

    def claim_notifications(
        self, worker: str, now: datetime, *, limit: int = 10, lease_s: float = 300.0
    ) -> list[OutboxItem]:
        """See ``outbox.claim``: each due row goes to one worker; a claim lapses after ``lease_s``."""
        with self.connect() as conn:
            return outbox.claim(conn, worker, now, limit=limit, lease_s=lease_s)

    def mark_delivered(self, item: OutboxItem, now: datetime) -> bool:
        """False if the claim on ``item`` lapsed and another worker holds it."""
        return not self.mark_delivered_many([item], now)

    def mark_delivered_many(
        self, items: Sequence[OutboxItem], now: datetime, *, queue: Sequence[Notification] = ()
    ) -> list[OutboxItem]:
        """Mark ``items`` delivered and queue ``queue`` (what they became: a grouped message, a
        suppression record) in one transaction, so a crash can neither lose the items nor announce
        them twice. Returns the items whose claim lapsed (taken by another worker, or already
        delivered), which stay as they are. Nothing to do, no connection."""
        if not items and not queue:
            return []
        with self._transaction() as conn:
            for note in queue:
                outbox.enqueue(conn, note, now)
            return outbox.mark_delivered(conn, items, now)

    def mark_failed(self, item: OutboxItem, error: str, now: datetime) -> bool:
        """Schedule a retry with exponential backoff; False if the claim lapsed."""
        with self.connect() as conn:
            return outbox.mark_failed(conn, item, error, now)

    def pending_notifications(self) -> int:
        with self.connect() as conn:
            return outbox.pending_count(conn)
