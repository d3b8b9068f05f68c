"""Exports: every format parses back, local times are exact, filters hold, memory stays flat,
and the CLI says what is wrong with exit status 2."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from export_samples import JAN_2022, JUN_2025, NOW, clock, fill, insert, kazakhstan_2022, new_store
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from netwatch.cli import app
from netwatch.export import ExportError, ExportFormat, export_measurements, export_outages, rows
from netwatch.model import Labels, Layer, Measurement, ScopeType, format_utc
from netwatch.store import OutageFilter, Store
from netwatch.timefmt import LocalFromUtc, local_iso, parse_time

EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def measurements_out(store: Store, fmt: ExportFormat, **kw: object) -> bytes:
    since, until = kw.pop("since", EVER[0]), kw.pop("until", EVER[1])
    out = io.BytesIO()
    export_measurements(store, since, until, fmt, out, **kw)  # type: ignore[arg-type]
    return out.getvalue()


def outages_out(store: Store, fmt: ExportFormat, where: OutageFilter | None = None) -> bytes:
    out = io.BytesIO()
    export_outages(store, where or OutageFilter(), fmt, out, now=clock)
    return out.getvalue()


def parquet_rows(store: Store, **kw: object) -> list[dict[str, object]]:
    return pq.read_table(io.BytesIO(measurements_out(store, ExportFormat.PARQUET, **kw))).to_pylist()


def json_text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parquet_row(m: Measurement) -> dict[str, object]:
    """The Parquet row of ``m``: every column, typed (a NaN duration is stored, so read, as null)."""
    d = m.to_dict()
    return {
        "id": m.id, "target_id": m.target_id, "kind": m.kind, "vantage_id": m.vantage_id,
        "started_at": m.started_at, "started_at_local": local_iso(m.started_at),
        "duration_s": None if math.isnan(m.duration_s) else m.duration_s, "ok": m.ok,
        "failure": d["failure"], "partial": m.partial, **d["labels"],
        "phases": json_text(d["phases"]), "evidence": json_text(d["evidence"]),
    }  # fmt: skip


# -- time zones --------------------------------------------------------------------------------


def test_local_time_follows_the_iana_database_across_the_2024_change() -> None:
    assert local_iso(datetime(2022, 1, 5, 10, 30, tzinfo=UTC)) == "2022-01-05T16:30:00.000000+06:00"
    assert local_iso(datetime(2025, 6, 1, 10, 30, tzinfo=UTC)) == "2025-06-01T15:30:00.000000+05:00"
    assert local_iso(datetime(2024, 2, 29, 17, 59, 59, tzinfo=UTC)) == "2024-02-29T23:59:59.000000+06:00"
    assert local_iso(datetime(2024, 2, 29, 18, 0, tzinfo=UTC)) == "2024-02-29T23:00:00.000000+05:00"


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1925, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_fast_local_conversion_equals_zoneinfo(moment: datetime) -> None:
    assert LocalFromUtc()(format_utc(moment)) == local_iso(moment)


def test_parse_time_accepts_zones_and_dates_and_refuses_naive_times() -> None:
    assert parse_time("2022-01-05T16:30:00+06:00") == JAN_2022
    assert parse_time("2022-01-05T10:30:00Z") == JAN_2022
    assert parse_time("2022-01-05") == datetime(2022, 1, 5, tzinfo=UTC)
    for bad in ("2022-01-05T10:30:00", "yesterday", "2022-13-01", ""):
        with pytest.raises(ValueError, match="ISO 8601"):
            parse_time(bad)


# -- measurements ------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return new_store(tmp_path)


def test_measurement_csv_parses_back_with_every_field(store: Store) -> None:
    items = fill(store, 50)
    got = list(csv.DictReader(io.StringIO(measurements_out(store, ExportFormat.CSV).decode())))
    assert [r["id"] for r in got] == [m.id for m in items]
    assert tuple(got[0]) == rows.MEASUREMENT_COLUMNS
    for row, m in zip(got, items, strict=True):
        d = m.to_dict()
        assert row["started_at"] == d["started_at"]
        assert row["started_at_local"] == local_iso(m.started_at)
        assert row["started_at_local"].endswith("+06:00")
        assert float(row["duration_s"]) == m.duration_s
        assert row["ok"] == ("true" if m.ok else "false")
        assert row["failure"] == (d["failure"] or "")
        assert row["partial"] == ("true" if m.partial else "false")
        assert json.loads(row["phases"]) == d["phases"]
        assert json.loads(row["evidence"]) == d["evidence"]
        assert {k: row[k] for k in d["labels"]} == d["labels"]


def test_measurement_csv_quotes_awkward_labels_like_the_csv_module(store: Store) -> None:
    odd = Labels(country="KZ", operator='Tele2, "Altel"', category="news\nand more", region="KZ-75")
    items = [replace(m, labels=odd) if n % 2 else m for n, m in enumerate(fill(store, 6))]
    with store.connect() as conn:
        conn.execute("DELETE FROM measurements")
    insert(store, items)
    text = measurements_out(store, ExportFormat.CSV).decode()
    got = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [(r["operator"], r["category"]) for r in got] == [
        (m.labels.operator, m.labels.category) for m in items
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(csv.reader(io.StringIO(text, newline="")))
    assert buffer.getvalue() == text  # byte for byte what csv.writer writes


def test_measurement_csv_quotes_awkward_ids_like_the_csv_module(store: Store) -> None:
    odd = ("a,b", 'say "hi"', "two\nlines", "cr\rhere", "")
    items = [
        replace(m, id=f"{odd[n % 5]}-{n}", vantage_id=odd[(n + 1) % 5]) for n, m in enumerate(fill(store, 10))
    ]
    with store.connect() as conn:
        conn.execute("DELETE FROM measurements")
    insert(store, items)
    text = measurements_out(store, ExportFormat.CSV).decode()
    got = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [(r["id"], r["vantage_id"]) for r in got] == [(m.id, m.vantage_id) for m in items]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(csv.reader(io.StringIO(text, newline="")))
    assert buffer.getvalue() == text  # byte for byte what csv.writer writes


_AWKWARD = st.text(alphabet=st.sampled_from("ab,\"\\\n\r\t\x01\x1f é%'{}Қ\u2028"), max_size=6)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            _AWKWARD,
            _AWKWARD,
            st.floats(0, 1e6),
            st.booleans(),
            st.booleans(),
            st.dictionaries(_AWKWARD, _AWKWARD),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_measurement_csv_and_json_are_exact_for_any_text(
    tmp_path_factory: pytest.TempPathFactory, cases: list[tuple[str, str, float, bool, bool, dict[str, str]]]
) -> None:
    """Escaping and plain paths alike: CSV bytes equal ``csv.writer``'s for the reference row and
    JSON parses back to ``to_dict``, whatever the text (quotes, commas, CR/LF, control characters,
    backslashes, non-ASCII), with or without empty ``phases``/``evidence``."""
    store = new_store(tmp_path_factory.mktemp("exact"))
    base = fill(store, len(cases))
    with store.connect() as conn:
        conn.execute("DELETE FROM measurements")
    items = [
        replace(
            m,
            id=f"{n}{ident}",
            vantage_id=ident,
            duration_s=duration,
            partial=partial,
            phases={} if empty else m.phases,
            evidence=evidence,
            labels=replace(m.labels, operator=label, category=ident),
        )
        for n, (m, (ident, label, duration, partial, empty, evidence)) in enumerate(
            zip(base, cases, strict=True)
        )
    ]
    insert(store, items)
    expected = io.StringIO()
    writer = csv.writer(expected)
    writer.writerow(rows.MEASUREMENT_COLUMNS)
    for m in items:
        d = m.to_dict()
        phases, evidence = (
            json.dumps(d[k], ensure_ascii=False, separators=(",", ":")) for k in ("phases", "evidence")
        )
        writer.writerow([
            m.id, m.target_id, m.kind, m.vantage_id, d["started_at"], local_iso(m.started_at), m.duration_s,
            str(m.ok).lower(), d["failure"], str(m.partial).lower(), *d["labels"].values(), phases, evidence,
        ])  # fmt: skip
    assert measurements_out(store, ExportFormat.CSV).decode() == expected.getvalue()
    records = [
        json.loads(line) for line in measurements_out(store, ExportFormat.JSONL).decode().split("\n")[:-1]
    ]
    assert [Measurement.from_dict(r) for r in records] == items
    assert [r.pop("started_at_local") for r in records] == [local_iso(m.started_at) for m in items]
    assert records == [m.to_dict() for m in items]
    assert parquet_rows(store) == [parquet_row(m) for m in items]


@pytest.mark.parametrize("fmt", [ExportFormat.JSONL, ExportFormat.JSON])
def test_measurement_json_round_trips(store: Store, fmt: ExportFormat) -> None:
    items = fill(store, 30, start=JUN_2025)
    text = measurements_out(store, fmt).decode()
    records = json.loads(text) if fmt is ExportFormat.JSON else [json.loads(x) for x in text.splitlines()]
    assert [Measurement.from_dict(r) for r in records] == items
    assert all(r["started_at_local"].endswith("+05:00") for r in records)


def test_empty_exports_are_valid(store: Store) -> None:
    assert json.loads(measurements_out(store, ExportFormat.JSON)) == []
    assert measurements_out(store, ExportFormat.JSONL) == b""
    assert list(csv.reader(io.StringIO(measurements_out(store, ExportFormat.CSV).decode()))) == [
        list(rows.MEASUREMENT_COLUMNS)
    ]
    assert pq.read_table(io.BytesIO(measurements_out(store, ExportFormat.PARQUET))).num_rows == 0


def test_measurement_parquet_has_typed_columns(store: Store) -> None:
    items = fill(store, 40)
    table = pq.read_table(io.BytesIO(measurements_out(store, ExportFormat.PARQUET)))
    assert table.column_names == list(rows.MEASUREMENT_COLUMNS)
    assert str(table.schema.field("started_at").type) == "timestamp[us, tz=UTC]"
    got = table.to_pylist()
    assert [r["started_at"] for r in got] == [m.started_at for m in items]
    assert [r["ok"] for r in got] == [m.ok for m in items]
    assert [r["partial"] for r in got] == [m.partial for m in items]
    assert got[3]["started_at_local"] == local_iso(items[3].started_at)
    assert json.loads(got[3]["evidence"]) == dict(items[3].evidence)


def test_measurement_parquet_is_exact_across_chunks_zones_and_nulls(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 7 rows (ADBC types a column by a chunk's first values): the first chunk has no
    failure and only NaN (NULL) durations, later ones have both; local times cross 1924 (Almaty's
    mean time, +05:07:48), the 2024-03-01 change within one chunk, and 2025."""
    monkeypatch.setattr("netwatch.export.parquet.ROW_GROUP_ROWS", 7)
    base = fill(store, 40)
    with store.connect() as conn:
        conn.execute("DELETE FROM measurements")
    change = datetime(2024, 2, 29, 18, tzinfo=UTC)
    times = [
        datetime(1910, 3, 1, 12, 0, 1, 5, tzinfo=UTC), *(JAN_2022 + timedelta(minutes=n) for n in range(12)),
        *(change + timedelta(seconds=n - 5, microseconds=n) for n in range(10)),
        *(JUN_2025 + timedelta(hours=n) for n in range(17)),
    ]  # fmt: skip
    items = [
        replace(m, started_at=at, failure=None if n < 9 else m.failure)
        if n >= 9
        else replace(m, started_at=at, failure=None, duration_s=float("nan"))
        for n, (m, at) in enumerate(zip(base, times, strict=True))
    ]
    insert(store, items)
    got = parquet_rows(store, since=times[0])
    assert got == [parquet_row(m) for m in items]
    assert got[0]["started_at_local"] == "1910-03-01T17:07:49.000005+05:07:48"
    assert {r["duration_s"] for r in got[:9]} == {None} and any(r["failure"] for r in got[9:])
    out = measurements_out(store, ExportFormat.PARQUET, since=times[0])
    assert pq.ParquetFile(io.BytesIO(out)).metadata.num_row_groups == 6  # 40 rows, 7 a group
    assert parquet_rows(store, since=times[5], until=times[30], targets=["kz-target-1", "kz-target-3"]) == [
        parquet_row(m) for m in items[5:30] if m.target_id in ("kz-target-1", "kz-target-3")
    ]
    assert parquet_rows(store, targets=[]) == []


