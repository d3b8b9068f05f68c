"""The SQLite store on real database files: measurements, retention, outbox, migrations, and
storage failures (read-only, full disk) that must be reported without stopping probing."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_samples import EPOCH, sample

from netwatch.model import Layer, Measurement, Outage, ScopeType, TargetState, Transition
from netwatch.store import (
    SCHEMA_VERSION,
    MeasurementStore,
    Notification,
    OutageFilter,
    Store,
    StoreError,
    db_path,
)
from netwatch.store import database as store_database
from netwatch.store import measurements as measurement_rows
from netwatch.store.schema import connect

NOW = datetime(2022, 1, 10, 2, 15, tzinfo=UTC)
OPENED = Notification("outage_opened", {"id": "o1"}, dedupe_key="o1:opened")


def _write_all(path: Path, items: list[Measurement]) -> MeasurementStore:
    sink = MeasurementStore(path)
    for m in items:
        sink.write(m)
    sink.close()
    return sink


def test_measurements_round_trip_exactly(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    items = [sample(n) for n in range(250)]
    sink = _write_all(path, items)
    assert (sink.committed, sink.dropped, sink.write_errors) == (250, 0, 0)

    got = Store(path).get_measurements([m.id for m in items] + ["no-such-id"])
    assert set(got) == {m.id for m in items}
    for m in items:
        assert got[m.id].to_dict() == m.to_dict()
        assert got[m.id] == m


def test_rewriting_an_id_is_ignored(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    _write_all(path, [sample(1), sample(1), sample(2)])
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM measurements").fetchone()[0] == 2


def test_range_iteration_is_ordered_bounded_and_chunked(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    items = [sample(n) for n in range(100)]
    # Ties at one instant must come back in insertion order, across chunk boundaries too.
    items += [sample(1000 + k, at=EPOCH + timedelta(seconds=50)) for k in range(7)]
    shuffled = items[:]
    random.Random(5).shuffle(shuffled)
    _write_all(path, shuffled)

    since, until = EPOCH + timedelta(seconds=10), EPOCH + timedelta(seconds=60)
    expected = sorted(
        (m for m in items if since <= m.started_at < until),
        key=lambda m: (m.started_at, shuffled.index(m)),
    )
    with connect(path) as conn:
        for chunk in (1, 3, 1000):
            got = list(measurement_rows.iter_range(conn, since, until, chunk=chunk))
            assert [m.id for m in got] == [m.id for m in expected]
    assert [m.id for m in Store(path).measurements(since, until)] == [m.id for m in expected]
    only = list(Store(path).measurements(since, until, target_ids=["kz-target-3"]))
    assert only and all(m.target_id == "kz-target-3" for m in only)
    assert list(Store(path).measurements(since, until, target_ids=[])) == []


def test_retention_deletes_old_unreferenced_only(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    _write_all(path, [sample(n) for n in range(100)])
    store = Store(path)
    store.record(NOW, outages=[_outage("o1", 0, evidence=("m00000003", "m00000007", "m00000060"))])
    with store.connect() as conn:
        deleted = measurement_rows.delete_expired(conn, EPOCH + timedelta(seconds=50), chunk=7)
    assert deleted == 48
    left = [m.id for m in store.measurements(EPOCH, EPOCH + timedelta(days=1))]
    assert left == ["m00000003", "m00000007"] + [f"m{n:08d}" for n in range(50, 100)]

    # A revised outage cites other evidence: what it no longer cites becomes deletable.
    store.record(NOW, outages=[_outage("o1", 0, evidence=("m00000007",))])
    assert store.delete_expired_measurements(EPOCH + timedelta(seconds=50)) == 1
    assert store.get_measurements(["m00000003", "m00000007"]).keys() == {"m00000007"}


def _outage(
    outage_id: str,
    start_h: float,
    end_h: float | None = None,
    *,
    scope: ScopeType = ScopeType.REGION,
    entity: str = "KZ-75",
    layer: Layer = Layer.BLACKOUT,
    evidence: tuple[str, ...] = (),
) -> Outage:
    started = EPOCH + timedelta(hours=start_h)
    ended = None if end_h is None else EPOCH + timedelta(hours=end_h)
    return Outage(
        id=outage_id,
        incident_id="i-" + entity,
        scope_type=scope,
        entity=entity,
        layer=layer,
        started_at=started,
        start_earliest=started - timedelta(seconds=60),
        ended_at=ended,
        end_earliest=None if ended is None else ended - timedelta(seconds=60),
        severity=12.5,
        fraction=0.98,
        targets_affected=40,
        vantages_affected=2,
        evidence=evidence,
    )


def test_outages_upsert_filter_and_page(tmp_path: Path) -> None:
    store = Store(db_path(tmp_path))
    first = _outage("o1", 0)
    store.record(NOW, outages=[first])
    closed = _outage("o1", 0, 3)
    store.record(NOW, outages=[closed, _outage("o2", 5, 6, layer=Layer.DNS), _outage("o3", 10)])
    store.record(NOW, outages=[_outage("o4", 11, 12, scope=ScopeType.ASN, entity="29355")])

    assert store.outage("o1") == closed
    assert store.outage("nope") is None

    def ids(where: OutageFilter) -> list[str]:
        return [o.id for o in store.outages(where).outages]

    assert ids(OutageFilter()) == ["o4", "o3", "o2", "o1"]
    assert ids(OutageFilter(open_only=True)) == ["o3"]
    assert ids(OutageFilter(layer=Layer.DNS)) == ["o2"]
    assert ids(OutageFilter(scope_type=ScopeType.ASN, entity="29355")) == ["o4"]
    # overlap semantics: o1 ended at 3 h, o2 spans 5-6 h, o3 is still open
    window = OutageFilter(since=EPOCH + timedelta(hours=4), until=EPOCH + timedelta(hours=10, minutes=30))
    assert ids(window) == ["o3", "o2"]

    pages, cursor = [], None
    while True:
        page = store.outages(limit=3, cursor=cursor)
        pages.append([o.id for o in page.outages])
        if (cursor := page.next_cursor) is None:
            break
    assert pages == [["o4", "o3", "o2"], ["o1"]]
    with pytest.raises(ValueError, match="cursor"):
        store.outages(cursor="garbage")


def test_transitions_append_and_stream(tmp_path: Path) -> None:
    store = Store(db_path(tmp_path))
    made = [
        Transition(
            at=EPOCH + timedelta(minutes=k // 2),
            subject=f"almaty-1/t{k % 2}/http",
            from_state=None if k < 2 else TargetState.UP,
            to_state=TargetState.DOWN,
            reason="http_timeout",
            measurement_id=f"m{k:08d}",
            earliest=EPOCH,
        )
        for k in range(10)
    ]
    store.record(NOW, transitions=made[5:])
    store.record(NOW, transitions=made[:5])
    got = list(store.transitions(EPOCH, EPOCH + timedelta(minutes=4)))
    assert got == sorted(made[:8], key=lambda t: (t.at, made.index(t) < 5))
    assert [t.subject for t in store.transitions(EPOCH, NOW, subject="almaty-1/t1/http")] == [
        "almaty-1/t1/http"
    ] * 5


def test_record_is_atomic(tmp_path: Path) -> None:
    store = Store(db_path(tmp_path))
    bad = Notification("k", {"not json": object()})
    with pytest.raises(TypeError):
        store.record(NOW, outages=[_outage("o1", 0)], notifications=[bad])
    assert store.outage("o1") is None


def test_outbox_enqueue_is_idempotent_and_backs_off(tmp_path: Path) -> None:
    store = Store(db_path(tmp_path))
    assert store.enqueue_notification(OPENED, NOW)
    assert not store.enqueue_notification(OPENED, NOW)

    (item,) = store.claim_notifications("w1", NOW)
    assert (item.kind, item.payload, item.attempts) == ("outage_opened", {"id": "o1"}, 0)
    assert store.claim_notifications("w2", NOW) == []  # claimed once
    assert store.mark_failed(item, "smtp: connection refused", NOW)

    assert store.claim_notifications("w1", NOW + timedelta(seconds=29)) == []  # backing off
    (again,) = store.claim_notifications("w1", NOW + timedelta(seconds=30))
    assert again.attempts == 1
    assert store.mark_delivered(again, NOW + timedelta(seconds=31))
    assert not store.mark_delivered(again, NOW + timedelta(seconds=32))
    assert store.claim_notifications("w1", NOW + timedelta(days=1)) == []
    assert store.pending_notifications() == 0


def test_outbox_claim_lapses_after_lease(tmp_path: Path) -> None:
    store = Store(db_path(tmp_path))
    store.enqueue_notification(Notification("k", {}), NOW)
    (item,) = store.claim_notifications("dead-worker", NOW, lease_s=60)
    (taken,) = store.claim_notifications("w2", NOW + timedelta(seconds=61), lease_s=60)
    assert not store.mark_delivered(item, NOW + timedelta(seconds=62))  # its claim was lost
    assert store.mark_delivered(taken, NOW + timedelta(seconds=62))


class _Traced:
    """Counts the connections ``Store`` opens and the statements run on them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.connections = 0
        self.statements: list[str] = []
        real = store_database.connect

        def traced(path: Path) -> sqlite3.Connection:
            conn = real(path)
            conn.set_trace_callback(self.statements.append)
            self.connections += 1
            return conn

        monkeypatch.setattr(store_database, "connect", traced)

    def count(self, statement: str) -> int:
        return sum(1 for s in self.statements if s.strip().upper() == statement)


