"""The notification outbox: rows written in the same transaction as the event they announce,
then claimed by exactly one deliverer at a time, retried with exponential backoff.

Times are aware UTC datetimes in and out, epoch seconds in the table. Delivery is at-least-once:
a claim expires after ``lease_s`` so a deliverer that died mid-send does not strand the row; a
deliverer that is merely slow may then see its row delivered by another, so senders should pass
``OutboxItem.id`` (or the dedupe key) to the receiver as an idempotency key where it has one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Backoff after the n-th failed attempt: base * 2**(n-1) seconds, capped.
BACKOFF_BASE_S = 30.0
BACKOFF_MAX_S = 3600.0


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A claimed notification. ``attempts`` counts earlier failed deliveries."""

    id: int
    created_at: datetime
    kind: str
    payload: Mapping[str, Any]
    attempts: int
    claimed_by: str


@dataclass(frozen=True, slots=True)
class Notification:
    """A notification to queue. ``dedupe_key`` (e.g. ``"<outage id>:opened"``) makes queueing the
    same event twice a no-op, so replaying the detector never notifies twice."""

    kind: str
    payload: Mapping[str, Any]
    dedupe_key: str | None = None


def backoff_s(attempts: int) -> float:
    """Seconds to wait before the next try after ``attempts`` failures (>= 1)."""
    return min(BACKOFF_BASE_S * 2.0 ** (attempts - 1), BACKOFF_MAX_S)


def enqueue(conn: sqlite3.Connection, note: Notification, now: datetime) -> bool:
    """Add ``note`` in the caller's transaction, due at once; False if its ``dedupe_key`` was
    already queued."""
    payload = json.dumps(note.payload, separators=(",", ":"), ensure_ascii=False)
    cur = conn.execute(
        "INSERT OR IGNORE INTO outbox (created_at, kind, dedupe_key, payload, next_attempt_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (now.timestamp(), note.kind, note.dedupe_key, payload, now.timestamp()),
    )
    return cur.rowcount == 1


def claim(
    conn: sqlite3.Connection, worker: str, now: datetime, *, limit: int = 10, lease_s: float = 300.0
) -> list[OutboxItem]:
    """Claim up to ``limit`` due notifications for ``worker``, oldest first, in one transaction.

    A row is due when undelivered, its ``next_attempt_at`` has passed, and it is unclaimed or its
    claim is older than ``lease_s``. ``BEGIN IMMEDIATE`` serialises concurrent claimers (threads or
    processes), so no row is handed to two workers at once.
    """
    ts = now.timestamp()
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(
            "UPDATE outbox SET claimed_at = ?, claimed_by = ? WHERE id IN ("
            " SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= ?"
            " AND (claimed_at IS NULL OR claimed_at <= ?) ORDER BY id LIMIT ?)"
            " RETURNING id, created_at, kind, payload, attempts",
            (ts, worker, ts, ts - lease_s, limit),
        ).fetchall()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    items = [
        OutboxItem(id, datetime.fromtimestamp(created, UTC), kind, json.loads(payload), attempts, worker)
        for id, created, kind, payload, attempts in rows
    ]
    return sorted(items, key=lambda item: item.id)  # RETURNING order is unspecified


def mark_delivered(conn: sqlite3.Connection, items: Iterable[OutboxItem], now: datetime) -> list[OutboxItem]:
    """Record delivery of ``items`` in the caller's transaction (``Store.mark_delivered_many`` opens
    one, so N rows cost one commit); return those whose claim was lost (expired and taken by
    another worker, or already delivered), which are left untouched."""
    ts = now.timestamp()
    lost: list[OutboxItem] = []
    for item in items:
        cur = conn.execute(
            "UPDATE outbox SET delivered_at = ?, claimed_at = NULL, last_error = NULL"
            " WHERE id = ? AND claimed_by = ? AND delivered_at IS NULL",
            (ts, item.id, item.claimed_by),
        )
        if cur.rowcount != 1:
            lost.append(item)
    return lost


def mark_failed(conn: sqlite3.Connection, item: OutboxItem, error: str, now: datetime) -> bool:
    """Release the claim and schedule a retry after ``backoff_s(attempts)``; False if the claim
    was lost. ``error`` is kept for operators (``last_error``), never used as a metric label."""
    attempts = item.attempts + 1
    cur = conn.execute(
        "UPDATE outbox SET claimed_at = NULL, claimed_by = NULL, attempts = ?, next_attempt_at = ?,"
        " last_error = ? WHERE id = ? AND claimed_by = ? AND delivered_at IS NULL",
        (attempts, now.timestamp() + backoff_s(attempts), error, item.id, item.claimed_by),
    )
    return cur.rowcount == 1


def pending_count(conn: sqlite3.Connection) -> int:
    """Undelivered notifications (claimed or not): a health signal for the notifier."""
    return int(conn.execute("SELECT count(*) FROM outbox WHERE delivered_at IS NULL").fetchone()[0])
