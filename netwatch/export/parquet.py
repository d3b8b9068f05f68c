"""Parquet writers, in bounded row groups: pyarrow, and for measurements ADBC's SQLite driver
(both the optional ``netwatch[parquet]`` extra).

Times are ``timestamp[us, tz=UTC]`` columns; local times are ISO 8601 text with the offset then
in force (Parquet timestamps carry one zone per column, not per row). ``phases`` and ``evidence``
of a measurement are JSON text; an outage's ``evidence`` is a list of measurement ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import IO, Any

from netwatch.export.errors import ExportError
from netwatch.export.rows import LABELS, MEASUREMENT_COLUMNS, OUTAGE_COLUMNS, chunk_sql
from netwatch.store import Store
from netwatch.timefmt import LOCAL_ZONE, LocalFromUtc

ROW_GROUP_ROWS = 100_000
"""Rows per row group, and per chunk read from the store for measurements: bounds memory (~50 MB
of measurements a chunk)."""


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


_STORED = (
    "id, target_id, kind, vantage_id, started_at_text, coalesce(duration_s, 0.0), duration_s IS NULL,"
    f" coalesce(failure, ''), failure IS NULL, partial, {', '.join(LABELS)}, phases, evidence"
)
"""The stored columns ``write_measurements`` reads. ADBC types a result column by its first
values (a run of NULLs would come back as int64), so each nullable column comes as a value that is
never NULL and a NULL flag."""


def _adbc() -> Any:
    try:
        import adbc_driver_sqlite.dbapi as adbc  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise ExportError(
            "Parquet export of measurements needs adbc-driver-sqlite: install netwatch[parquet]"
        ) from None
    return adbc


def _local_times(pa: Any, pc: Any, utc: Any) -> Any:
    """``local_iso`` of each ``format_utc`` text of the Arrow array ``utc``, built as
    ``LocalFromUtc`` builds it: the zone database is asked once per distinct minute, and a row is
    its minute's local prefix, its own seconds and microseconds, and the offset (offsets since 1924
    are whole minutes). An array with an older offset with seconds goes through ``LocalFromUtc``
    row by row (exact, slow)."""
    minutes = pc.utf8_slice_codeunits(utc, 0, 16).dictionary_encode()
    prefixes, suffixes = [], []
    for minute in minutes.dictionary.to_pylist():
        local = datetime.fromisoformat(minute + ":00+00:00").astimezone(LOCAL_ZONE)
        offset = local.utcoffset()
        if offset is None or offset.total_seconds() % 60:
            convert = LocalFromUtc()
            return pa.array([convert(u) for u in utc.to_pylist()], pa.string())
        prefixes.append(local.strftime("%Y-%m-%dT%H:%M:"))
        suffixes.append(local.isoformat()[19:])
    rows = minutes.indices
    seconds = pc.utf8_slice_codeunits(utc, 17, 26)
    return pc.binary_join_element_wise(
        pa.array(prefixes, pa.string()).take(rows), seconds, pa.array(suffixes, pa.string()).take(rows), ""
    )


def write_measurements(
    store: Store,
    since: datetime,
    until: datetime,
    out: IO[bytes],
    *,
    targets: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write the measurements with ``since <= started_at < until`` (aware UTC), optionally only of
    ``targets``, in (started_at, seq) order, to ``out`` as Parquet; ``ExportError`` without pyarrow
    or adbc-driver-sqlite. ``progress`` gets each row group's row count once it is written.

    Rows come through ADBC's SQLite driver as Arrow columns built in C, one ``rows.chunk_sql``
    query of ``ROW_GROUP_ROWS`` per row group on a read-only connection in autocommit (no read
    transaction is held between chunks, so the writer and checkpoints go on); the next chunk is
    read on a helper thread while this one is converted and written. Memory is bounded by two
    chunks. ``started_at`` is parsed from the stored UTC text (exact microseconds); no Python code
    runs per row."""
    pa, pq = _pyarrow()
    adbc = _adbc()
    import pyarrow.compute as pc  # noqa: PLC0415 - with pyarrow

    schema = _schema(pa, "measurements")
    utc_type = schema.field("started_at").type
    if targets is not None and not targets:
        with pq.ParquetWriter(out, schema, compression="zstd"):
            return
    sql, size = chunk_sql(_STORED, targets), ROW_GROUP_ROWS

    def convert(batch: Any) -> Any:
        c = batch.columns
        ok = c[8].cast(pa.bool_())
        arrays = [
            *c[:4],
            c[4].cast(utc_type),
            _local_times(pa, pc, c[4]),
            pc.if_else(c[6].cast(pa.bool_()), pa.scalar(None, pa.float64()), c[5]),
            ok,
            pc.if_else(ok, pa.scalar(None, pa.string()), c[7]),
            c[9].cast(pa.bool_()),
            *c[10:19],  # labels, phases, evidence
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    with (
        adbc.connect(store.path.absolute().as_uri() + "?mode=ro", autocommit=True) as conn,
        conn.cursor() as cursor,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="netwatch-export") as reader,
        pq.ParquetWriter(out, schema, compression="zstd") as writer,
    ):
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(size)})

        def fetch(at: float, seq: int) -> Any:
            cursor.execute(sql, (at, seq, until.timestamp(), *(targets or ()), size))
            return cursor.fetch_arrow_table()

        # (since, -1): every row at exactly `since` is included.
        pending = reader.submit(fetch, since.timestamp(), -1)
        while True:
            table = pending.result()
            if table.num_rows == size:
                pending = reader.submit(fetch, table["started_at"][-1].as_py(), table["seq"][-1].as_py())
            if table.num_rows:
                batches = [convert(b) for b in table.to_batches()]
                writer.write_table(pa.Table.from_batches(batches, schema), row_group_size=table.num_rows)
                if progress is not None:
                    progress(table.num_rows)
            if table.num_rows < size:
                return


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
