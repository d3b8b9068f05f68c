"""The outage ledger: verdicts from every vantage in, outage records and their events out.

One record per (scope type, entity) while any vantage reports it. Its layer is the layer most of
the reporting vantages see (``international_cut`` wins: only an inside vantage can see it). Within
``layer_settle_s`` of opening the layer is revised in place; after that, a different layer held
for ``layer_settle_s`` closes the record and opens a new one, so stages (throttling, then a cut;
a blackout, then an allow-list) are separate records of one incident. Records of one country that
start less than ``incident_gap_s`` after the previous one ended share an ``incident_id``.

Events are for readers (they feed notifications): an open record is announced as ``updated``
only when something a reader cares about changes — its layer or start revised, the number of
vantages seeing it, or its share lost crossing a quarter (``widened``). Each further affected
target only updates the record in place (``active()``, and the final ``closed`` event, carry it).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from netwatch.detect.thresholds import Thresholds
from netwatch.detect.tracker import Window
from netwatch.detect.verdict import GroupKey, Verdict
from netwatch.model import Layer, Outage, OutageChange, OutageEvent, ScopeType, format_utc

METHOD = "netwatch-active-probing/1"
# An open record's growth is announced ("widened") when its share lost crosses a quarter.
FRACTION_STEPS = 4


def stable_id(prefix: str, *parts: str) -> str:
    """Deterministic id: the same inputs give the same id on every replay."""
    return prefix + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@dataclass
class _Incident:
    id: str
    open_records: int = 0
    last_end: datetime | None = None


@dataclass
class _Record:
    outage: Outage
    opened_at: datetime
    country: str
    by_vantage: dict[str, Verdict] = field(default_factory=dict)
    vantages: set[str] = field(default_factory=set)
    pending: tuple[Layer, datetime, Window] | None = None
    # False for a record opened by a layer change: it is dated by that change, not by failures.
    revisable_start: bool = True
    fraction_minutes: float = 0.0
    tick: datetime | None = None


class Ledger:
    """Outage records. Pure and deterministic: the caller passes the clock."""

    def __init__(self, thresholds: Thresholds) -> None:
        self._t = thresholds
        self._open: dict[GroupKey, _Record] = {}
        self._incidents: dict[str, _Incident] = {}

    def active(self) -> list[Outage]:
        """Open outages, sorted by start then id."""
        return sorted((r.outage for r in self._open.values()), key=lambda o: (o.started_at, o.id))

    def reconcile(
        self, vantage: str, verdicts: dict[GroupKey, Verdict], ended: dict[GroupKey, Window], now: datetime
    ) -> list[OutageEvent]:
        """Apply one vantage's current verdicts; ``ended`` holds end windows of those it dropped."""
        events: list[OutageEvent] = []
        for key in sorted(self._open):
            held = self._open[key]
            if vantage in held.by_vantage and key not in verdicts:
                del held.by_vantage[vantage]
                if not held.by_vantage:
                    window = ended.get(key, Window(None, now))
                    events.append(self._close(key, window, now, "recovered"))
        for key in sorted(verdicts, key=lambda k: (k[0].value, k[1])):
            verdict = verdicts[key]
            record = self._open.get(key)
            if record is None:
                events.append(self._open_record(key, verdict, verdict.start, now, "threshold crossed"))
                self._open[key].by_vantage[vantage] = verdict
                self._open[key].vantages.add(vantage)
            else:
                events.extend(self._update(key, record, vantage, verdict, now))
        return events

    def _open_record(self, key: GroupKey, v: Verdict, start: Window, now: datetime, why: str) -> OutageEvent:
        scope, entity = key
        incident_key = f"vantage:{entity}" if scope is ScopeType.VANTAGE else v.country or entity
        incident = self._incidents.get(incident_key)
        joins = incident is not None and (
            incident.open_records > 0
            or incident.last_end is None
            or (start.at - incident.last_end).total_seconds() <= self._t.incident_gap_s
        )
        if incident is None or not joins:
            incident = _Incident(stable_id("inc-", incident_key, format_utc(start.at)))
            self._incidents[incident_key] = incident
        elif incident.open_records == 0 and why == "threshold crossed":
            why = "episode began"
        incident.open_records += 1
        outage = Outage(
            id=stable_id("out-", scope.value, entity, v.layer.value, format_utc(start.at)),
            incident_id=incident.id,
            scope_type=scope,
            entity=entity,
            layer=v.layer,
            started_at=start.at,
            start_earliest=start.earliest,
            fraction=v.fraction,
            targets_affected=v.affected,
            vantages_affected=1,
            evidence=v.evidence,
            method=METHOD,
        )
        self._open[key] = _Record(outage, now, incident_key, tick=now)
        return OutageEvent(now, OutageChange.OPENED, outage, why)

    def _update(
        self, key: GroupKey, record: _Record, vantage: str, v: Verdict, now: datetime
    ) -> list[OutageEvent]:
        self._accrue(record, now)
        record.by_vantage[vantage] = v
        record.vantages.add(vantage)
        old = record.outage
        layer = _combined_layer(record.by_vantage.values())
        new_layer, started_at, start_earliest = old.layer, old.started_at, old.start_earliest
        reasons: list[str] = []
        if layer is not old.layer:
            young = (now - record.opened_at).total_seconds() < self._t.layer_settle_s
            # Throttling and a loss are stages, never revisions of each other: a throttle found
            # late and the cut after it are two records.
            if young and Layer.THROTTLING not in (layer, old.layer):
                new_layer, record.pending = layer, None
                reasons.append("layer revised")
            else:
                if record.pending is None or record.pending[0] is not layer:
                    # Dated by the member change that flipped the classification (probes timing
                    # out under a throttle are not the start of the cut that follows it).
                    record.pending = (layer, now, v.layer_since)
                if (now - record.pending[1]).total_seconds() >= self._t.layer_settle_s:
                    since = record.pending[2]
                    closed = self._close(key, since, now, "layer changed")
                    staged = dataclasses.replace(v, layer=layer)
                    opened = self._open_record(key, staged, since, now, "layer changed")
                    self._open[key].revisable_start = False
                    self._open[key].by_vantage = dict(record.by_vantage)
                    self._open[key].vantages = set(record.by_vantage)
                    return [closed, opened]
        else:
            record.pending = None
        young = (now - record.opened_at).total_seconds() < self._t.layer_settle_s
        if young and record.revisable_start and v.start.at < old.started_at:
            started_at, start_earliest = v.start.at, v.start.earliest
            reasons.append("start revised")
        if len(record.vantages) != old.vantages_affected:
            reasons.append("vantages changed")
        fraction = max(old.fraction, v.fraction)
        if _step(fraction) > _step(old.fraction):
            reasons.append("widened")
        record.outage = dataclasses.replace(
            old,
            layer=new_layer,
            started_at=started_at,
            start_earliest=start_earliest,
            vantages_affected=len(record.vantages),
            targets_affected=max(old.targets_affected, v.affected),
            evidence=tuple(dict.fromkeys(old.evidence + v.evidence))[: self._t.evidence_cap],
            fraction=fraction,
        )
        if not reasons:
            return []
        return [OutageEvent(now, OutageChange.UPDATED, record.outage, ", ".join(reasons))]

    def _accrue(self, record: _Record, now: datetime) -> None:
        if record.tick is not None and now > record.tick:
            current = max((v.fraction for v in record.by_vantage.values()), default=0.0)
            record.fraction_minutes += current * (now - record.tick).total_seconds() / 60.0
        record.tick = now

    def _close(self, key: GroupKey, window: Window, now: datetime, why: str) -> OutageEvent:
        record = self._open.pop(key)
        self._accrue(record, now)
        old = record.outage
        ended_at = max(window.at, old.started_at)
        minutes = (ended_at - old.started_at).total_seconds() / 60.0
        observed = (now - record.opened_at).total_seconds() / 60.0
        # Severity = mean share lost while we watched x the outage's full duration.
        mean = record.fraction_minutes / observed if observed > 0 else old.fraction
        outage = dataclasses.replace(
            old,
            ended_at=ended_at,
            end_earliest=None if window.earliest is None else min(window.earliest, ended_at),
            severity=round(mean * minutes, 3),
        )
        incident = self._incidents[record.country]
        incident.open_records -= 1
        incident.last_end = ended_at if incident.last_end is None else max(incident.last_end, ended_at)
        return OutageEvent(now, OutageChange.CLOSED, outage, why)


def _step(fraction: float) -> int:
    """The coarse step of a share lost a reader is told about: quarters (25, 50, 75, 100 %)."""
    return int(fraction * FRACTION_STEPS + 1e-9)


def _combined_layer(verdicts: Iterable[Verdict]) -> Layer:
    layers = Counter(v.layer for v in verdicts)
    if Layer.INTERNATIONAL_CUT in layers:
        return Layer.INTERNATIONAL_CUT
    order = list(Layer)
    return max(layers, key=lambda layer: (layers[layer], -order.index(layer)))
