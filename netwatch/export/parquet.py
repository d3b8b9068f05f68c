"""Parquet writers (pyarrow, the optional ``netwatch[parquet]`` extra), in bounded row groups.

Times are ``timestamp[us, tz=UTC]`` columns; local times are ISO 8601 text with the offset then
in force (Parquet timestamps carry one zone per column, not per row). ``phases`` and ``evidence``
of a measurement are JSON text; an outage's ``evidence`` is a list of measurement ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any

from netwatch.export.errors import ExportError
from netwatch.export.rows import MEASUREMENT_COLUMNS, OUTAGE_COLUMNS, FlatRow
from netwatch.export.timefmt import LocalFromUtc

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


def write_measurements(chunks: Iterable[list[FlatRow]], out: IO[bytes]) -> None:
    """Write ``measurement_rows`` chunks to ``out`` as Parquet; ``ExportError`` without pyarrow."""
    pa, pq = _pyarrow()
    schema = _schema(pa, "measurements")

    def batches() -> Iterator[Any]:
        local = LocalFromUtc()
        for chunk in chunks:
            cols = list(zip(*chunk, strict=True))
            failure = pa.array(cols[6], pa.string())
            arrays = [
                *(pa.array(c, pa.string()) for c in cols[:4]),
                pa.array(cols[4], pa.string()).cast(schema.field("started_at").type),
                pa.array([local(t) for t in cols[4]], pa.string()),
                pa.array(cols[5], pa.float64()),
                failure.is_null(),
                failure,
                pa.array(cols[7], pa.int64()).cast(pa.bool_()),
                *(pa.array(c, pa.string()) for c in cols[8:]),
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
            rows = [
                {**record, **{t: getattr(outage, t) for t in times}} for outage, record in chunk
            ]
            yield pa.RecordBatch.from_pylist(rows, schema=schema)

    _write(pa, pq, schema, batches(), out)
