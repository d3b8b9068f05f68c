"""Score a run against its scenario's ground truth.

Matching. Every stored record belongs to the vantage whose store held it. A record is a candidate
for a truth outage when the vantage may see it (``seen_by``; empty = every vantage), scope type
and entity are equal, and its time span ``[start_earliest or started_at, ended_at or end of run]``
overlaps the truth's ``[start, end]`` widened by one probe interval on each side (the detector
cannot see a change sooner than the next probe). Each record goes to one truth: a candidate of the
same layer first, then the one it overlaps most.

Counting:

- **detected** (recall): some allowed vantage holds a record at the truth's scope and entity,
  whatever its layer. "Scope right, layer wrong" is detected but not **scope & layer right**,
  which needs every vantage that detected it to name the truth's layer on its first record
  (a record per vantage per truth is the norm; a flapping or re-layered truth may take several).
  A truth reported only at another scope (a region for the country, a target for a category) is
  missed, and that record counts as false.
- **precision**: records assigned to a truth are true; every other record is false, except
  records of scope ``vantage`` (about the instrument, not the country), which are false only when
  ``not_reported`` names them and otherwise not counted at all.
- **timing**, per (truth, detecting vantage): start error = first record's ``started_at`` minus
  the truth's start, end error = last record's ``ended_at`` minus the truth's end, in seconds
  (positive: late); **in window** when the truth lies in ``[start_earliest, started_at]`` and in
  ``[end_earliest, ended_at]`` (a missing lower bound counts as unbounded; a record still open
  at the end of the run fails the end). The truth's moment is itself known only to an interval:
  a fault takes effect between its scenario time and the moment the backend's commands for it
  (and for the faults due at the same second) returned, which the run records (``played``; tens
  of milliseconds on the namespace backend). The window must meet that interval.
- **incidents**: per vantage, the distinct ``incident_id``s of its records assigned to truths;
  the January 2022 replay should be one.

Targets (``Score.meets_targets``): recall 1; no false record; every start and end error within one
probe interval and inside its window; scope & layer right for at least 95 % of truths; one
incident per vantage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from netwatch.lab.run import RunResult
from netwatch.lab.scenario import Scenario, TruthOutage
from netwatch.model import Outage, ScopeType

SCOPE_LAYER_TARGET = 0.95


@dataclass(frozen=True, slots=True)
class Sighting:
    """One vantage's records of one truth outage, and their timing (seconds; None = open)."""

    vantage: str
    records: tuple[Outage, ...]
    start_error_s: float
    end_error_s: float | None
    start_in_window: bool
    end_in_window: bool

    @property
    def layer(self) -> str:
        return self.records[0].layer.value

    def timing_ok(self, limit_s: float) -> bool:
        """Start and end errors within ``limit_s`` (an open record fails), the truth in both windows."""
        return (abs(self.start_error_s) <= limit_s and self.end_error_s is not None
                and abs(self.end_error_s) <= limit_s and self.start_in_window and self.end_in_window)


@dataclass(frozen=True, slots=True)
class TruthScore:
    truth: TruthOutage
    sightings: tuple[Sighting, ...]

    @property
    def detected(self) -> bool:
        return bool(self.sightings)

    @property
    def layer_right(self) -> bool:
        return self.detected and all(s.layer == self.truth.layer.value for s in self.sightings)


@dataclass(frozen=True, slots=True)
class Score:
    """The score of one run. ``false`` lists ``(vantage, record)`` counted as false outages."""

    scenario: str
    backend: str
    interval_s: float
    truths: tuple[TruthScore, ...]
    true_records: int
    false: tuple[tuple[str, Outage], ...]
    incidents: dict[str, int] = field(default_factory=dict)

    @property
    def recall(self) -> float | None:
        return sum(t.detected for t in self.truths) / len(self.truths) if self.truths else None

    @property
    def precision(self) -> float | None:
        counted = self.true_records + len(self.false)
        return self.true_records / counted if counted else None

    @property
    def scope_layer_right(self) -> float | None:
        return sum(t.layer_right for t in self.truths) / len(self.truths) if self.truths else None

    @property
    def sightings(self) -> list[Sighting]:
        return [s for t in self.truths for s in t.sightings]

    def timing_ok(self) -> bool:
        """Every start and end error within one interval, and every truth inside its windows."""
        return all(s.timing_ok(self.interval_s) for s in self.sightings)

    def meets_targets(self) -> bool:
        return (
            (self.recall is None or self.recall == 1.0)
            and not self.false
            and self.timing_ok()
            and (self.scope_layer_right is None or self.scope_layer_right >= SCOPE_LAYER_TARGET)
            and all(n <= 1 for n in self.incidents.values())
        )