def test_measurement_parquet_reads_only_committed_rows_beside_a_writer(store: Store) -> None:
    """The export's read-only connection neither waits for nor sees an open write transaction."""
    items = fill(store, 20)
    with store.connect() as writer:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM measurements WHERE target_id = 'kz-target-1'")
        assert parquet_rows(store) == [parquet_row(m) for m in items]
        writer.execute("ROLLBACK")


def test_measurement_parquet_without_adbc_says_what_to_install(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(store, 3)
    monkeypatch.setitem(sys.modules, "adbc_driver_sqlite.dbapi", None)
    with pytest.raises(ExportError, match=r"install netwatch\[parquet\]"):
        measurements_out(store, ExportFormat.PARQUET)


def test_measurement_filters_since_inclusive_until_exclusive_and_targets(store: Store) -> None:
    items = fill(store, 100)
    since, until = items[10].started_at, items[20].started_at
    got = [
        json.loads(x)["id"]
        for x in measurements_out(store, ExportFormat.JSONL, since=since, until=until).splitlines()
    ]
    assert got == [m.id for m in items[10:20]]
    only = [m.id for m in items if m.target_id in ("kz-target-1", "kz-target-2")]
    text = measurements_out(store, ExportFormat.JSONL, targets=["kz-target-1", "kz-target-2"])
    assert [json.loads(x)["id"] for x in text.splitlines()] == only
    assert measurements_out(store, ExportFormat.JSONL, targets=[]) == b""


def test_export_memory_does_not_grow_with_rows(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Peak traced memory for 6x the rows stays within noise of the smaller export (chunked reads,
    streamed writes, bounded Parquet row groups)."""
    monkeypatch.setattr(rows, "CHUNK_ROWS", 1000)
    monkeypatch.setattr("netwatch.export.parquet.ROW_GROUP_ROWS", 5000)
    fill(store, 60_000)
    first_10k = (EVER[0], JAN_2022 + timedelta(seconds=10_000))
    for fmt in (ExportFormat.CSV, ExportFormat.JSONL, ExportFormat.PARQUET):
        peaks = []
        for since, until in (first_10k, EVER):
            tracemalloc.start()
            export_measurements(store, since, until, fmt, open("/dev/null", "wb"))  # noqa: SIM115
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        assert peaks[1] < peaks[0] * 1.5 + 1_000_000, (fmt, peaks)


_PEAK_RSS_KB = """
import resource, sys
from datetime import datetime
from pathlib import Path
from netwatch.export import ExportFormat, export_measurements, parquet
from netwatch.store import Store
parquet.ROW_GROUP_ROWS = 5000
since, until = (datetime.fromisoformat(a) for a in sys.argv[2:])
with open("/dev/null", "wb") as out:
    export_measurements(Store(Path(sys.argv[1])), since, until, ExportFormat.PARQUET, out)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_parquet_export_memory_does_not_grow_with_rows(store: Store) -> None:
    """Arrow and ADBC memory is invisible to tracemalloc, so the peak RSS of a process exporting 6x
    the rows is compared (chunks and row groups of 5,000: +5 MB measured; the whole export held
    at once: +47 MB)."""
    fill(store, 60_000)
    peaks = []
    for until in (JAN_2022 + timedelta(seconds=10_000), EVER[1]):
        args = [str(store.path), EVER[0].isoformat(), until.isoformat()]
        done = subprocess.run(
            [sys.executable, "-c", _PEAK_RSS_KB, *args], capture_output=True, text=True, check=True
        )
        peaks.append(int(done.stdout))
    assert peaks[1] < peaks[0] + 20_000, peaks


# -- outages -----------------------------------------------------------------------------------


def test_outage_csv_and_json_carry_utc_local_and_uncertainty(store: Store) -> None:
    stored = kazakhstan_2022(store)
    by_id = {o.id: o for o in stored}
    table = list(csv.DictReader(io.StringIO(outages_out(store, ExportFormat.CSV).decode())))
    assert [r["id"] for r in table] == [
        o.id for o in sorted(stored, key=lambda o: (o.started_at, o.id), reverse=True)
    ]
    row = next(r for r in table if r["id"] == "o-0003-country-KZ")
    assert row["started_at"] == "2022-01-05T10:30:00.000000Z"
    assert row["started_at_local"] == "2022-01-05T16:30:00.000000+06:00"
    assert row["start_uncertainty_s"] == "60.0" and row["end_uncertainty_s"] == "30.0"
    assert row["duration_s"] == "2700.0" and row["open"] == "False"
    assert row["evidence"].split() == list(by_id[row["id"]].evidence)
    for fmt in (ExportFormat.JSONL, ExportFormat.JSON):
        text = outages_out(store, fmt).decode()
        records = json.loads(text) if fmt is ExportFormat.JSON else [json.loads(x) for x in text.splitlines()]
        opened = next(r for r in records if r["id"] == "o-0005-asn-9198")
        assert opened["started_at_local"] == "2025-06-01T15:30:00.000000+05:00"
        assert opened["ended_at"] is None and opened["open"] is True
        assert opened["duration_s"] == (NOW - JUN_2025).total_seconds()


def test_outage_parquet_and_filters(store: Store) -> None:
    kazakhstan_2022(store)
    table = pq.read_table(io.BytesIO(outages_out(store, ExportFormat.PARQUET)))
    assert table.num_rows == 6 and table.column_names == list(rows.OUTAGE_COLUMNS)
    first = table.to_pylist()[-1]
    assert first["started_at"] == datetime(2022, 1, 2, 9, 0, tzinfo=UTC)
    where = OutageFilter(scope_type=ScopeType.COUNTRY, entity="KZ", layer=Layer.PARTIAL)
    assert [json.loads(x)["id"] for x in outages_out(store, ExportFormat.JSONL, where).splitlines()] == [
        "o-0004-country-KZ"
    ]
    window = OutageFilter(since=datetime(2022, 1, 4, 15, tzinfo=UTC), until=datetime(2022, 1, 5, tzinfo=UTC))
    got = {json.loads(x)["id"] for x in outages_out(store, ExportFormat.JSONL, window).splitlines()}
    assert got == {"o-0001-region-KZ-47", "o-0002-network_type-mobile"}


def test_codf_events_map_netwatch_fields(store: Store) -> None:
    kazakhstan_2022(store)
    events = {e["id"]: e for e in json.loads(outages_out(store, ExportFormat.CODF))}
    closed, opened = events["o-0003-country-KZ"], events["o-0005-asn-9198"]
    assert closed["location"] == "country/KZ" and closed["location_name"] == "KZ"
    assert closed["start"] == int(JAN_2022.timestamp()) and closed["duration"] == 2700
    assert closed["uncertainty"] == 60 and closed["end_uncertainty"] == 30
    assert closed["fraction"] == 0.98 and closed["score"] == pytest.approx(0.98 * 45 * 100)
    assert closed["method"] == "netwatch-active-probing" and closed["status"] == 0
    assert closed["overlaps_window"] is False and closed["layer"] == "blackout"
    assert opened["location"] == "asn/9198" and opened["overlaps_window"] is True
    assert opened["duration"] == int((NOW - JUN_2025).total_seconds())
    assert opened["start_local"] == "2025-06-01T15:30:00.000000+05:00"


# -- CLI ---------------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_exports_to_a_file(tmp_path: Path) -> None:
    store = new_store(tmp_path / "data")
    fill(store, 20)
    kazakhstan_2022(store)
    out = tmp_path / "m.parquet"
    code, _, err = run(
        "export",
        "measurements",
        "--data-dir",
        str(tmp_path / "data"),
        "--since",
        "2022-01-05",
        "--until",
        "2022-01-06T00:00:00+06:00",
        "--format",
        "parquet",
        "-o",
        str(out),
    )
    assert code == 0, err
    assert pq.read_table(out).num_rows == 20
    code, stdout, err = run(
        "export", "outages", "--data-dir", str(tmp_path / "data"), "--scope", "country", "--format", "jsonl"
    )
    assert code == 0, err
    assert {json.loads(x)["entity"] for x in stdout.splitlines()} == {"KZ"}


def test_cli_outages_table(tmp_path: Path) -> None:
    kazakhstan_2022(new_store(tmp_path))
    code, stdout, _ = run("outages", "--data-dir", str(tmp_path))
    assert code == 0
    for text in (
        "o-0003-count",
        "country",
        "blackout",
        "2022-01-05 10:30:00Z",
        "2022-01-05 16:30:00+06:00",
        "10:29:00..10:30:00 (1m)",
        "2025-06-01 15:30:00+05:00",
        "45m",
        "40/2",
    ):
        assert text in stdout, text
    code, stdout, _ = run("outages", "--data-dir", str(tmp_path), "--open")
    assert code == 0 and "o-0003" not in stdout and "o-0005" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "outages", "--since", "2022-01-05T10:00"], "ISO 8601 with a zone"),
        (["export", "outages", "--until", "soon"], "invalid time"),
        (["export", "outages", "--layer", "sabotage"], "sabotage"),
        (["export", "outages", "--scope", "planet"], "planet"),
        (["export", "measurements", "--format", "codf"], "codf describes outages"),
        (["export", "measurements", "--format", "xml"], "xml"),
        (["outages", "--limit", "0"], "limit"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    kazakhstan_2022(new_store(tmp_path))
    code, stdout, stderr = run(*args, "--data-dir", str(tmp_path))
    assert code == 2
    assert message in stdout + stderr


def test_cli_store_choice_errors_exit_2(tmp_path: Path) -> None:
    code, _, err = run("export", "outages")
    assert code == 2 and "exactly one of --config" in err
    code, _, err = run("export", "outages", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "no netwatch database" in err
    code, _, err = run("outages", "--config", str(tmp_path / "missing.yaml"))
    assert code == 2


def test_parquet_without_pyarrow_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kazakhstan_2022(new_store(tmp_path))
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    code, _, err = run(
        "export", "outages", "--data-dir", str(tmp_path), "-f", "parquet", "-o", str(tmp_path / "x")
    )
    assert code == 2 and "install netwatch[parquet]" in err