def test_outbox_marks_many_delivered_in_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(db_path(tmp_path))
    for n in range(300):
        store.enqueue_notification(Notification("k", {"n": n}), NOW)
    items = store.claim_notifications("w1", NOW, limit=300)
    assert len(items) == 300
    assert store.mark_delivered_many([], NOW) == []

    traced = _Traced(monkeypatch)
    assert store.mark_delivered_many(items, NOW + timedelta(seconds=5)) == []
    assert (traced.connections, traced.count("BEGIN IMMEDIATE"), traced.count("COMMIT")) == (1, 1, 1)
    assert store.pending_notifications() == 0
    with sqlite3.connect(db_path(tmp_path)) as conn:
        rows = conn.execute("SELECT delivered_at, claimed_at, claimed_by FROM outbox").fetchall()
    assert rows == [((NOW + timedelta(seconds=5)).timestamp(), None, "w1")] * 300
    assert store.mark_delivered_many(items, NOW + timedelta(seconds=6)) == items  # delivered once
    assert store.claim_notifications("w2", NOW + timedelta(days=1)) == []


def test_outbox_mark_many_is_all_or_nothing(tmp_path: Path) -> None:
    store = Store(db_path(tmp_path))
    for n in range(10):
        store.enqueue_notification(Notification("k", {"n": n}), NOW)
    items = store.claim_notifications("w1", NOW)
    broken = replace(items[5], id=object())  # cannot be bound: fails half-way through the batch
    with pytest.raises(sqlite3.Error):
        store.mark_delivered_many([*items[:5], broken, *items[6:]], NOW)
    assert store.pending_notifications() == 10  # the first five were rolled back with it
    assert store.mark_delivered_many(items, NOW) == []


