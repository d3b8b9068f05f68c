"""Measurement rows: insert, range iteration, lookup by id, retention.

Every function takes a connection owned by the caller's thread. Times in and out are aware UTC
datetimes. A row holds each ``Measurement.to_dict`` field in its own column (schema v4):
``started_at`` as epoch seconds (REAL, indexed) and as ``format_utc`` text (``started_at_text``,
exact to the microsecond, what is read back), ``duration_s`` as REAL (a float round-trips
exactly), ``partial`` as 0/1, one column per label, and ``phases``/``evidence`` as compact JSON
object text. Reading rebuilds a ``Measurement`` equal to the one written (``to_dict`` equal).

``plain`` is 1 when none of the short text columns (ids, kind, failure, labels) holds a control
character, quote, comma or backslash, so exports may write them verbatim in CSV and inside JSON
quotes (``netwatch.export.lines``); 0 sends the row down the exports' escaping path.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from netwatch.model import Failure, Labels, Measurement, NetworkType, Role, format_utc, parse_utc

_INSERT = (
    "INSERT OR IGNORE INTO measurements (id, target_id, kind, vantage_id, started_at, started_at_text,"
    " duration_s, failure, partial, country, region, asn, operator, network_type, category, role,"
    " phases, evidence, plain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

COLUMNS = (
    "id, target_id, kind, vantage_id, started_at_text, duration_s, failure, partial, phases, evidence,"
    " country, region, asn, operator, network_type, category, role"
)
"""The columns ``measurement`` takes, in its order."""

# SQLite limits host parameters per statement (32766 since 3.32); stay far below for id lookups.
_IDS_PER_QUERY = 500

# One encoder for every row: json.dumps with options builds a new encoder per call.
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_special = re.compile(r'[\x00-\x1f",\\]').search


def _row(m: Measurement) -> tuple[Any, ...]:
    labels = m.labels
    failure = m.failure.value if m.failure else None
    network_type, role = labels.network_type.value, labels.role.value
    text = (
        f"{m.id}{m.target_id}{m.kind}{m.vantage_id}{failure or ''}{labels.country}{labels.region}"
        f"{labels.asn}{labels.operator}{network_type}{labels.category}{role}"
    )
    return (
        m.id, m.target_id, m.kind, m.vantage_id, m.started_at.timestamp(), format_utc(m.started_at),
        m.duration_s, failure, m.partial, labels.country, labels.region, labels.asn, labels.operator,
        network_type, labels.category, role, _json(dict(m.phases)), _json(dict(m.evidence)),
        _special(text) is None,
    )  # fmt: skip


def measurement(row: Sequence[Any]) -> Measurement:
    """The ``Measurement`` of a row of ``COLUMNS``."""
    (id_, target, kind, vantage, utc, duration, failure, partial, phases, evidence, *labels) = row
    country, region, asn, operator, network_type, category, role = labels
    return Measurement(
        id=id_,
        target_id=target,
        kind=kind,
        vantage_id=vantage,
        started_at=parse_utc(utc),
        duration_s=float("nan") if duration is None else duration,  # SQLite stores NaN as NULL
        failure=Failure(failure) if failure else None,
        partial=bool(partial),
        phases=json.loads(phases),
        evidence=json.loads(evidence),
        labels=Labels(country, region, asn, operator, NetworkType(network_type), category, Role(role)),
    )


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
        f"SELECT started_at, seq, {COLUMNS} FROM measurements INDEXED BY measurements_started_at "
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
        for row in rows:
            yield measurement(row[2:])
        if len(rows) < chunk:
            return
        cursor_at, cursor_seq = rows[-1][0], rows[-1][1]


def get_many(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, Measurement]:
    """The stored measurements among ``ids``, keyed by id; unknown ids are simply absent."""
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Measurement] = {}
    for start in range(0, len(wanted), _IDS_PER_QUERY):
        part = wanted[start : start + _IDS_PER_QUERY]
        sql = f"SELECT {COLUMNS} FROM measurements WHERE id IN ({','.join('?' * len(part))})"
        for row in conn.execute(sql, part):
            found[row[0]] = measurement(row)
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
