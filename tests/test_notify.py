"""Native notifications through Apprise to a REAL HTTP receiver on 127.0.0.1 (``json://``).

The notifier runs over a real store; its clock is a test clock so retries and windows need no
sleeping. Events are queued exactly as live detection queues them (``detection.notification``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner
from webhook import WebhookReceiver

from netwatch.cli import app
from netwatch.detection import notification
from netwatch.model import Layer, Outage, OutageChange, OutageEvent, ScopeType
from netwatch.notify.metrics import NotifyMetrics
from netwatch.notify.render import MAX_BLOCKS, render_events
from netwatch.notify.send import IDEMPOTENCY_HEADER
from netwatch.notify.settings import Destination, Language, Maintenance, Notifications, RateLimit
from netwatch.notify.worker import SUPPRESSED_KIND, Notifier
from netwatch.store import Store, db_path
from netwatch.store import database as store_database

T0 = datetime(2022, 1, 5, 10, 30, tzinfo=UTC)  # Almaty was UTC+6 then


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver.running() as r:
        yield r


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(db_path(tmp_path))


def outage(scope: ScopeType = ScopeType.COUNTRY, entity: str = "KZ", layer: Layer = Layer.BLACKOUT,
           start: datetime = T0, end: datetime | None = None) -> Outage:
    return Outage(
        id=f"out-{scope.value}-{entity}-{layer.value}",
        incident_id="inc-kz-1",
        scope_type=scope,
        entity=entity,
        layer=layer,
        started_at=start,
        start_earliest=start - timedelta(seconds=60),
        ended_at=end,
        end_earliest=None if end is None else end - timedelta(seconds=30),
        fraction=0.98,
        targets_affected=40,
        vantages_affected=2,
    )


def queue(store: Store, now: datetime, *events: OutageEvent) -> None:
    store.record(now, outages=[e.outage for e in events], notifications=[notification(e) for e in events])


def opened(o: Outage, at: datetime = T0) -> OutageEvent:
    return OutageEvent(at, OutageChange.OPENED, o, "threshold crossed")


def settings(receiver: WebhookReceiver, language: Language = Language.EN, **kw: object) -> Notifications:
    dest = Destination(url=f"json://127.0.0.1:{receiver.port}/hook/{language.value}", language=language)
    return Notifications.model_validate({"destinations": [dest.model_dump()], "group_window": 30, **kw})


def notifier(
    store: Store, s: Notifications, clock: Clock, registry: CollectorRegistry | None = None
) -> Notifier:
    metrics = NotifyMetrics(registry or CollectorRegistry(), store.pending_notifications)
    return Notifier(s, store, wall=clock, metrics=metrics)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    assert value is not None, f"no sample {name}{labels}"
    return value


def test_delivers_after_the_group_window(store: Store, receiver: WebhookReceiver) -> None:
    clock, registry = Clock(T0), CollectorRegistry()
    n = notifier(store, settings(receiver), clock, registry)
    queue(store, clock.now, opened(outage()))
    assert n.run_once() == 0  # held for the group window
    clock.advance(29)
    assert n.run_once() == 0 and receiver.received() == []
    clock.advance(2)
    assert n.run_once() == 1
    (got,) = receiver.received()
    assert got.path == "/hook/en"
    assert got.body["title"] == "netwatch · Outage began: country KZ (national) — full blackout"
    assert got.body["type"] == "failure"
    message = got.body["message"]
    assert "Start: 2022-01-05 10:30:00Z · Asia/Almaty 2022-01-05 16:30:00+06:00" in message
    assert "uncertainty 1m, not earlier than 2022-01-05 10:29:00Z" in message
    assert "End: ongoing" in message and "Duration: 0s so far" in message
    assert "Targets affected: 40 · vantages: 2 · share lost: 98%" in message
    key = got.headers[IDEMPOTENCY_HEADER]
    assert key.startswith("nw-") and message.endswith(f"ref: {key}")
    assert sample(registry, "netwatch_notifications_sent_total", destination="dest0") == 1
    assert sample(registry, "netwatch_notification_outbox_backlog") == 0
    clock.advance(3600)
    assert n.run_once() == 0 and len(receiver.received()) == 1


def test_wake_sends_at_once_instead_of_at_the_next_poll(store: Store, receiver: WebhookReceiver) -> None:
    n = Notifier(settings(receiver, group_window=0), store, wall=lambda: datetime.now(UTC), poll_s=3600)
    n.start()
    try:
        queue(store, datetime.now(UTC), opened(outage()))
        n.wake()  # as live detection does after committing the event
        receiver.wait_for(lambda got: len(got) == 1, 10, "the woken notifier's message")
    finally:
        n.stop()


def test_a_national_blackout_is_one_message(store: Store, receiver: WebhookReceiver) -> None:
    clock = Clock(T0)
    n = notifier(store, settings(receiver), clock)
    events = [opened(outage())] + [
        opened(outage(ScopeType.TARGET, f"site-{i}.kz", Layer.TCP_IP), T0 + timedelta(seconds=i % 20))
        for i in range(300)
    ]
    for i in range(0, len(events), 50):  # several detector batches, as in a live run
        queue(store, clock.now, *events[i : i + 50])
        clock.advance(2)
        n.run_once()
    clock.advance(30)
    n.run_once()
    (got,) = receiver.received()
    assert got.body["title"] == "netwatch: 301 outages changed (301 began)"
    blocks = got.body["message"].split("\n\n")
    assert blocks[0].startswith("■ Outage began: country KZ (national)")  # the national one first
    assert f"… and {301 - MAX_BLOCKS} more outages" in got.body["message"]
    assert store.pending_notifications() == 0


def count_transactions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, one entry per transaction the store commits."""
    commits: list[str] = []
    real = store_database.connect

    def traced(path: Path) -> sqlite3.Connection:
        conn = real(path)
        conn.set_trace_callback(lambda sql: commits.append(sql) if sql.strip() == "COMMIT" else None)
        return conn

    monkeypatch.setattr(store_database, "connect", traced)
    return commits