def test_what_items_became_is_queued_with_their_marks_or_not_at_all(tmp_path: Path) -> None:
    """The notifier's route: a grouped message queued and its events marked delivered together,
    so a crash can neither drop the events nor leave them to be announced again."""
    store = Store(db_path(tmp_path))
    for n in range(4):
        store.enqueue_notification(Notification("outage.opened", {"n": n}), NOW)
    items = store.claim_notifications("w1", NOW)
    message = Notification("notify.message", {"events": [i.id for i in items]}, dedupe_key="message:1")
    broken = replace(items[2], id=object())
    with pytest.raises(sqlite3.Error):
        store.mark_delivered_many([*items[:2], broken, items[3]], NOW, queue=[message])
    with sqlite3.connect(db_path(tmp_path)) as conn:
        kinds = [k for (k,) in conn.execute("SELECT kind FROM outbox WHERE delivered_at IS NULL")]
    assert kinds == ["outage.opened"] * 4  # no message without its events marked, none marked

    assert store.mark_delivered_many(items, NOW, queue=[message]) == []
    with sqlite3.connect(db_path(tmp_path)) as conn:
        kinds = [k for (k,) in conn.execute("SELECT kind FROM outbox WHERE delivered_at IS NULL")]
    assert kinds == ["notify.message"]


def test_outbox_mark_many_returns_lapsed_claims_untouched(tmp_path: Path) -> None:
    store = Store(db_path(tmp_path))
    for n in range(3):
        store.enqueue_notification(Notification("k", {"n": n}), NOW)
    mine = store.claim_notifications("slow-worker", NOW, lease_s=60)
    (taken,) = store.claim_notifications("w2", NOW + timedelta(seconds=61), limit=1, lease_s=60)
    assert taken.id == mine[0].id

    assert store.mark_delivered_many(mine, NOW + timedelta(seconds=62)) == [mine[0]]
    with sqlite3.connect(db_path(tmp_path)) as conn:
        row = conn.execute(
            "SELECT claimed_by, delivered_at FROM outbox WHERE id = ?", (taken.id,)
        ).fetchone()
    assert row == ("w2", None)  # still w2's to deliver
    assert store.pending_notifications() == 1
    assert store.mark_delivered_many([taken], NOW + timedelta(seconds=63)) == []
    assert store.pending_notifications() == 0


def _claim_until_empty(path: Path, worker: str, out: list[int]) -> None:
    store = Store(path)
    while batch := store.claim_notifications(worker, NOW, limit=3):
        for item in batch:
            out.append(item.id)
            assert store.mark_delivered(item, NOW)


def test_outbox_rows_are_claimed_once_by_concurrent_workers(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    store = Store(path)
    for n in range(300):
        store.enqueue_notification(Notification("k", {"n": n}), NOW)
    claimed: list[list[int]] = [[] for _ in range(4)]
    threads = [
        threading.Thread(target=_claim_until_empty, args=(path, f"w{k}", claimed[k])) for k in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in claimed for i in ids]
    assert sorted(every) == list(range(1, 301))  # each row exactly once
    assert sum(1 for ids in claimed if ids) >= 2  # and the workers really competed


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    Store(path)
    with connect(path) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this netwatch"):
        Store(path)


_CLAIMER = """
import sys
from datetime import datetime
from pathlib import Path
from netwatch.store import Store
store, now = Store(Path(sys.argv[1])), datetime.fromisoformat(sys.argv[2])
while batch := store.claim_notifications(sys.argv[3], now, limit=2):
    for item in batch:
        assert store.mark_delivered(item, now)
        print(item.id, flush=True)
"""


def test_outbox_rows_are_claimed_once_by_concurrent_processes(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    store = Store(path)
    for n in range(400):
        store.enqueue_notification(Notification("k", {"n": n}), NOW)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, str(path), NOW.isoformat(), f"p{k}"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[1],  # the repo root, so netwatch imports without an install
        )
        for k in range(2)
    ]
    outputs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    every = sorted(int(i) for out in outputs for i in out)
    assert every == list(range(1, 401))
    assert store.pending_notifications() == 0
