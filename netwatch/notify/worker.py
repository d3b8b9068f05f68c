"""The notifier: turns outbox events into grouped, rate-limited messages and delivers them.

Two stages, both through the store's outbox (``netwatch.store.outbox``), so both survive restarts:

1. **Route.** Events queued by live detection (kinds ``outage.*`` and ``vantage_offline.*``) are
   claimed and held for ``group_window`` after the oldest one; then every held event goes into ONE
   message per destination, queued as a ``notify.message`` row (rendered in the destination's
   language, with an idempotency key derived from the event ids) in the same transaction that
   marks the events delivered (``Store.mark_delivered_many``), however many there are. A
   national blackout that opens hundreds of records is one message. While the rate limit is spent,
   events keep gathering and go out together when it allows. Events in a maintenance window are not
   routed: a ``notify.suppressed`` row records which window and why (all of a cycle's records,
   and their events marked delivered, in one transaction).
2. **Deliver.** ``notify.message`` rows are claimed and sent (``send_apprise``); a failure releases
   the row for a retry after exponential backoff (``Store.mark_failed``), so a receiver that is down
   gets the message when it is back. A row is claimed by one notifier at a time and marked delivered
   once, so a restart sends nothing twice; a crash between sending and marking can repeat one
   message, which carries its idempotency key for the receiver to drop.

Held events keep their claim for ``lease_s``; a notifier that dies holding them lets the next one
(a restart) pick them up once the lease lapses. ``stop`` routes what it holds (rate limit allowing).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import sqlite3
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from netwatch.model import OutageEvent
from netwatch.notify.metrics import NotifyMetrics, SuppressReason
from netwatch.notify.render import Message, Severity, render_events
from netwatch.notify.send import Sender, send_apprise
from netwatch.notify.settings import Maintenance, Notifications
from netwatch.store import Notification, OutboxItem, Store, StoreError

log = logging.getLogger(__name__)

EVENT_PREFIXES = ("outage.", "vantage_offline.")
MESSAGE_KIND = "notify.message"
SUPPRESSED_KIND = "notify.suppressed"
CLAIM_BATCH = 100


@dataclass(frozen=True, slots=True)
class _Held:
    item: OutboxItem
    event: OutageEvent


@dataclass(slots=True)
class _Settled:
    """Rows one cycle settles without sending (suppressed events, suppression records, messages for
    removed destinations), written together when the cycle's rows are handled: ``records`` queued
    in one transaction, then ``items`` marked delivered in one more."""

    records: list[Notification] = field(default_factory=list)
    items: list[OutboxItem] = field(default_factory=list)
    suppressed: Counter[SuppressReason] = field(default_factory=Counter)


class Notifier:
    """The agent's notifier over ``store``. ``wall`` returns aware UTC now; ``send`` delivers one
    message (tests may pass their own); ``poll_s`` is how often the thread looks at the outbox
    unless ``wake`` tells it sooner that rows were queued (outage events: the alert latency).

    Thread-safe: ``run_once`` (the thread's cycle, callable directly in tests), ``apply`` and
    ``stop`` may be called from any thread.
    """

    def __init__(
        self,
        settings: Notifications,
        store: Store,
        *,
        wall: Callable[[], datetime],
        metrics: NotifyMetrics | None = None,
        send: Sender = send_apprise,
        poll_s: float = 1.0,
    ) -> None:
        self._settings = settings
        self._store = store
        self._wall = wall
        self._metrics = metrics
        self._send = send
        self._poll_s = poll_s
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lock = threading.Lock()
        self._held: dict[int, _Held] = {}
        self._routed_at: deque[datetime] = deque()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        if metrics is not None:
            metrics.destinations(d.name for d in settings.destinations)

    @property
    def lease_s(self) -> float:
        """How long a claim lasts: held events must outlive the group window."""
        return max(60.0, 2 * self._settings.group_window + 60.0)

    def apply(self, settings: Notifications) -> None:
        """A reloaded config: destinations, windows and limits take effect at the next cycle."""
        with self._lock:
            self._settings = settings
        if self._metrics is not None:
            self._metrics.destinations(d.name for d in settings.destinations)

    def start(self) -> None:
        self._stop.clear()
        self._wake.clear()
        self._thread = threading.Thread(target=self._run, name="netwatch-notifier", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Rows were queued: run a cycle now rather than at the next poll (any thread)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the current cycle, then queue a message for held events if the rate limit allows
        (the next notifier sends it). Sends nothing itself."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            now = self._wall()
            if self._held and self._settings.destinations and self._allowed(now):
                self._route(now)

    def run_once(self) -> int:
        """One cycle: claim due rows, hold or suppress events, route held events whose window has
        passed, deliver messages. Returns the number of messages delivered."""
        with self._lock:
            if not self._settings.destinations:  # leave the outbox alone: nothing to send to
                return 0
            now = self._wall()
            delivered = self._handle(self._claim(now), now)
            if self._ready(now):
                self._route(now)
                delivered += self._handle(self._claim(now), now)  # send the new messages at once
            return delivered

    # -- stages -------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self._poll_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.run_once()
            except (StoreError, sqlite3.Error, OSError) as exc:
                log.error("notifier cannot use the store (%s); retrying", exc)
            except Exception:  # a bug must not stop notifications for good
                log.exception("notifier cycle failed")

    def _claim(self, now: datetime) -> list[OutboxItem]:
        items: list[OutboxItem] = []
        while True:
            batch = self._store.claim_notifications(
                self.worker, now, limit=CLAIM_BATCH, lease_s=self.lease_s
            )
            items.extend(batch)
            if len(batch) < CLAIM_BATCH:
                return items

    def _handle(self, items: list[OutboxItem], now: datetime) -> int:
        delivered = 0
        settled = _Settled()
        try:
            for item in items:
                if item.kind.startswith(EVENT_PREFIXES):
                    self._take_event(item, now, settled)
                elif item.kind == MESSAGE_KIND:
                    delivered += self._deliver(item, now, settled)
                elif item.kind == SUPPRESSED_KIND:  # a record, not a message: nothing to send
                    settled.items.append(item)
                else:
                    self._store.mark_failed(item, f"unknown notification kind {item.kind!r}", now)
        finally:  # what was settled before an error is written all the same
            self._settle(settled, now)
        return delivered

    def _settle(self, settled: _Settled, now: datetime) -> None:
        """Queue ``settled.records`` and mark ``settled.items`` delivered, in one transaction
        however many rows: no event is marked delivered without its record, and none stays
        undelivered once its record is queued (a restart would announce it again)."""
        for item in self._store.mark_delivered_many(settled.items, now, queue=settled.records):
            log.warning("outbox row %d was claimed by another notifier meanwhile", item.id)
        if self._metrics is not None:
            for reason, count in settled.suppressed.items():
                self._metrics.suppressed.labels(reason.value).inc(count)

    def _take_event(self, item: OutboxItem, now: datetime, settled: _Settled) -> None:
        try:
            event = OutageEvent.from_dict(item.payload)
        except (KeyError, TypeError, ValueError) as exc:
            log.error("outbox row %d (%s) is malformed: %s", item.id, item.kind, exc)
            self._store.mark_failed(item, f"malformed payload: {exc}", now)
            return
        window = self._settings.suppression(event.at, event.outage)
        if window is None:
            self._held[item.id] = _Held(item, event)
        else:
            self._suppress(item, event, window, settled)

    def _suppress(self, item: OutboxItem, event: OutageEvent, window: Maintenance, settled: _Settled) -> None:
        record = {
            "event_id": item.id,
            "event_kind": item.kind,
            "outage_id": event.outage.id,
            "reason": SuppressReason.MAINTENANCE.value,
            "why": window.reason,
            "window": {
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "scopes": list(window.scopes),
            },
        }
        settled.records.append(Notification(SUPPRESSED_KIND, record, dedupe_key=f"suppressed:{item.id}"))
        settled.items.append(item)
        settled.suppressed[SuppressReason.MAINTENANCE] += 1
        log.info("notification for %s %s suppressed: %s", item.kind, event.outage.id, window.reason)

    def _ready(self, now: datetime) -> bool:
        """Route now? Held events, the window of the oldest passed, somewhere to send, budget left.
        Without destinations (all removed by a reload) events stay held, not dropped."""
        if not self._held or not self._settings.destinations:
            return False
        oldest = min(h.item.created_at for h in self._held.values())
        return now >= oldest + timedelta(seconds=self._settings.group_window) and self._allowed(now)

    def _allowed(self, now: datetime) -> bool:
        limit = self._settings.rate_limit
        while self._routed_at and now - self._routed_at[0] >= timedelta(seconds=limit.period):
            self._routed_at.popleft()
        return len(self._routed_at) < limit.messages

    def _route(self, now: datetime) -> None:
        held = sorted(self._held.values(), key=lambda h: h.item.id)
        ids = [h.item.id for h in held]
        key = "nw-" + hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:20]
        events = [h.event for h in held]
        notes = []
        for dest in self._settings.destinations:
            message = render_events(events, dest.language, key)
            payload = {
                "destination": dest.key,
                "name": dest.name,
                "idempotency_key": key,
                "title": message.title,
                "body": message.body,
                "severity": message.severity.value,
                "events": ids,
            }
            notes.append(Notification(MESSAGE_KIND, payload, dedupe_key=f"message:{key}:{dest.key}"))
        # The message is queued, and all its events marked delivered, in one transaction.
        self._settle(_Settled(records=notes, items=[h.item for h in held]), now)
        self._held.clear()
        self._routed_at.append(now)
        log.info("%d outage events grouped into one message (%s)", len(held), key)

    def _deliver(self, item: OutboxItem, now: datetime, settled: _Settled) -> int:
        payload = item.payload
        dest = next((d for d in self._settings.destinations if d.key == payload["destination"]), None)
        if dest is None:
            log.warning("message %s: destination %s is no longer configured", item.id, payload["name"])
            settled.items.append(item)
            settled.suppressed[SuppressReason.DESTINATION_REMOVED] += 1
            return 0
        message = Message(payload["title"], payload["body"], Severity(payload["severity"]))
        error = self._send(dest, message, payload["idempotency_key"])
        if error is None:
            # Marked at once, not with the cycle's batch: the sooner a sent message is marked, the
            # smaller the window in which a crash makes the next notifier send it again.
            self._store.mark_delivered(item, now)
            if self._metrics is not None:
                self._metrics.sent.labels(dest.name).inc()
            return 1
        self._store.mark_failed(item, error, now)
        log.warning("message %d to %s failed (attempt %d): %s", item.id, dest.name, item.attempts + 1, error)
        if self._metrics is not None:
            self._metrics.failed.labels(dest.name).inc()
        return 0
