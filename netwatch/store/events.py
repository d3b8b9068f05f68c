"""Detector output: outage records (upserted by id) and target state transitions (appended).

Each table keeps indexed columns for filtering plus the full record as JSON (``to_dict``), which is
what is read back. Functions take a connection owned by the caller's thread; writes join the
caller's transaction so an outage, its transitions and its notification commit together.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from netwatch.model import Layer, Outage, ScopeType, Transition


@dataclass(frozen=True, slots=True)
class OutageFilter:
    """Which outages to list. ``since``/``until`` (aware UTC) select outages overlapping
    ``[since, until)``: started before ``until`` and not ended before ``since`` (open ones count as
    ongoing). None means unbounded. ``open_only`` keeps outages without an end."""

    since: datetime | None = None
    until: datetime | None = None
    scope_type: ScopeType | None = None
    entity: str | None = None
    layer: Layer | None = None
    open_only: bool = False


@dataclass(frozen=True, slots=True)
class OutagePage:
    """Newest first (by ``started_at``, then id). Pass ``next_cursor`` back to get the next page;
    None when this is the last one. A cursor is an opaque string."""

    outages: list[Outage]
    next_cursor: str | None


def _dumps(data: object) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def upsert_outages(conn: sqlite3.Connection, outages: Iterable[Outage]) -> None:
    """Insert or replace each outage by id, and its evidence references (which retention honours)."""
    for o in outages:
        conn.execute(
            "INSERT INTO outages (id, incident_id, scope_type, entity, layer, started_at, ended_at, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " incident_id = excluded.incident_id, scope_type = excluded.scope_type,"
            " entity = excluded.entity, layer = excluded.layer, started_at = excluded.started_at,"
            " ended_at = excluded.ended_at, body = excluded.body",
            (
                o.id,
                o.incident_id,
                o.scope_type.value,
                o.entity,
                o.layer.value,
                o.started_at.timestamp(),
                None if o.ended_at is None else o.ended_at.timestamp(),
                _dumps(o.to_dict()),
            ),
        )
        # Evidence is capped and may be revised: the stored set mirrors the record exactly.
        conn.execute("DELETE FROM outage_evidence WHERE outage_id = ?", (o.id,))
        conn.executemany(
            "INSERT OR IGNORE INTO outage_evidence (outage_id, measurement_id) VALUES (?, ?)",
            [(o.id, mid) for mid in o.evidence],
        )


def get_outage(conn: sqlite3.Connection, outage_id: str) -> Outage | None:
    row = conn.execute("SELECT body FROM outages WHERE id = ?", (outage_id,)).fetchone()
    return None if row is None else Outage.from_dict(json.loads(row[0]))


def _encode_cursor(started_at: float, outage_id: str) -> str:
    return f"{started_at!r}|{outage_id}"


def _decode_cursor(cursor: str) -> tuple[float, str]:
    """Raises ``ValueError`` for a cursor this module did not make (an API turns that into a 400)."""
    at, sep, outage_id = cursor.partition("|")
    if not sep:
        raise ValueError(f"invalid page cursor: {cursor!r}")
    return float(at), outage_id


def list_outages(
    conn: sqlite3.Connection, where: OutageFilter, *, limit: int = 100, cursor: str | None = None
) -> OutagePage:
    """One page of outages matching ``where``, newest first; ``limit`` >= 1 rows per page."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    clauses: list[str] = []
    params: list[object] = []
    if where.until is not None:
        clauses.append("started_at < ?")
        params.append(where.until.timestamp())
    if where.open_only:
        clauses.append("ended_at IS NULL")
    elif where.since is not None:
        clauses.append("(ended_at IS NULL OR ended_at >= ?)")
        params.append(where.since.timestamp())
    for column, value in (("scope_type", where.scope_type), ("entity", where.entity), ("layer", where.layer)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(str(value))
    if cursor is not None:
        at, outage_id = _decode_cursor(cursor)
        clauses.append("(started_at < ? OR (started_at = ? AND id < ?))")
        params += [at, at, outage_id]
    sql = "SELECT started_at, id, body FROM outages"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    rows = conn.execute(f"{sql} ORDER BY started_at DESC, id DESC LIMIT ?", [*params, limit + 1]).fetchall()
    page = [Outage.from_dict(json.loads(body)) for _, _, body in rows[:limit]]
    more = len(rows) > limit
    return OutagePage(page, _encode_cursor(rows[limit - 1][0], rows[limit - 1][1]) if more else None)


def append_transitions(conn: sqlite3.Connection, transitions: Iterable[Transition]) -> None:
    conn.executemany(
        "INSERT INTO transitions (at, subject, body) VALUES (?, ?, ?)",
        [(t.at.timestamp(), t.subject, _dumps(t.to_dict())) for t in transitions],
    )


def iter_transitions(
    conn: sqlite3.Connection,
    since: datetime,
    until: datetime,
    *,
    subject: str | None = None,
    chunk: int = 1000,
) -> Iterator[Transition]:
    """Transitions with ``since <= at < until`` (optionally of one subject) in time order, then
    append order; streamed in ``chunk``-row queries like ``measurements.iter_range``."""
    extra, extra_params = ("", ()) if subject is None else (" AND subject = ?", (subject,))
    sql = (
        "SELECT at, seq, body FROM transitions WHERE (at, seq) > (?, ?) AND at < ?"
        f"{extra} ORDER BY at, seq LIMIT ?"
    )
    cursor_at, cursor_seq = since.timestamp(), -1
    while True:
        rows = conn.execute(
            sql, (cursor_at, cursor_seq, until.timestamp(), *extra_params, chunk)
        ).fetchall()
        for _, _, body in rows:
            yield Transition.from_dict(json.loads(body))
        if len(rows) < chunk:
            return
        cursor_at, cursor_seq = rows[-1][0], rows[-1][1]
