"""The Detector facade: measurements and a clock in, immutable events out.

Pure and deterministic: no I/O, no wall clock, no randomness; feeding the same measurements and
``advance`` calls in the same order yields identical events, ids included. Measurements of one
(vantage, target, kind) must arrive in start-time order (older ones are ignored).

Control gating, per vantage: while the latest measurements of at least ``control_down_share`` of
its controls failed, the vantage is *suspect*; when that share of controls is down after
hysteresis it is *offline*. An inside vantage that, while its controls are failing, still reaches
domestic targets (``uplink_proven``: at least ``small_group_size`` of them, and
``domestic_reach_share`` of those measured since, up or degraded with a latest measurement that
did not fail) has a working uplink: the world is cut off, not the agent. Its subject verdicts go
on being judged and, once offline, it reports an ``international_cut`` record for the country.
Any other suspect or offline vantage has its subject verdicts frozen (nothing opens, nothing
closes) and, once offline, reports a ``vantage_offline`` record (scope ``vantage``): a vantage
that reaches nothing cannot tell a dark country from its own dead uplink. Which of the two it is
changes only on fresh evidence (controls failing now); recovering controls keep the last one.
When the controls recover from ``vantage_offline``, the vantage's subject states are forgotten and
re-learnt, so failures seen while it was offline never turn into an outage of the watched country.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from netwatch.detect.groups import VantageGroups
from netwatch.detect.ledger import Ledger
from netwatch.detect.thresholds import Thresholds
from netwatch.detect.tracker import Grade, Tracker, Window
from netwatch.detect.verdict import GroupKey, MemberKey, Verdict, bounds, most_common
from netwatch.model import (
    Failure,
    Layer,
    Measurement,
    Outage,
    OutageEvent,
    Position,
    Role,
    ScopeType,
    TargetState,
    Transition,
    Vantage,
)

Event = Transition | OutageEvent

# Failures that describe our own agent (a bug, a config that forbids the address), not the network.
_NOT_EVIDENCE = {Failure.INTERNAL_ERROR, Failure.EGRESS_DENIED}


@dataclass(frozen=True, slots=True)
class GroupReachability:
    """Share of a group's known members reachable from one vantage (0..1), for
    ``netwatch_group_reachability_ratio{group_type,group}``."""

    vantage_id: str
    group_type: ScopeType
    group: str
    ratio: float


class Detector:
    """Turns measurements into target transitions and outage events.

    ``vantages`` gives positions (an unknown vantage is treated as outside, so it never claims an
    international cut). Labels come from each measurement's own snapshot.
    """

    def __init__(self, thresholds: Thresholds, vantages: Iterable[Vantage] = ()) -> None:
        self._t = thresholds
        self._positions = {v.id: v.position for v in vantages}
        self._views: dict[str, VantageGroups] = {}
        self._controls: dict[str, dict[MemberKey, Tracker]] = {}
        self._gated: dict[str, bool] = {}
        self._cut_off: dict[str, bool] = {}  # inside, controls failing, domestic targets answering
        self._control_reported: dict[str, dict[GroupKey, Verdict]] = {}
        self._ledger = Ledger(thresholds)
        self._now: datetime | None = None

    @property
    def now(self) -> datetime | None:
        """The detector clock: the latest measurement completion or ``advance`` time seen."""
        return self._now

    def observe(self, m: Measurement) -> list[Event]:
        """Apply one measurement; return the events it causes, in order."""
        now = self._tick(m.started_at + timedelta(seconds=m.duration_s))
        view = self._view(m.vantage_id)
        events: list[Event] = []
        failed_control = None
        if m.failure not in _NOT_EVIDENCE:
            if m.labels.role is Role.CONTROL:
                failed_control = m.started_at if m.failure is not None else None
                controls = self._controls[m.vantage_id]
                tracker = controls.get((m.target_id, m.kind))
                if tracker is None:
                    subject = f"{m.vantage_id}/{m.target_id}/{m.kind}"
                    tracker = controls[(m.target_id, m.kind)] = Tracker(subject, self._t)
                transition = tracker.observe(m)
            else:
                transition = view.observe(m)
            if transition is not None:
                events.append(transition)
        events.extend(self._evaluate(m.vantage_id, now, failed_control))
        return events

    def advance(self, now: datetime) -> list[Event]:
        """Move the clock (aware UTC) without a measurement: holds and settle periods expire."""
        moment = self._tick(now)
        return [e for vantage in sorted(self._views) for e in self._evaluate(vantage, moment)]

    def active_outages(self) -> list[Outage]:
        """Open outage records (for ``netwatch_outage_active{scope,entity,layer}``)."""
        return self._ledger.active()

    def reachability(self) -> list[GroupReachability]:
        """Current reachability ratio of every judged group, per vantage, sorted."""
        return [
            GroupReachability(vantage, key[0], key[1], ratio)
            for vantage in sorted(self._views)
            for key, ratio in sorted(self._views[vantage].ratios().items())
        ]

    def _tick(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError("naive datetime: the detector clock is aware UTC")
        if self._now is None or moment > self._now:
            self._now = moment
        return self._now

    def _view(self, vantage: str) -> VantageGroups:
        view = self._views.get(vantage)
        if view is None:
            view = self._views[vantage] = VantageGroups(vantage, self._t)
            self._controls[vantage] = {}
            self._gated[vantage] = False
            self._cut_off[vantage] = False
            self._control_reported[vantage] = {}
        return view

    def _evaluate(
        self, vantage: str, now: datetime, failed_control: datetime | None = None
    ) -> list[OutageEvent]:
        """Judge the vantage now; ``failed_control``: the start of a control probe that failed
        and was just observed."""
        view = self._views[vantage]
        controls = self._controls[vantage]
        known = [t for t in controls.values() if t.last_grade is not None]
        need = self._t.control_down_share * len(known)
        suspect = bool(known) and sum(t.last_grade is Grade.FAIL for t in known) >= need
        down = [t for t in known if t.state is TargetState.DOWN]
        offline = bool(known) and len(down) >= need
        if suspect and failed_control is not None:
            # Judged at each failing control probe, from the domestic answers between the
            # controls' first failure and this one: while the world was unreachable, not after
            # it came back (domestic targets answer a probe before the controls do).
            since = min(t.failing_since or now for t in known)
            inside = self._positions.get(vantage) is Position.INSIDE
            self._cut_off[vantage] = inside and self._uplink_proven(view, since, failed_control)
        elif not suspect and not offline:
            self._cut_off[vantage] = False
        cut_off = self._cut_off[vantage]
        control_verdicts = self._control_verdicts(vantage, view, down, cut_off, now) if offline else {}
        gated = (suspect or offline) and not cut_off
        verdicts: dict[GroupKey, Verdict]
        ended: dict[GroupKey, Window]
        if gated:
            verdicts, ended = dict(view.reported), {}
        else:
            if self._gated[vantage] and not cut_off:
                # Back from offline: what it saw meanwhile is not evidence about the country.
                view.forget_states()
            if cut_off:
                view.border_cut_at = now
            verdicts, ended = view.evaluate(now)
        self._gated[vantage] = gated
        previous = self._control_reported[vantage]
        for key, verdict in previous.items():
            if key not in control_verdicts:
                recovered = [
                    t.window
                    for t in controls.values()
                    if t.state is TargetState.UP and t.window is not None and t.window.at >= verdict.start.at
                ]
                ended[key] = bounds(recovered) if recovered else Window(verdict.start.at, now)
        self._control_reported[vantage] = control_verdicts
        return self._ledger.reconcile(vantage, {**verdicts, **control_verdicts}, ended, now)

    def _uplink_proven(self, view: VantageGroups, since: datetime, until: datetime) -> bool:
        """Of the domestic subjects (with a country label) whose latest measurement started in
        ``[since, until]``, at least ``small_group_size`` and ``domestic_reach_share`` are
        reachable (up or degraded) with a latest measurement that did not fail. O(members)."""
        fresh = [
            t.state in (TargetState.UP, TargetState.DEGRADED) and t.last_grade is not Grade.FAIL
            for key, t in view.trackers.items()
            if view.labels[key].country and t.last_started is not None and since <= t.last_started <= until
        ]
        answering, t = sum(fresh), self._t
        return answering >= t.small_group_size and answering >= t.domestic_reach_share * len(fresh)

    def _control_verdicts(
        self, vantage: str, view: VantageGroups, down: list[Tracker], cut_off: bool, now: datetime
    ) -> dict[GroupKey, Verdict]:
        windows = [t.window for t in down if t.window is not None]
        start = bounds(windows) if windows else Window(None, now)
        evidence = tuple(i for t in down for i in t.failing_ids)[: self._t.evidence_cap]
        if cut_off:
            country = most_common(labels.country for labels in view.labels.values())
            key: GroupKey = (ScopeType.COUNTRY, country)
            layer = Layer.INTERNATIONAL_CUT
            return {key: Verdict(key, layer, 1.0, country, start, start, len(down), evidence)}
        key = (ScopeType.VANTAGE, vantage)
        share = round(len(down) / max(1, len(self._controls[vantage])), 4)
        return {key: Verdict(key, Layer.VANTAGE_OFFLINE, share, "", start, start, len(down), evidence)}
