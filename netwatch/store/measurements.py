"""Measurement rows: insert, range iteration, lookup by id, retention.

Every function takes a connection owned by the caller's thread. Times in and out are aware UTC
datetimes; stored as epoch seconds (REAL) for indexing, with the exact microsecond ISO time kept in
the JSON body, which is what is read back (``Measurement.from_dict``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from netwatch.model import Measurement

_INSERT = (
    "INSERT OR IGNORE INTO measurements (id, target_id, kind, vantage_id, started_at, failure, body) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)

# SQLite limits host parameters per statement (32766 since 3.32); stay far below for id lookups.
_IDS_PER_QUERY = 500


def _row(m: Measurement) -> tuple[str, str, str, str, float, str | None, str]:
    body = json.dumps(m.to_dict(), separators=(",", ":"), ensure_ascii=False)
    failure = m.failure.value if m.failure else None
    return (m.id, m.target_id, m.kind, m.vantage_id, m.started_at.timestamp(), failure, body)


def insert(conn: sqlite3.Connection, batch: Iterable[Measurement]) -> None:
    """Insert ``batch`` in the caller's transaction. A measurement id already stored is skipped,
    so retrying a batch whose commit outcome is unknown never duplicates rows."""
    conn.executemany(_INSERT, map(_row, batch))


def iter_range(
    conn: sqlite3.Connection,
    since: datetime,
    until: datetime,
    *,
    target_ids: Sequence[str] | None = None,
    chunk: int = 1000,
) -> Iterator[Measurement]:
    """Measurements with ``since <= started_at < until``, ordered by ``started_at`` then insertion.

    Streamed with keyset pagination (``chunk`` rows per query), so memory stays bounded and no read
    transaction is held open between chunks: a slow consumer (an export to a pipe) never keeps the
    WAL from checkpointing. Rows committed during iteration may or may not be seen.
    """
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since/until must be aware UTC datetimes")
    targets = tuple(target_ids) if target_ids is not None else None
    if targets is not None and not targets:
        return
    where = ""
    if targets is not None:
        where = f" AND target_id IN ({','.join('?' * len(targets))})"
    sql = (
        "SELECT started_at, seq, body FROM measurements INDEXED BY measurements_started_at "
        f"WHERE (started_at, seq) > (?, ?) AND started_at < ?{where} "
        "ORDER BY started_at, seq LIMIT ?"
    )
    # A row-value cursor, not "a > ? OR (a = ? AND seq > ?)": SQLite serves it as one index range
    # in order, where the OR form re-scans and re-sorts the rest of the range for every chunk.
    cursor_at, cursor_seq = since.timestamp(), -1
    # started_at >= since expressed as the cursor's initial position: seq > -1 admits every row at since.
    while True:
        params = (cursor_at, cursor_seq, until.timestamp(), *(targets or ()), chunk)
        rows = conn.execute(sql, params).fetchall()
        for _, _, body in rows:
            yield Measurement.from_dict(json.loads(body))
        if len(rows) < chunk:
            return
        cursor_at, cursor_seq = rows[-1][0], rows[-1][1]


def get_many(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, Measurement]:
    """The stored measurements among ``ids``, keyed by id; unknown ids are simply absent."""
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Measurement] = {}
    for start in range(0, len(wanted), _IDS_PER_QUERY):
        part = wanted[start : start + _IDS_PER_QUERY]
        sql = f"SELECT body FROM measurements WHERE id IN ({','.join('?' * len(part))})"
        for (body,) in conn.execute(sql, part):
            m = Measurement.from_dict(json.loads(body))
            found[m.id] = m
    return found


def delete_expired(conn: sqlite3.Connection, before: datetime, *, chunk: int = 5000) -> int:
    """Delete measurements with ``started_at < before`` that no outage cites; return how many.

    Deletes ``chunk`` rows per transaction so the measurement writer is never locked out for long.
    """
    cutoff = before.timestamp()
    deleted = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.execute(
                "DELETE FROM measurements WHERE seq IN ("
                " SELECT m.seq FROM measurements AS m INDEXED BY measurements_started_at"
                " WHERE m.started_at < ? AND NOT EXISTS"
                "  (SELECT 1 FROM outage_evidence AS e WHERE e.measurement_id = m.id)"
                " ORDER BY m.started_at LIMIT ?)",
                (cutoff, chunk),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        deleted += cur.rowcount
        if cur.rowcount < chunk:
            return deleted