def test_a_grouped_message_is_queued_with_its_events_marked_in_one_transaction(
    store: Store, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(T0)
    n = notifier(store, settings(receiver), clock)
    events = [opened(outage(ScopeType.TARGET, f"site-{i}.kz", Layer.TCP_IP)) for i in range(300)]
    queue(store, clock.now, *events)
    assert n.run_once() == 0  # claimed (three claim batches) and held
    clock.advance(31)
    commits = count_transactions(monkeypatch)
    assert n.run_once() == 1
    # claim (nothing new), queue the message with the 300 events marked, claim it, mark it
    # sent: four transactions, however many events (one per event before the batch).
    assert len(commits) == 4
    assert len(receiver.received()) == 1 and store.pending_notifications() == 0


def test_suppressed_events_are_settled_together(
    store: Store, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, registry = Clock(T0), CollectorRegistry()
    window = Maintenance(start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1), reason="planned")
    s = settings(receiver, group_window=0, maintenance=[window.model_dump()])
    n = notifier(store, s, clock, registry)
    events = [opened(outage(ScopeType.TARGET, f"site-{i}.kz", Layer.TCP_IP)) for i in range(120)]
    queue(store, clock.now, *events)
    commits = count_transactions(monkeypatch)
    assert n.run_once() == 0
    # claim the 120 events (two batches), queue their 120 records with the events marked
    assert len(commits) == 3
    assert sample(registry, "netwatch_notifications_suppressed_total", reason="maintenance") == 120
    assert store.pending_notifications() == 120  # the records, marked on the next cycle
    commits.clear()
    clock.advance(1)
    assert n.run_once() == 0
    assert len(commits) == 3  # claim the records (two batches), mark them all
    assert store.pending_notifications() == 0 and receiver.received() == []


def test_events_taken_over_by_another_notifier_are_left_to_it(
    store: Store, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(T0)
    n = notifier(store, settings(receiver), clock)
    queue(store, clock.now, opened(outage()), opened(outage(ScopeType.REGION, "KZ-75")))
    assert n.run_once() == 0  # both held
    clock.advance(n.lease_s + 1)  # the claims lapse: another notifier takes the first event
    (taken,) = store.claim_notifications("other", clock.now, limit=1, lease_s=n.lease_s)
    with caplog.at_level(logging.WARNING, logger="netwatch.notify.worker"):
        assert n.run_once() == 1  # both still routed: the message was rendered before
    assert f"outbox row {taken.id} was claimed by another notifier meanwhile" in caplog.text
    assert store.pending_notifications() == 1  # the taken row stays the other notifier's
    assert store.mark_delivered(taken, clock.now)


def test_a_receiver_that_is_down_gets_the_message_once_when_back(
    store: Store, receiver: WebhookReceiver
) -> None:
    clock, registry = Clock(T0), CollectorRegistry()
    n = notifier(store, settings(receiver, group_window=0), clock, registry)
    receiver.stop()
    queue(store, clock.now, opened(outage()))
    assert n.run_once() == 0
    assert sample(registry, "netwatch_notifications_failed_total", destination="dest0") == 1
    assert sample(registry, "netwatch_notification_outbox_backlog") == 1
    receiver.start()  # back, on the same port
    clock.advance(10)
    assert n.run_once() == 0  # backing off: the first retry is due 30 s after the failure
    clock.advance(21)
    assert n.run_once() == 1
    for _ in range(3):
        clock.advance(3600)
        n.run_once()
    assert len(receiver.received()) == 1
    assert sample(registry, "netwatch_notifications_sent_total", destination="dest0") == 1


def test_restart_sends_nothing_twice(store: Store, receiver: WebhookReceiver) -> None:
    clock = Clock(T0)
    s = settings(receiver, group_window=0)
    queue(store, clock.now, opened(outage()))
    assert notifier(store, s, clock).run_once() == 1
    clock.advance(1)
    assert notifier(store, s, clock).run_once() == 0  # a new instance over the same store
    # A notifier that dies while holding events: its claim lapses, the next one sends them once.
    held = settings(receiver, group_window=30)
    dead = notifier(store, held, clock)
    queue(store, clock.now, opened(outage(ScopeType.REGION, "KZ-75")))
    assert dead.run_once() == 0
    clock.advance(31)
    successor = notifier(store, held, clock)
    assert successor.run_once() == 0  # the dead one's claim still holds
    clock.advance(dead.lease_s)
    assert successor.run_once() == 1  # its window passed long ago: routed and sent at once
    titles = [r.body["title"] for r in receiver.received()]
    assert titles == [
        "netwatch · Outage began: country KZ (national) — full blackout",
        "netwatch · Outage began: region KZ-75 — full blackout",
    ]


def test_stop_queues_held_events_for_the_next_notifier(store: Store, receiver: WebhookReceiver) -> None:
    clock = Clock(T0)
    s = settings(receiver, group_window=300)
    first = notifier(store, s, clock)
    queue(store, clock.now, opened(outage()))
    first.run_once()
    first.stop()
    assert receiver.received() == []
    assert notifier(store, s, clock).run_once() == 1  # no need to wait for the window or the lease


def test_maintenance_window_suppresses_and_records_why(store: Store, receiver: WebhookReceiver) -> None:
    clock, registry = Clock(T0), CollectorRegistry()
    window = Maintenance(
        start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1), scopes=("region:KZ-75",),
        reason="Almaty uplink work, ticket 42",
    )
    s = settings(receiver, group_window=0, maintenance=[window.model_dump()])
    n = notifier(store, s, clock, registry)
    almaty, astana = outage(ScopeType.REGION, "KZ-75"), outage(ScopeType.REGION, "KZ-71")
    queue(store, clock.now, opened(almaty), opened(astana))
    n.run_once()
    clock.advance(1)
    n.run_once()
    (got,) = receiver.received()
    assert "region KZ-71" in got.body["title"]
    assert sample(registry, "netwatch_notifications_suppressed_total", reason="maintenance") == 1
    with store.connect() as conn:
        rows = conn.execute("SELECT payload FROM outbox WHERE kind = ?", (SUPPRESSED_KIND,)).fetchall()
    (record,) = [json.loads(r[0]) for r in rows]
    assert record["outage_id"] == "out-region-KZ-75-blackout"
    assert record["why"] == "Almaty uplink work, ticket 42" and record["reason"] == "maintenance"
    assert store.pending_notifications() == 0


def test_rate_limit_holds_events_and_sends_them_together(store: Store, receiver: WebhookReceiver) -> None:
    clock = Clock(T0)
    s = settings(receiver, group_window=0, rate_limit=RateLimit(messages=1, period=600).model_dump())
    n = notifier(store, s, clock)
    queue(store, clock.now, opened(outage()))
    assert n.run_once() == 1
    for i in range(5):
        clock.advance(60)
        queue(store, clock.now, opened(outage(ScopeType.REGION, f"KZ-{10 + i}")))
        assert n.run_once() == 0
    clock.advance(300)
    assert n.run_once() == 1
    assert receiver.received()[-1].body["title"] == "netwatch: 5 outages changed (5 began)"


def test_russian_and_kazakh_messages_with_both_zones(store: Store, receiver: WebhookReceiver) -> None:
    clock = Clock(T0)
    n = notifier(store, settings(receiver, Language.RU, group_window=0), clock)
    queue(store, clock.now, opened(outage()))
    n.run_once()
    (got,) = receiver.received()
    assert got.path == "/hook/ru"
    assert got.body["title"] == "netwatch · Начало сбоя: страна KZ (общенациональный) — полное отключение"
    message = got.body["message"]
    assert "Начало: 2022-01-05 10:30:00Z · Asia/Almaty 2022-01-05 16:30:00+06:00" in message
    assert "погрешность 1m, не раньше 2022-01-05 10:29:00Z" in message
    assert "Конец: продолжается" in message and "Причина: превышен порог" in message
    kk = render_events([opened(outage())], Language.KK, "nw-x")
    assert kk.title == "netwatch · Үзіліс басталды: ел KZ (жалпыұлттық) — толық өшіру"


def test_closed_outage_shows_end_duration_and_uncertainty() -> None:
    start = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)  # after Kazakhstan moved to UTC+5
    record = outage(start=start, end=start + timedelta(minutes=45))
    event = OutageEvent(start + timedelta(minutes=46), OutageChange.CLOSED, record, "recovered")
    en = render_events([event], Language.EN, "nw-1")
    assert en.title == "netwatch · Outage ended: country KZ (national) — full blackout"
    assert "Start: 2025-03-01 06:00:00Z · Asia/Almaty 2025-03-01 11:00:00+05:00" in en.body
    assert "End: 2025-03-01 06:45:00Z · Asia/Almaty 2025-03-01 11:45:00+05:00 (uncertainty 30s" in en.body
    assert "Duration: 45m (between 44m and 46m)" in en.body
    assert en.severity.value == "success"
    ru = render_events([event], Language.RU, "nw-1")
    assert "Длительность: 45m (от 44m до 46m)" in ru.body and "Причина: связь восстановилась" in ru.body


