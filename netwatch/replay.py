"""The order in which the detector sees time: one rule shared by the live agent and ``redetect``.

**The determinism rule.** The detector is fed measurements in *canonical order*, ascending
``(started_at, id)``, and, before each measurement, is advanced through every *tick* — an instant
``k * tick_s`` seconds after the Unix epoch — that lies after the previous measurement's start and
at or before this one's (at most ``MAX_TICKS_PER_GAP`` of them, the earliest, per gap). Nothing
advances the detector past the newest measurement's start. Both the live agent (which buffers
measurements until every probe that started earlier has finished, see
``netwatch.detection.DetectionService``) and ``netwatch redetect`` use ``Sequencer``, so the same
stored measurements with the same thresholds give the same events and outage records, ids and
times included.

Ticks let holds and settle periods expire at the right moment between measurements: an outage
whose hold ran out at 10:00:05 is dated 10:00:05 even if the next measurement starts at 10:00:50.
"""

from __future__ import annotations

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

    ``feed`` measurements in canonical order; one older than the newest fed so far (a *late*
    measurement) is still observed (the detector ignores it if its target has a newer one) and
    counted in ``late``: the only way live and replayed results can differ.
    """

    def __init__(self, detector: Detector, tick_s: float = TICK_S) -> None:
        if tick_s <= 0:
            raise ValueError("tick_s must be positive")
        self.detector = detector
        self.tick_s = tick_s
        self.late = 0
        self._last: datetime | None = None

    def feed(self, m: Measurement) -> list[Event]:
        """Tick up to ``m.started_at``, then observe ``m``; return the events, in order."""
        events: list[Event] = []
        if self._last is not None and m.started_at < self._last:
            self.late += 1
        elif self._last is not None:
            for tick in self._ticks(self._last, m.started_at):
                events.extend(self.detector.advance(tick))
        if self._last is None or m.started_at > self._last:
            self._last = m.started_at
        events.extend(self.detector.observe(m))
        return events

    def _ticks(self, after: datetime, until: datetime) -> Iterator[datetime]:
        first = math.floor(after.timestamp() / self.tick_s) + 1
        last = math.floor(until.timestamp() / self.tick_s)
        for k in range(first, min(last, first + MAX_TICKS_PER_GAP - 1) + 1):
            yield datetime.fromtimestamp(k * self.tick_s, UTC)


def canonical(measurements: Iterable[Measurement]) -> Iterator[Measurement]:
    """Re-order a stream sorted by ``started_at`` (as ``Store.measurements`` yields it: ties in
    insertion order) into canonical order by sorting each run of equal start times by id."""
    run: list[Measurement] = []
    for m in measurements:
        if run and m.started_at != run[0].started_at:
            yield from sorted(run, key=lambda x: x.id)
            run = []
        run.append(m)
    yield from sorted(run, key=lambda x: x.id)


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
    """Run ``measurements`` (sorted by ``started_at``) through a fresh detector under the rule."""
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
