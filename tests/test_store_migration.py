"""Schema upgrades on real files: v3 stores (measurements as one JSON body) reach v4 (one column
per field) with every measurement exactly as it was, in chunks that resume after a crash and
pick up rows an older netwatch writes meanwhile."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from store_samples import EPOCH, sample

from netwatch.model import Labels, Measurement, NetworkType, Role
from netwatch.store import SCHEMA_VERSION, Notification, Store, db_path, migration_v4
from netwatch.store import measurements as measurement_rows
from netwatch.store.schema import connect, migrate, schema_version

UNTIL = EPOCH + timedelta(days=1)


def _v3_insert(conn: sqlite3.Connection, items: list[Measurement], bodies: list[str] | None = None) -> None:
    """Rows exactly as netwatch <= v3 wrote them: indexed columns plus the ``to_dict`` JSON body."""
    rows = [
        (
            m.id, m.target_id, m.kind, m.vantage_id, m.started_at.timestamp(),
            m.failure.value if m.failure else None,
            body if bodies else json.dumps(m.to_dict(), separators=(",", ":"), ensure_ascii=False),
        )
        for m, body in zip(items, bodies or [""] * len(items), strict=True)
    ]  # fmt: skip
    conn.executemany(
        "INSERT INTO measurements (id, target_id, kind, vantage_id, started_at, failure, body)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _awkward() -> list[Measurement]:
    """Samples with what a JSON round trip could get wrong: long floats, non-ASCII and escapes,
    empty and nested objects, a control target, equal times (insertion order must hold)."""
    items = [sample(n) for n in range(40)]
    items[1] = replace(items[1], duration_s=0.1 + 0.2, phases={"connect": 1e-7, "tls": 123456.789012345678})
    items[2] = replace(
        items[2],
        id='q"uo,te\n',
        evidence={"title": "Қазақстан \"news\"\t\u2028", "nested": {"a": [1, 2.5, None, True]}},
        labels=Labels(country="KZ", operator='Tele2, "Altel"', role=Role.CONTROL,
                      network_type=NetworkType.MOBILE),
    )  # fmt: skip
    items[3] = replace(items[3], phases={}, evidence={}, labels=Labels())
    items[4] = replace(items[4], labels=Labels(country="KZ", operator="back\\slash"))
    items[5] = replace(items[5], vantage_id="bell\x07")
    items += [sample(100 + k, at=EPOCH + timedelta(seconds=5)) for k in range(5)]
    return items


def _columns(path: Path) -> list[str]:
    with connect(path) as conn:
        return [row[1] for row in conn.execute("PRAGMA table_info(measurements)")]


def test_v3_measurements_survive_the_upgrade_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migration_v4, "BACKFILL_ROWS", 7)  # several chunks
    path = db_path(tmp_path)
    items = _awkward()
    with connect(path) as conn:
        assert migrate(conn, target=3) == 3
        _v3_insert(conn, items)
    store = Store(path)
    with store.connect() as conn:
        assert schema_version(conn) == SCHEMA_VERSION == 4
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(measurements)")}
        assert {"measurements_started_at", "measurements_target_time"} <= indexes
        assert (
            conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'measurements_v4'").fetchone()[0]
            == 0
        )
    assert "body" not in _columns(path) and "started_at_text" in _columns(path)
    got = store.get_measurements(m.id for m in items)
    for m in items:
        assert got[m.id] == m and got[m.id].to_dict() == m.to_dict()
    expected = sorted(items, key=lambda m: (m.started_at, items.index(m)))
    assert [m.id for m in store.measurements(EPOCH, UNTIL)] == [m.id for m in expected]
    # The backfill's plain flag (SQL) agrees with the writer's (Python).
    fresh = Store(db_path(tmp_path / "fresh"))
    with fresh.connect() as conn:
        measurement_rows.insert(conn, items)
    flags = []
    for s in (store, fresh):
        with s.connect() as conn:
            flags.append(conn.execute("SELECT id, plain FROM measurements ORDER BY id").fetchall())
    assert flags[0] == flags[1]
    assert {plain for _, plain in flags[0]} == {0, 1}


def test_bodies_from_older_code_take_from_dict_defaults(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    old = sample(1)
    body = {k: v for k, v in old.to_dict().items() if k not in ("partial", "phases", "evidence", "labels")}
    with connect(path) as conn:
        migrate(conn, target=1)
        _v3_insert(conn, [old], [json.dumps(body)])
    store = Store(path)
    assert store.get_measurements([old.id])[old.id] == Measurement.from_dict(body)
    assert store.enqueue_notification(Notification("k", {}), EPOCH)  # v3's table exists


def test_interrupted_upgrade_resumes_and_copies_rows_written_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migration_v4, "BACKFILL_ROWS", 5)
    path = db_path(tmp_path)
    first, later = [sample(n) for n in range(12)], [sample(n) for n in range(12, 20)]
    with connect(path) as conn:
        migrate(conn, target=3)
        _v3_insert(conn, first)
        # A crash after the first backfill chunk committed: v3 data plus a partial v4 copy.
        conn.execute(migration_v4.CREATE)
        conn.execute(migration_v4.copy_sql(5))
        assert schema_version(conn) == 3
        _v3_insert(conn, later)  # an older netwatch still writing
    store = Store(path)
    assert [m.id for m in store.measurements(EPOCH, UNTIL)] == [m.id for m in first + later]
    assert store.get_measurements(m.id for m in first + later) == {m.id: m for m in first + later}