def test_vantage_offline_message_says_it_is_about_the_monitor() -> None:
    record = outage(ScopeType.VANTAGE, "ala-1", Layer.VANTAGE_OFFLINE)
    message = render_events([opened(record)], Language.EN, "nw-2")
    assert message.title == "netwatch · Vantage offline: vantage ala-1"
    assert "not the watched country" in message.body
    assert message.severity.value == "info"


def test_notify_test_command_reaches_every_destination(tmp_path: Path, receiver: WebhookReceiver) -> None:
    config = tmp_path / "netwatch.yaml"
    config.write_text(
        "vantage: {id: v, position: inside}\n"
        "notifications:\n"
        "  destinations:\n"
        f"    - {{url: 'json://127.0.0.1:{receiver.port}/a', name: team}}\n"
        f"    - {{url: 'json://127.0.0.1:{receiver.port}/b', language: ru}}\n"
    )
    result = CliRunner().invoke(app, ["notify", "test", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["team (en): sent", "dest1 (ru): sent"]
    bodies = {r.path: r.body for r in receiver.received()}
    assert bodies["/a"]["title"] == "netwatch: test message"
    assert bodies["/b"]["title"] == "netwatch: тестовое сообщение"
    receiver.stop()
    result = CliRunner().invoke(app, ["notify", "test", "--config", str(config)])
    assert result.exit_code == 1 and "team (en): FAILED" in result.output


def test_a_start_and_an_update_in_one_window_announce_the_start() -> None:
    record = outage()
    update = OutageEvent(T0 + timedelta(seconds=1), OutageChange.UPDATED, record, "layer revised, widened")
    message = render_events([update, opened(record)], Language.RU, "nw-3")
    assert message.title.startswith("netwatch · Начало сбоя: страна KZ")
    assert "Причина: превышен порог; характер сбоя уточнён; сбой расширился" in message.body
