"""Streamed exports of outages and measurements: CSV, JSON Lines, JSON, Parquet and CODF.

Every time is written in UTC (ISO 8601 with ``Z``, or a UTC-typed Parquet timestamp) and again as
local time in ``Asia/Almaty`` (``*_local`` columns). Ids are the stored, stable ids. Rows stream
in chunks (``rows.CHUNK_ROWS``; Parquet ``parquet.ROW_GROUP_ROWS``) from the store to the output,
so memory does not grow with the number of rows. Formats and columns are documented in
``docs/export.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from enum import StrEnum
from typing import IO, Any, TypeVar

from netwatch.export import codf, lines, parquet, rows, text
from netwatch.export.errors import ExportError
from netwatch.model import Outage
from netwatch.store import OutageFilter, Store

__all__ = [
    "ExportError",
    "ExportFormat",
    "export_measurements",
    "export_outages",
    "measurement_text",
    "outage_text",
]

Progress = Callable[[int], None]
"""Called with the number of rows just written, once per chunk."""

T = TypeVar("T")


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    JSON = "json"
    PARQUET = "parquet"
    CODF = "codf"  # outages only: a JSON array of CODF events


def _counted(chunks: Iterable[list[T]], progress: Progress | None) -> Iterator[list[T]]:
    for chunk in chunks:
        yield chunk
        if progress is not None:
            progress(len(chunk))


def _outage_chunks(store: Store, where: OutageFilter) -> Iterator[list[Outage]]:
    outages = rows.iter_outages(store, where)
    while chunk := list(itertools.islice(outages, 1000)):
        yield chunk


def outage_text(
    store: Store,
    where: OutageFilter,
    fmt: ExportFormat,
    *,
    now: Callable[[], datetime],
    progress: Progress | None = None,
) -> Iterator[str]:
    """Outages matching ``where`` (newest first) as text in ``fmt`` (not Parquet), chunk by chunk.
    ``now()`` (aware UTC) measures the duration of open outages."""
    chunks = _counted(_outage_chunks(store, where), progress)
    if fmt is ExportFormat.CODF:
        at = now()
        return text.json_array_text(text.dict_json_items([codf.codf_event(o, at) for o in c] for c in chunks))
    records = ([rows.outage_record(o, now) for o in chunk] for chunk in chunks)
    if fmt is ExportFormat.CSV:
        return text.csv_text(rows.OUTAGE_COLUMNS, ([rows.outage_flat(r) for r in c] for c in records))
    if fmt is ExportFormat.JSONL:
        return text.jsonl_text(text.dict_json_items(records))
    if fmt is ExportFormat.JSON:
        return text.json_array_text(text.dict_json_items(records))
    raise ExportError(f"{fmt.value} is not a text format")


def measurement_text(
    store: Store,
    since: datetime,
    until: datetime,
    fmt: ExportFormat,
    *,
    targets: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> Iterator[str]:
    """Measurements with ``since <= started_at < until`` (aware UTC) as CSV, JSON Lines or JSON
    text, in time order, chunk by chunk. ``targets`` keeps only those target ids."""
    if fmt is ExportFormat.CSV:
        csv_lines = _counted(lines.measurement_csv_lines(store, since, until, targets), progress)
        return text.lines_text(",".join(rows.MEASUREMENT_COLUMNS) + "\r\n", csv_lines)
    items = _counted(lines.measurement_json(store, since, until, targets), progress)
    if fmt is ExportFormat.JSONL:
        return text.jsonl_text(items)
    if fmt is ExportFormat.JSON:
        return text.json_array_text(items)
    raise ExportError(f"measurements cannot be exported as {fmt.value} (codf describes outages)")


def _write_text(pieces: Iterable[str], out: IO[bytes]) -> None:
    for piece in pieces:
        out.write(piece.encode("utf-8"))


def export_outages(
    store: Store,
    where: OutageFilter,
    fmt: ExportFormat,
    out: IO[bytes],
    now: Callable[[], datetime],
    *,
    progress: Progress | None = None,
) -> None:
    """Write the outages matching ``where`` to ``out`` in ``fmt``. ``ExportError`` for Parquet
    without pyarrow."""
    if fmt is ExportFormat.PARQUET:
        chunks: Iterable[list[Any]] = _counted(_outage_chunks(store, where), progress)
        parquet.write_outages(([(o, rows.outage_record(o, now)) for o in c] for c in chunks), out)
    else:
        _write_text(outage_text(store, where, fmt, now=now, progress=progress), out)


def export_measurements(
    store: Store,
    since: datetime,
    until: datetime,
    fmt: ExportFormat,
    out: IO[bytes],
    *,
    targets: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> None:
    """Write measurements with ``since <= started_at < until`` to ``out`` in ``fmt``;
    ``ExportError`` for CODF, or for Parquet without pyarrow."""
    if fmt is ExportFormat.PARQUET:
        parquet.write_measurements(store, since, until, out, targets=targets, progress=progress)
    else:
        _write_text(measurement_text(store, since, until, fmt, targets=targets, progress=progress), out)
