"""Live detection: the agent's measurement listener around the pure detector, with persistence.

``DetectionService`` is called with every measurement on probe threads, as each probe finishes.
It only buffers them; a timer thread releases, every ``pump_every_s`` seconds, the buffered
measurements that finished at least ``lag_s`` ago, in canonical order (by finish time), through a
``replay.Sequencer`` — the rule that makes ``netwatch redetect`` reproduce the live result exactly
(see ``netwatch.replay``). ``lag_s`` only has to cover a measurement's trip from its probe's end to
the listener, so that two results handed over a little out of order are sorted back; the agent
uses ``LAG_S``. A measurement that arrives later than that is still detected and counted
(``late``); only there can live and replayed records differ.

Every batch of events is persisted with one ``Store.record`` call: outage records upserted,
transitions appended, and a notification queued for each outage event in the same transaction.
Storage failures are logged, counted (``on_store_error("detector")``) and retried with the next
batch; they never reach the probe threads.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from netwatch.detect import Detector, Event, GroupReachability, Thresholds
from netwatch.detection_metrics import DetectionMetrics
from netwatch.model import Measurement, Outage, OutageChange, OutageEvent, Vantage
from netwatch.replay import TICK_S, Sequencer, canonical_key, split
from netwatch.store import Notification, Store, StoreError

log = logging.getLogger(__name__)

LAG_S = 0.5
"""Seconds a measurement waits after its probe finished before the detector sees it: the trip from
the probe's end to the listener is milliseconds; this covers a busy interpreter. Part of the alert
latency (docs/benchmarks.md, "Alerting")."""
PUMP_EVERY_S = 0.25
"""Seconds between releases of buffered measurements: the rest of the live detection latency."""
MAX_UNSAVED = 10_000
"""Events kept for retry while the store fails; beyond that the oldest are dropped (logged)."""


def notification(event: OutageEvent) -> Notification:
    """The outbox entry announcing ``event``: kind ``outage.<change>`` (``vantage_offline.<change>``
    for the instrument's own outages), payload ``event.to_dict()``, and a dedupe key derived from
    the payload, so replaying the same event never queues it twice."""
    payload = event.to_dict()
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    prefix = "vantage_offline" if event.outage.layer.about_vantage else "outage"
    return Notification(
        kind=f"{prefix}.{event.change.value}",
        payload=payload,
        dedupe_key=f"{event.outage.id}:{event.change.value}:{digest}",
    )


class DetectionService:
    """The live detector of one agent (``vantage``), persisting to the store at ``store_path``.

    Thread-safe: ``__call__`` (the listener) and the read methods may be used from any thread.
    ``wall`` returns aware UTC now. ``registry``: where the detection metrics are registered.
    ``recent``: how many outage events ``recent_events`` keeps. ``on_queued`` is called (on the
    detection thread) after notifications were committed to the outbox, e.g. ``Notifier.wake``.
    """

    def __init__(
        self,
        thresholds: Thresholds,
        vantage: Vantage,
        store_path: Path,
        *,
        wall: Callable[[], datetime],
        lag_s: float = LAG_S,
        registry: CollectorRegistry | None = None,
        on_store_error: Callable[[str], None] | None = None,
        on_queued: Callable[[], None] | None = None,
        tick_s: float = TICK_S,
        pump_every_s: float = PUMP_EVERY_S,
        recent: int = 256,
    ) -> None:
        self._thresholds = thresholds
        self._vantage = vantage
        self._store_path = store_path
        self._store: Store | None = None
        self._wall = wall
        self._lag = timedelta(seconds=lag_s)
        self._on_store_error = on_store_error
        self._on_queued = on_queued
        self._tick_s = tick_s
        self._pump_every_s = pump_every_s
        self._lock = threading.Lock()  # buffer, detector, recent events
        self._pump_lock = threading.Lock()  # one release-and-persist at a time, in order
        self._buffer: list[tuple[datetime, str, int, Measurement]] = []
        self._arrivals = 0
        self._sequencer = Sequencer(Detector(thresholds, [vantage]), tick_s)
        self._recent: deque[OutageEvent] = deque(maxlen=recent)
        self._unsaved: list[Event] = []
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.metrics = DetectionMetrics(registry or CollectorRegistry(), self, vantage.id)

    # -- the listener and its clock -----------------------------------------------------------------

    def __call__(self, measurement: Measurement) -> None:
        """Buffer one measurement (any thread); it is detected ``lag_s`` after it finished."""
        with self._lock:
            self._arrivals += 1
            entry = (*canonical_key(measurement), self._arrivals, measurement)
            heapq.heappush(self._buffer, entry)

    def start(self) -> None:
        """Start the timer thread that calls ``pump`` every ``pump_every_s`` seconds."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="netwatch-detection", daemon=True)
        self._thread.start()

    def pump(self) -> list[Event]:
        """Detect every buffered measurement that finished at least ``lag_s`` before ``wall()``;
        persist and return the events."""
        return self._release(self._wall() - self._lag)

    def flush(self) -> list[Event]:
        """Stop the timer thread, then detect and persist everything buffered (at agent stop,
        after the scheduler: no measurement can arrive later)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self._release(None)

    def apply(self, thresholds: Thresholds) -> bool:
        """A reloaded config. Returns True if ``thresholds`` differ, in which case the detector
        starts afresh: its state (target states, baselines, open records) is dropped, records still
        open stay as stored, and re-learnt outages are new records. Equal thresholds keep it all."""
        if thresholds == self._thresholds:
            return False
        with self._pump_lock, self._lock:
            dropped = len(self._sequencer.detector.active_outages())
            self._thresholds = thresholds
            self._sequencer = Sequencer(Detector(thresholds, [self._vantage]), self._tick_s)
        log.warning(
            "detection thresholds changed: detector restarted; %d open outage records are no longer "
            "tracked (`netwatch redetect --write` re-derives history under the new thresholds)",
            dropped,
        )
        return True

    # -- reads ---------------------------------------------------------------------------------------

    def active_outages(self) -> list[Outage]:
        """Open outage records, by start then id."""
        with self._lock:
            return self._sequencer.detector.active_outages()

    def reachability(self) -> list[GroupReachability]:
        """Reachability ratio of every judged group, as ``Detector.reachability``."""
        with self._lock:
            return self._sequencer.detector.reachability()

    def recent_events(self) -> list[OutageEvent]:
        """The latest outage events (at most ``recent``), oldest first."""
        with self._lock:
            return list(self._recent)

    # -- internals -----------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self._pump_every_s):
            try:
                self.pump()
            except Exception:  # a detector bug must not stop detection for good
                log.exception("detection pump failed")

    def _release(self, watermark: datetime | None) -> list[Event]:
        with self._pump_lock:
            with self._lock:
                events: list[Event] = []
                late = self._sequencer.late
                while self._buffer and (watermark is None or self._buffer[0][0] <= watermark):
                    events.extend(self._sequencer.feed(heapq.heappop(self._buffer)[-1]))
                late = self._sequencer.late - late
                outage_events, _ = split(events)
                self._recent.extend(outage_events)
            if late:
                self.metrics.late(late)
                log.warning("%d measurement(s) reached detection over lag_s late; redetect may differ", late)
            for event in outage_events:
                if event.change is OutageChange.OPENED:
                    self.metrics.opened(event.outage)
            self._persist(events)
            return events

    def _persist(self, events: Iterable[Event]) -> None:
        batch = self._unsaved + list(events)
        if not batch:
            return
        outage_events, transitions = split(batch)
        latest = {e.outage.id: e.outage for e in outage_events}
        try:
            if self._store is None:
                self._store = Store(self._store_path)
            self._store.record(
                self._wall(),
                outages=latest.values(),
                transitions=transitions,
                notifications=[notification(e) for e in outage_events],
            )
        except (StoreError, sqlite3.Error, OSError) as exc:
            self._store_failed(exc, batch)
            return
        if self._failing:
            log.warning("detection events are being stored again")
        self._unsaved, self._failing = [], False
        if outage_events and self._on_queued is not None:
            self._on_queued()  # the notifier sends now instead of at its next poll

    def _store_failed(self, exc: Exception, batch: list[Event]) -> None:
        if not self._failing:  # log a failure streak once, not every retry
            log.error("cannot store detection events (%s); retrying with the next batch", exc)
        self._failing = True
        if self._on_store_error is not None:
            self._on_store_error("detector")
        if len(batch) > MAX_UNSAVED:
            log.error("dropping %d unsaved detection events", len(batch) - MAX_UNSAVED)
        self._unsaved = batch[-MAX_UNSAVED:]
