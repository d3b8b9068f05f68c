"""The order in which the detector sees time: one rule shared by the live agent and ``redetect``.

**The determinism rule.** The detector is fed measurements in *canonical order*, ascending
``(finished_at, id)`` — the order in which probes finish, which is the order a live agent learns
their results in — and, before each measurement, is advanced through every *tick* — an instant
``k * tick_s`` seconds after the Unix epoch — that lies after the previous measurement's finish and
at or before this one's (at most ``MAX_TICKS_PER_GAP`` of them, the earliest, per gap). Nothing
advances the detector past the newest measurement's finish. Both the live agent (which holds each
measurement a short margin after it finished, so that results reaching the listener a little out of
order are sorted back, see ``netwatch.detection.DetectionService``) and ``netwatch redetect`` use
``Sequencer``, so the same stored measurements with the same thresholds give the same events and
outage records, ids and times included.

Completion order, not start order: a measurement can only be acted on once it exists, so ordering
by start would make the live agent wait a whole probe timeout for every probe that might still be
running before acting on any later one - seconds of alert latency, for nothing.

Ticks let holds and settle periods expire at the right moment between measurements: an outage
whose hold ran out at 10:00:05 is dated 10:00:05 even if the next measurement ends at 10:00:50.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from netwatch.detect import Detector, Event, Thresholds
from netwatch.model import Measurement, Outage, OutageEvent, Transition, Vantage

TICK_S = 5.0
"""Seconds between detector ticks (epoch-aligned); live and replay must use the same value."""
MAX_TICKS_PER_GAP = 720
"""Ticks inserted into one gap between measurements at most (an hour at ``TICK_S``): a replay over
days of agent downtime would otherwise evaluate every group 17,280 times a day for nothing."""


class Sequencer:
    """Feeds one ``Detector`` under the determinism rule. Not thread-safe (callers lock).

    ``feed`` measurements in canonical order; one that finished before the newest fed so far (a
    *late* measurement) is still observed (the detector ignores it if its target has a newer one)
    and counted in ``late``: the only way live and replayed results can differ.
    """

    def __init__(self, detector: Detector, tick_s: float = TICK_S) -> None:
        if tick_s <= 0:
            raise ValueError("tick_s must be positive")
        self.detector = detector
        self.tick_s = tick_s
        self.late = 0
        self._last: datetime | None = None

    def feed(self, m: Measurement) -> list[Event]:
        """Tick up to ``m.finished_at``, then observe ``m``; return the events, in order."""
        events: list[Event] = []
        finished = m.finished_at
        if self._last is not None and finished < self._last:
            self.late += 1
        elif self._last is not None:
            for tick in self._ticks(self._last, finished):
                events.extend(self.detector.advance(tick))
        if self._last is None or finished > self._last:
            self._last = finished
        events.extend(self.detector.observe(m))
        return events

    def _ticks(self, after: datetime, until: datetime) -> Iterator[datetime]:
        first = math.floor(after.timestamp() / self.tick_s) + 1
        last = math.floor(until.timestamp() / self.tick_s)
        for k in range(first, min(last, first + MAX_TICKS_PER_GAP - 1) + 1):
            yield datetime.fromtimestamp(k * self.tick_s, UTC)


def canonical_key(m: Measurement) -> tuple[datetime, str]:
    """The sort key of canonical order: finish time, then id."""
    return m.finished_at, m.id


def canonical(measurements: Iterable[Measurement]) -> Iterator[Measurement]:
    """Re-order a stream sorted by ``started_at`` (as ``Store.measurements`` yields it) into
    canonical order, holding only the measurements still "in flight" in memory.

    Exact, not a heuristic: a measurement can be emitted once its finish precedes the start of
    the one just read, because every later one starts (and so finishes) no earlier than that.
    """
    pending: list[tuple[datetime, str, int, Measurement]] = []
    for seq, m in enumerate(measurements):
        while pending and pending[0][0] < m.started_at:
            yield heapq.heappop(pending)[-1]
        heapq.heappush(pending, (*canonical_key(m), seq, m))
    while pending:
        yield heapq.heappop(pending)[-1]


@dataclass(frozen=True, slots=True)
class Replay:
    """What a replay produced: every outage record in its final state (sorted by start, id), the
    events in order, and how many measurements were fed (and how many were late)."""

    outages: list[Outage]
    events: list[Event]
    measurements: int
    late: int


def replay(
    measurements: Iterable[Measurement],
    thresholds: Thresholds,
    vantages: Iterable[Vantage] = (),
    tick_s: float = TICK_S,
) -> Replay:
    """Run ``measurements`` (sorted by ``started_at``, as stored) through a fresh detector under
    the rule."""
    sequencer = Sequencer(Detector(thresholds, vantages), tick_s)
    events: list[Event] = []
    count = 0
    for m in canonical(measurements):
        events.extend(sequencer.feed(m))
        count += 1
    return Replay(final_outages(events), events, count, sequencer.late)


def final_outages(events: Iterable[Event]) -> list[Outage]:
    """The latest version of every outage record mentioned in ``events``, by start then id."""
    latest: dict[str, Outage] = {}
    for event in events:
        if isinstance(event, OutageEvent):
            latest[event.outage.id] = event.outage
    return sorted(latest.values(), key=lambda o: (o.started_at, o.id))


def split(events: Iterable[Event]) -> tuple[list[OutageEvent], list[Transition]]:
    """Outage events and transitions, each in their original order."""
    outage_events: list[OutageEvent] = []
    transitions: list[Transition] = []
    for event in events:
        if isinstance(event, OutageEvent):
            outage_events.append(event)
        else:
            transitions.append(event)
    return outage_events, transitions
