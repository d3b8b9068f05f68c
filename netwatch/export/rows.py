"""Row sources for exports: measurements straight from SQLite in chunks, outages page by page.

Measurements are never rebuilt as ``Measurement`` objects (several times dearer per row): every
exported field is a column (schema v4), so SQLite returns flat rows: CSV lines and JSON texts in
pieces (``lines``); ``parquet`` runs the same chunk queries (``chunk_sql``) through ADBC, which
returns Arrow columns without Python values. Each chunk is one short
query on its own connection (keyset pagination on ``(started_at, seq)``, which the
``started_at`` index serves in order without sorting), so memory stays bounded by the chunk size,
no read transaction is held between chunks, and consecutive chunks may be consumed from
different threads (a streamed HTTP body). The next chunk is read on a helper thread while the
caller handles the current one (SQLite releases the GIL while it steps through rows): at most
two chunks are held at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from netwatch.model import Outage
from netwatch.store import OutageFilter, Store
from netwatch.timefmt import local_iso, opt_local_iso

CHUNK_ROWS = 5_000

MEASUREMENT_COLUMNS: tuple[str, ...] = (
    "id", "target_id", "kind", "vantage_id", "started_at", "started_at_local", "duration_s", "ok",
    "failure", "partial", "country", "region", "asn", "operator", "network_type", "category",
    "role", "phases", "evidence",
)  # fmt: skip
"""Flat columns of a measurement (CSV, Parquet). ``phases`` and ``evidence`` are JSON objects as
text; label columns are the target's labels when it was probed."""

LABELS = MEASUREMENT_COLUMNS[10:17]
"""The label columns, in ``Labels.as_dict`` order (stored under the same names)."""


def chunk_sql(columns: str, targets: Sequence[str] | None) -> str:
    """One chunk's query: the SQL expressions ``columns`` then ``started_at, seq`` of the
    measurements after the cursor, in (started_at, seq) order. Parameters: cursor ``started_at``
    and ``seq`` (``(since, -1)`` for the first chunk), ``until``, the ``targets`` (none when it is
    None), the row limit."""
    where = "" if targets is None else f" AND target_id IN ({','.join('?' * len(targets))})"
    return (
        f"SELECT {columns}, started_at, seq FROM measurements INDEXED BY measurements_started_at"
        f" WHERE (started_at, seq) > (?, ?) AND started_at < ?{where} ORDER BY started_at, seq LIMIT ?"
    )


def chunks(
    store: Store, columns: str, *, since: datetime, until: datetime, targets: Sequence[str] | None
) -> Iterator[list[tuple[Any, ...]]]:
    """Chunks of rows of the SQL expressions ``columns`` (over a ``measurements`` row) followed by
    two more, ``started_at`` and ``seq`` (the cursor; ignore them), for the measurements with
    ``since <= started_at < until``, optionally only of ``targets``, in (started_at, seq) order."""
    if targets is not None and not targets:
        return
    sql = chunk_sql(columns, targets)
    size = CHUNK_ROWS

    def fetch(at: float, seq: int) -> list[tuple[Any, ...]]:
        with store.connect() as conn:
            return conn.execute(sql, (at, seq, until.timestamp(), *(targets or ()), size)).fetchall()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="netwatch-export") as reader:
        # (since, -1): every row at exactly `since` is included.
        pending = reader.submit(fetch, since.timestamp(), -1)
        while True:
            rows = pending.result()
            if len(rows) == size:
                pending = reader.submit(fetch, *rows[-1][-2:])
            if rows:
                yield rows
            if len(rows) < size:
                return


def count_measurements(
    store: Store, since: datetime, until: datetime, targets: Sequence[str] | None = None
) -> int:
    """How many rows ``chunks`` would yield (for a progress bar's total)."""
    if targets is not None and not targets:
        return 0
    where = "" if targets is None else f" AND target_id IN ({','.join('?' * len(targets))})"
    sql = f"SELECT count(*) FROM measurements WHERE started_at >= ? AND started_at < ?{where}"
    with store.connect() as conn:
        return int(conn.execute(sql, (since.timestamp(), until.timestamp(), *(targets or ()))).fetchone()[0])


def iter_outages(store: Store, where: OutageFilter, page_size: int = 1000) -> Iterator[Outage]:
    """Every outage matching ``where``, newest first, fetched a page at a time."""
    cursor: str | None = None
    while True:
        page = store.outages(where, limit=page_size, cursor=cursor)
        yield from page.outages
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


OUTAGE_COLUMNS: tuple[str, ...] = (
    "id", "incident_id", "scope_type", "entity", "layer",
    "started_at", "started_at_local", "start_earliest", "start_earliest_local",
    "ended_at", "ended_at_local", "end_earliest", "end_earliest_local",
    "open", "duration_s", "start_uncertainty_s", "end_uncertainty_s",
    "severity", "fraction", "targets_affected", "vantages_affected", "method", "evidence",
)  # fmt: skip
"""Flat columns of an outage (CSV, Parquet); ``evidence`` is space-separated measurement ids."""


def outage_record(outage: Outage, now: Callable[[], datetime]) -> dict[str, Any]:
    """``Outage.to_dict`` plus local times and derived seconds.

    ``duration_s`` runs from ``started_at`` to ``ended_at``, or to ``now()`` while open.
    ``start_uncertainty_s`` is ``started_at - start_earliest`` (None without a last good
    measurement); ``end_uncertainty_s`` is ``ended_at - end_earliest`` (None while open).
    """
    o = outage
    end = o.ended_at if o.ended_at is not None else now()
    record = o.to_dict()
    record.update(
        started_at_local=local_iso(o.started_at),
        start_earliest_local=opt_local_iso(o.start_earliest),
        ended_at_local=opt_local_iso(o.ended_at),
        end_earliest_local=opt_local_iso(o.end_earliest),
        open=o.is_open,
        duration_s=max(0.0, (end - o.started_at).total_seconds()),
        start_uncertainty_s=None
        if o.start_earliest is None
        else (o.started_at - o.start_earliest).total_seconds(),
        end_uncertainty_s=None
        if o.ended_at is None or o.end_earliest is None
        else (o.ended_at - o.end_earliest).total_seconds(),
    )
    return record


def outage_flat(record: dict[str, Any]) -> tuple[Any, ...]:
    """An ``outage_record`` in ``OUTAGE_COLUMNS`` order, evidence joined by spaces."""
    return tuple(" ".join(record["evidence"]) if c == "evidence" else record[c] for c in OUTAGE_COLUMNS)
