"""Parquet writers (pyarrow, the optional ``netwatch[parquet]`` extra), in bounded row groups.

Times are ``timestamp[us, tz=UTC]`` columns; local times are ISO 8601 text with the offset then
in force (Parquet timestamps carry one zone per column, not per row). ``phases`` and ``evidence``
of a measurement are JSON text; an outage's ``evidence`` is a list of measurement ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any

from netwatch.export.errors import ExportError
from netwatch.export.rows import LABELS, MEASUREMENT_COLUMNS, OUTAGE_COLUMNS
from netwatch.timefmt import LocalFromUtc

ROW_GROUP_ROWS = 100_000
"""Rows buffered before a row group is written: bounds memory (~50 MB of measurements)."""


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa  # noqa: PLC0415 - optional dependency, imported on use
        import pyarrow.parquet as pq  # noqa: PLC0415
    except ImportError:
        raise ExportError("Parquet export needs pyarrow: install netwatch[parquet]") from None
    return pa, pq


def _schema(pa: Any, kind: str) -> Any:
    text, utc = pa.string(), pa.timestamp("us", tz="UTC")
    if kind == "measurements":
        types = {"started_at": utc, "duration_s": pa.float64(), "ok": pa.bool_(), "partial": pa.bool_()}
        return pa.schema([(c, types.get(c, text)) for c in MEASUREMENT_COLUMNS])
    types = {
        **dict.fromkeys(("started_at", "start_earliest", "ended_at", "end_earliest"), utc),
        **dict.fromkeys(("duration_s", "start_uncertainty_s", "end_uncertainty_s"), pa.float64()),
        **dict.fromkeys(("severity", "fraction"), pa.float64()),
        **dict.fromkeys(("targets_affected", "vantages_affected"), pa.int64()),
        "open": pa.bool_(),
        "evidence": pa.list_(text),
    }
    return pa.schema([(c, types.get(c, text)) for c in OUTAGE_COLUMNS])


def _write(pa: Any, pq: Any, schema: Any, batches: Iterable[Any], out: IO[bytes]) -> None:
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        pending: list[Any] = []
        rows = 0
        for batch in batches:
            pending.append(batch)
            rows += batch.num_rows
            if rows >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=rows)
                pending, rows = [], 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=rows)


MEASUREMENT_SQL = (
    "id, target_id, kind, vantage_id, started_at_text, duration_s, failure, partial, "
    f"{', '.join(LABELS)}, phases, evidence"
)
"""The ``rows.chunks`` columns ``write_measurements`` takes: stored columns, ``partial`` 0/1."""


def write_measurements(chunks: Iterable[list[tuple[Any, ...]]], out: IO[bytes]) -> None:
    """Write chunks of ``MEASUREMENT_SQL`` rows to ``out`` as Parquet; ``ExportError`` without
    pyarrow.

    Each chunk is transposed to columns and every column becomes an Arrow array in one call (C++);
    Python touches each row only for its local time. ``started_at`` is parsed from the stored UTC
    text (exact microseconds)."""
    pa, pq = _pyarrow()
    schema = _schema(pa, "measurements")
    text, utc_type = pa.string(), schema.field("started_at").type

    def batches() -> Iterator[Any]:
        local = LocalFromUtc()
        for chunk in chunks:
            columns = list(zip(*chunk, strict=True))
            utc, failure = columns[4], pa.array(columns[6], text)
            arrays = [
                *(pa.array(c, text) for c in columns[:4]),
                pa.array(utc, text).cast(utc_type),
                pa.array([local(u) for u in utc], text),
                pa.array(columns[5], pa.float64()),
                failure.is_null(),
                failure,
                pa.array(columns[7], pa.int8()).cast(pa.bool_()),
                *(pa.array(c, text) for c in columns[8:17]),  # labels, phases, evidence
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    _write(pa, pq, schema, batches(), out)


def write_outages(chunks: Iterable[list[tuple[Any, dict[str, Any]]]], out: IO[bytes]) -> None:
    """Write chunks of (``Outage``, ``outage_record``) pairs to ``out`` as Parquet (times typed)."""
    pa, pq = _pyarrow()
    schema = _schema(pa, "outages")
    times = ("started_at", "start_earliest", "ended_at", "end_earliest")

    def batches() -> Iterator[Any]:
        for chunk in chunks:
            rows = [{**record, **{t: getattr(outage, t) for t in times}} for outage, record in chunk]
            yield pa.RecordBatch.from_pylist(rows, schema=schema)

    _write(pa, pq, schema, batches(), out)