def score_run(scenario: Scenario, result: RunResult) -> Score:
    """Match ``result``'s records to ``scenario``'s truth; see the module docstring."""
    assigned: dict[int, dict[str, list[Outage]]] = {i: {} for i in range(len(scenario.truth))}
    false: list[tuple[str, Outage]] = []
    true_records = 0
    for vantage, records in sorted(result.outages.items()):
        for record in records:
            index = _best_truth(scenario, result, vantage, record)
            if index is not None:
                assigned[index].setdefault(vantage, []).append(record)
                true_records += 1
            elif record.scope_type is not ScopeType.VANTAGE or _not_reported(scenario, record):
                false.append((vantage, record))
    truths = tuple(
        TruthScore(truth, tuple(_sighting(result, truth, v, rs) for v, rs in sorted(assigned[i].items())))
        for i, truth in enumerate(scenario.truth)
    )
    incidents = {
        vantage: len({r.incident_id for t in truths for s in t.sightings if s.vantage == vantage
                      for r in s.records})
        for vantage in result.outages
    }
    return Score(scenario.name, result.backend, result.interval_s, truths, true_records, tuple(false),
                 {v: n for v, n in incidents.items() if n})


def _best_truth(scenario: Scenario, result: RunResult, vantage: str, record: Outage) -> int | None:
    slack = timedelta(seconds=result.interval_s)
    lo = record.start_earliest or record.started_at
    hi = record.ended_at or result.at(result.duration_s)
    best: tuple[bool, float] | None = None
    chosen = None
    for index, truth in enumerate(scenario.truth):
        if truth.seen_by and vantage not in truth.seen_by:
            continue
        if (truth.scope, truth.entity) != (record.scope_type, record.entity):
            continue
        overlap = (min(hi, result.at(truth.end) + slack) - max(lo, result.at(truth.start) - slack))
        if overlap.total_seconds() <= 0:
            continue
        rank = (truth.layer == record.layer, overlap.total_seconds())
        if best is None or rank > best:
            best, chosen = rank, index
    return chosen


def _not_reported(scenario: Scenario, record: Outage) -> bool:
    return any(n.scope is record.scope_type and n.entity in ("", record.entity)
               for n in scenario.not_reported)


APPLY_SLACK_S = 1.0
"""Fault changes recorded within this many seconds after a scenario time belong to that time."""


def _effective_by(result: RunResult, second: float) -> datetime:
    """When the fault changes due at scenario ``second`` had all taken effect: the latest recorded
    change in ``[second, second + APPLY_SLACK_S)``, or ``second`` itself if none was recorded."""
    done = [at for at, _, _ in result.played if second <= at < second + APPLY_SLACK_S]
    return result.at(max(done, default=second))


def _sighting(result: RunResult, truth: TruthOutage, vantage: str, records: list[Outage]) -> Sighting:
    ordered = tuple(sorted(records, key=lambda r: r.started_at))
    first = ordered[0]
    last = max(ordered, key=lambda r: r.ended_at or datetime.max.replace(tzinfo=first.started_at.tzinfo))
    start, end = result.at(truth.start), result.at(truth.end)
    start_effective, end_effective = _effective_by(result, truth.start), _effective_by(result, truth.end)
    start_in = (first.start_earliest is None or first.start_earliest <= start_effective) \
        and start <= first.started_at
    end_in = last.ended_at is not None and (last.end_earliest is None or last.end_earliest <= end_effective) \
        and end <= last.ended_at
    return Sighting(
        vantage=vantage,
        records=ordered,
        start_error_s=(first.started_at - start).total_seconds(),
        end_error_s=None if last.ended_at is None else (last.ended_at - end).total_seconds(),
        start_in_window=start_in,
        end_in_window=end_in,
    )
