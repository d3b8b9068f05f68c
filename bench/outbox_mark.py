"""Notifier outbox benchmark: marking a national blackout's events delivered, one call per row
(``Store.mark_delivered``) vs one transaction (``Store.mark_delivered_many``), and the notifier's
whole routing cycle for it. Prints a table; writes only to fresh temporary directories, sends
nothing (the notifier's sender is a stub, and its one destination is a loopback URL).

    python bench/outbox_mark.py [--events 300] [--runs 7]

Each run: a fresh store, ``--events`` outage notifications queued in one ``Store.record`` (as the
detector queues them), claimed in batches of 100 (as the notifier claims them), then timed:

- **marking**, either per row or in one batch, both with no other connection open (every call's
  connection is the database's last, so closing it checkpoints the WAL) and beside a connection
  held open throughout, as the running agent's measurement writer holds one;
- **route cycle**: a ``Notifier`` holding the claimed events runs the cycle that groups them into
  one message, queues it, marks the events delivered and "sends" the message (stub sender).

On a tree without ``mark_delivered_many`` the batch rows are skipped, so the same script gives the
"before" figures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from netwatch.detection import notification
from netwatch.model import Layer, Outage, OutageChange, OutageEvent, ScopeType
from netwatch.notify.settings import Notifications
from netwatch.notify.worker import CLAIM_BATCH, Notifier
from netwatch.store import OutboxItem, Store, db_path
from netwatch.store.schema import connect

T0 = datetime(2022, 1, 5, 10, 30, tzinfo=UTC)


def outage(n: int) -> Outage:
    national = n == 0
    return Outage(
        id="out-country-KZ" if national else f"out-target-site-{n}.kz",
        incident_id="inc-kz-1",
        scope_type=ScopeType.COUNTRY if national else ScopeType.TARGET,
        entity="KZ" if national else f"site-{n}.kz",
        layer=Layer.BLACKOUT if national else Layer.TCP_IP,
        started_at=T0,
        start_earliest=T0 - timedelta(seconds=60),
        ended_at=None,
        end_earliest=None,
        fraction=0.98,
        targets_affected=40,
        vantages_affected=2,
    )


def queued_store(directory: Path, events: int) -> Store:
    store = Store(db_path(directory))
    made = [OutageEvent(T0, OutageChange.OPENED, outage(n), "threshold crossed") for n in range(events)]
    store.record(T0, outages=[e.outage for e in made], notifications=[notification(e) for e in made])
    return store


def claim_all(store: Store, worker: str) -> list[OutboxItem]:
    items: list[OutboxItem] = []
    while batch := store.claim_notifications(worker, T0, limit=CLAIM_BATCH):
        items.extend(batch)
    return items


def one_by_one(store: Store, items: list[OutboxItem]) -> int:
    return sum(1 for item in items if not store.mark_delivered(item, T0))


def batched(store: Store, items: list[OutboxItem]) -> int:
    return len(store.mark_delivered_many(items, T0))


def time_marking(events: int, mark: Callable[[Store, list[OutboxItem]], int], resident: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="nw-outbox-") as tmp:
        store = queued_store(Path(tmp), events)
        items = claim_all(store, "bench")
        assert len(items) == events
        held = connect(store.path) if resident else None
        try:
            started = time.perf_counter()
            lost = mark(store, items)
            elapsed = time.perf_counter() - started
        finally:
            if held is not None:
                held.close()
        assert lost == 0 and store.pending_notifications() == 0
        return elapsed


def time_route_cycle(events: int) -> float:
    sent: list[str] = []

    def stub(_dest: object, _message: object, key: str) -> None:
        sent.append(key)

    with tempfile.TemporaryDirectory(prefix="nw-outbox-") as tmp:
        store = queued_store(Path(tmp), events)
        held = connect(store.path)  # the agent's measurement writer keeps one open
        try:
            clock = [T0]
            settings = Notifications.model_validate(
                {"destinations": [{"url": "json://127.0.0.1:9/hook"}], "group_window": 30}
            )
            notifier = Notifier(settings, store, wall=lambda: clock[0], send=stub)
            assert notifier.run_once() == 0  # claims and holds every event
            clock[0] = T0 + timedelta(seconds=31)
            started = time.perf_counter()
            delivered = notifier.run_once()  # routes them into one message and "sends" it
            elapsed = time.perf_counter() - started
        finally:
            held.close()
        assert delivered == 1 and len(sent) == 1 and store.pending_notifications() == 0
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    cases: list[tuple[str, Callable[[], float]]] = []
    modes: list[tuple[str, Callable[[Store, list[OutboxItem]], int]]] = [("one by one", one_by_one)]
    if hasattr(Store, "mark_delivered_many"):
        modes.append(("one batch", batched))
    for resident, where in ((False, "no other connection"), (True, "beside an open connection")):
        for name, mark in modes:
            label = f"mark {args.events} delivered, {name}, {where}"
            cases.append((label, partial(time_marking, args.events, mark, resident)))
    label = f"notifier route cycle, {args.events} events -> 1 message"
    cases.append((label, partial(time_route_cycle, args.events)))

    print(f"{args.events} events, {args.runs} runs each (median, min, max in ms)\n")
    print(f"| {'case':<64} | median ms | min ms | max ms |")
    print(f"|{'-' * 66}|----------:|-------:|-------:|")
    for label, run in cases:
        times = [run() * 1000 for _ in range(args.runs)]
        print(
            f"| {label:<64} | {statistics.median(times):9.1f} | {min(times):6.1f} | {max(times):6.1f} |"
        )


if __name__ == "__main__":
    main()
