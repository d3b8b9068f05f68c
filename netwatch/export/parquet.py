"""Parquet writers (pyarrow, the optional ``netwatch[parquet]`` extra), in bounded row groups.

Times are ``timestamp[us, tz=UTC]`` columns; local times are ISO 8601 text with the offset then
in force (Parquet timestamps carry one zone per column, not per row). ``phases`` and ``evidence``
of a measurement are JSON text; an outage's ``evidence`` is a list of measurement ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any

from netwatch.export.errors import ExportError
from netwatch.export.rows import MEASUREMENT_COLUMNS, OUTAGE_COLUMNS
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


def write_measurements(chunks: Iterable[list[tuple[str, str, str]]], out: IO[bytes]) -> None:
    """Write ``measurement_raw`` chunks to ``out`` as Parquet; ``ExportError`` without pyarrow.

    Bodies are parsed by pyarrow's JSON reader, a chunk at a time (C++, several threads), against
    an explicit schema of the scalar fields; ``phases`` and ``evidence`` arrive as JSON text."""
    pa, pq = _pyarrow()
    import pyarrow.json as pj  # noqa: PLC0415

    schema = _schema(pa, "measurements")
    text = pa.string()
    fields = [(c, text) for c in ("id", "target_id", "kind", "vantage_id", "started_at")]
    fields += [("duration_s", pa.float64()), ("failure", text), ("partial", pa.bool_())]
    fields.append(("labels", pa.struct([(c, text) for c in MEASUREMENT_COLUMNS[10:17]])))
    parse = pj.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore")

    def batches() -> Iterator[Any]:
        local = LocalFromUtc()
        for chunk in chunks:
            bodies, phases, evidence = zip(*chunk, strict=True)
            t = pj.read_json(pa.py_buffer("\n".join(bodies).encode()), parse_options=parse)
            utc = t.column("started_at")
            labels = t.column("labels").combine_chunks()
            arrays = [
                *(t.column(c) for c in ("id", "target_id", "kind", "vantage_id")),
                utc.cast(schema.field("started_at").type),
                pa.array([local(u) for u in utc.to_pylist()], text),
                t.column("duration_s"),
                t.column("failure").is_null(),
                t.column("failure"),
                t.column("partial"),
                *labels.flatten(),
                pa.array(phases, text),
                pa.array(evidence, text),
            ]
            yield pa.Table.from_arrays(arrays, schema=schema).combine_chunks().to_batches()[0]

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
