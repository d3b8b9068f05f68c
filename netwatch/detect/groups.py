"""One vantage's view of its subject targets: per-target trackers, groups, baselines, verdicts.

A group (country, network type, region, ASN, category, or a single target) is *out* when the share
of its normally reachable members now down reaches ``loss_threshold`` against its own baseline,
and *throttled* when the share degraded beyond its baseline reaches ``throttle_threshold``. A loss
must also be spread over the group (``homogeneity``): a country whose loss sits in its mobile
networks is a mobile outage, not a national one. Of nested groups that are out together only the
broadest is reported; narrower ones already reported stay as their own records, and a new narrower
verdict waits up to ``layer_settle_s`` while members of a broader group outside it fail too, so a
national blackout does not first open a record per region as targets are re-probed one by one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from netwatch.detect.baseline import Baseline
from netwatch.detect.classify import MemberView, classify
from netwatch.detect.thresholds import Thresholds
from netwatch.detect.tracker import Grade, Tracker, Window
from netwatch.model import Labels, Layer, NetworkType, ScopeType, TargetState

MemberKey = tuple[str, str]  # (target id, probe kind)
GroupKey = tuple[ScopeType, str]

# Broadest first: decides which of nested out groups is reported (an operator's ASN sits inside
# its network type; regions cut across network types).
RANK = {
    ScopeType.COUNTRY: 0,
    ScopeType.NETWORK_TYPE: 1,
    ScopeType.REGION: 2,
    ScopeType.ASN: 3,
    ScopeType.CATEGORY: 4,
    ScopeType.TARGET: 5,
}
# Partitions used to test that a loss is spread over a group rather than concentrated.
_PARTS = {
    ScopeType.COUNTRY: ("region", "network_type"),
    ScopeType.NETWORK_TYPE: ("region",),
    ScopeType.ASN: ("region",),
    ScopeType.CATEGORY: ("region", "network_type"),
    ScopeType.REGION: ("network_type",),
}
_REACHABLE = (TargetState.UP, TargetState.DEGRADED)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A group this vantage judges out (or throttled) now."""

    key: GroupKey
    layer: Layer
    fraction: float
    country: str
    start: Window
    layer_since: Window
    affected: int
    evidence: tuple[str, ...]
    # Members down (or degraded, when throttled) at any time since the current layer began.
    lost: frozenset[MemberKey] = frozenset()


def group_keys(target_id: str, labels: Labels) -> list[GroupKey]:
    """The groups a subject target belongs to (empty labels form no group)."""
    keys: list[GroupKey] = [(ScopeType.TARGET, target_id)]
    if labels.country:
        keys.append((ScopeType.COUNTRY, labels.country))
    if labels.region:
        keys.append((ScopeType.REGION, labels.region))
    if labels.asn:
        keys.append((ScopeType.ASN, labels.asn))
    if labels.network_type is not NetworkType.UNKNOWN:
        keys.append((ScopeType.NETWORK_TYPE, labels.network_type.value))
    if labels.category:
        keys.append((ScopeType.CATEGORY, labels.category))
    return keys


class VantageGroups:
    """Subject trackers and group verdicts of one vantage. Pure; the clock comes in."""

    def __init__(self, vantage_id: str, thresholds: Thresholds) -> None:
        self.vantage_id = vantage_id
        self._t = thresholds
        self.trackers: dict[MemberKey, Tracker] = {}
        self.labels: dict[MemberKey, Labels] = {}
        self.groups: dict[GroupKey, list[MemberKey]] = {}
        self._reach: dict[GroupKey, Baseline] = {}
        self._degraded: dict[GroupKey, Baseline] = {}
        self._since: dict[GroupKey, datetime] = {}
        self._last_reported: dict[GroupKey, datetime] = {}
        self._first_reported: dict[GroupKey, datetime] = {}
        self._layer_since: dict[GroupKey, tuple[Layer, Window]] = {}
        self._lost: dict[GroupKey, set[MemberKey]] = {}
        self.reported: dict[GroupKey, Verdict] = {}

    def tracker(self, target_id: str, kind: str, labels: Labels) -> Tracker:
        key = (target_id, kind)
        found = self.trackers.get(key)
        if found is None:
            found = self.trackers[key] = Tracker(f"{self.vantage_id}/{target_id}/{kind}", self._t)
            self.labels[key] = labels
            for group in group_keys(target_id, labels):
                self.groups.setdefault(group, []).append(key)
                self._reach[group] = Baseline(self._t, 1.0)
                self._degraded[group] = Baseline(self._t, 0.0)
        return found

    def forget_states(self) -> None:
        """After the vantage was offline: member states are unknown until re-measured."""
        for tracker in self.trackers.values():
            tracker.forget_state()

    def ratios(self) -> dict[GroupKey, float]:
        """Share of known members reachable (up or degraded) per group; unjudged groups omitted."""
        out: dict[GroupKey, float] = {}
        for key, members in self.groups.items():
            states = [self.trackers[m].state for m in members if self.trackers[m].state is not None]
            if states:
                out[key] = sum(s in _REACHABLE for s in states) / len(states)
        return out

    def fresh_domestic_reach(self, since: datetime) -> float | None:
        """Share of domestic subjects (with a country label) whose latest measurement, started
        at or after ``since``, did not fail; None when none was measured since then."""
        fresh = [
            t.last_grade is not Grade.FAIL
            for key, t in self.trackers.items()
            if self.labels[key].country and t.last_started is not None and t.last_started >= since
        ]
        return sum(fresh) / len(fresh) if fresh else None

    def evaluate(self, now: datetime) -> tuple[dict[GroupKey, Verdict], dict[GroupKey, Window]]:
        """Judge every group; return (reported verdicts, end windows of verdicts that ended)."""
        raw: dict[GroupKey, Verdict] = {}
        frozen: set[GroupKey] = set()
        for key, members in self.groups.items():
            judged = self._judge(key, members, now)
            if judged is None:
                frozen.add(key)
            elif isinstance(judged, Verdict):
                raw[key] = judged
        reported: dict[GroupKey, Verdict] = {}
        for key in sorted(raw, key=lambda k: (RANK[k[0]], k[1])):
            if key in self.reported or not self._deferred(key, raw, now):
                reported[key] = raw[key]
        for key in frozen & self.reported.keys():
            reported[key] = self.reported[key]
        ended = {k: self._end_window(k, v, now) for k, v in self.reported.items() if k not in reported}
        for key in reported:
            self._last_reported[key] = now
            self._first_reported.setdefault(key, now)
        for key in ended:
            del self._first_reported[key]
        self.reported = reported
        return reported, ended

    def _deferred(self, key: GroupKey, raw: dict[GroupKey, Verdict], now: datetime) -> bool:
        """A new verdict is not reported while a broader out group covers it, nor while (within
        ``layer_settle_s``) a broader group containing it has lost half of the threshold."""
        members = set(self.groups[key])
        down = [m for m in members if self.trackers[m].state is not TargetState.UP]
        settle = self._t.layer_settle_s
        # Explained by a broader out group: most of what this one lost sits inside it (a category
        # of telecom sites during a mobile cut is the mobile cut). Just after any record ended,
        # its members are still clearing their hysteresis and explain losses the same way.
        explainers = [o for o in raw if RANK[o[0]] < RANK[key[0]]] + [
            o for o, at in self._last_reported.items() if o != key and (now - at).total_seconds() < settle
        ]
        for other in explainers:
            inside = set(self.groups[other])
            if sum(m in inside for m in down) >= self._t.homogeneity * len(down):
                return True
        young = (now - self._since[key]).total_seconds() < settle
        for other, other_members in self.groups.items():
            if RANK[other[0]] >= RANK[key[0]] or not members <= set(other_members):
                continue
            # Failures elsewhere in a broader group may be the same event still arriving as
            # targets are re-probed: give the broader group the settle period to form.
            if young and any(self._failing(m) for m in other_members if m not in members):
                return True
        return False

    def _failing(self, member: MemberKey) -> bool:
        tracker = self.trackers[member]
        return tracker.last_grade not in (Grade.OK, None) or tracker.state not in (TargetState.UP, None)

    def _judge(self, key: GroupKey, members: list[MemberKey], now: datetime) -> Verdict | bool | None:
        """A verdict, False (fine) or None (too little known to judge: keep the last verdict)."""
        known = [m for m in members if self.trackers[m].state is not None]
        if not known or len(known) < self._t.min_known_share * len(members):
            return None
        states = [self.trackers[m].state for m in known]
        reach = sum(s in _REACHABLE for s in states) / len(known)
        degraded = sum(s is TargetState.DEGRADED for s in states) / len(known)
        base_reach, base_degraded = self._reach[key].value(), self._degraded[key].value()
        loss = max(0.0, 1.0 - reach / base_reach) if base_reach > 0 else 0.0
        if loss >= self._t.loss_threshold and TargetState.DOWN in states:
            wanted, fraction, layer = (TargetState.DOWN,), loss, None
        elif degraded - base_degraded >= self._t.throttle_threshold or (
            # Degraded members going down one by one: still throttled until the loss is out.
            key in self.reported
            and self.reported[key].layer is Layer.THROTTLING
            and 1.0 - reach + degraded - base_degraded >= self._t.throttle_threshold
        ):
            wanted, fraction, layer = (TargetState.DEGRADED,), degraded - base_degraded, Layer.THROTTLING
        else:
            self._since.pop(key, None)
            self._layer_since.pop(key, None)
            self._lost.pop(key, None)
            self._reach[key].sample(now, reach)
            self._degraded[key].sample(now, degraded)
            return False
        if not self._spread(key, known, wanted):
            self._since.pop(key, None)
            return False
        since = self._since.setdefault(key, now)
        hold = self._t.small_group_hold_s if len(members) < self._t.small_group_size else self._t.group_hold_s
        if (now - since).total_seconds() < hold:
            return False
        affected = [m for m in known if self.trackers[m].state in wanted]
        if layer is None:
            layer = classify(
                MemberView(m[1], self.trackers[m].state, self.trackers[m].last_failure) for m in known
            )
        windows = [w for w in (self.trackers[m].window for m in known) if w is not None]
        held = self._layer_since.get(key)
        if held is None or held[0] is not layer:
            held = self._layer_since[key] = (layer, max(windows, key=lambda w: w.at))
            self._lost[key] = set()
        self._lost[key].update(affected)
        return Verdict(
            key=key,
            layer=layer,
            fraction=round(min(1.0, fraction), 4),
            country=most_common(self.labels[m].country for m in members),
            start=self._start_window(key, affected),
            layer_since=held[1],
            affected=len(affected),
            evidence=tuple(i for m in affected for i in self.trackers[m].failing_ids)[: self._t.evidence_cap],
            lost=frozenset(self._lost[key]),
        )

    def _spread(self, key: GroupKey, known: list[MemberKey], wanted: tuple[TargetState, ...]) -> bool:
        threshold = self._t.throttle_threshold if TargetState.DOWN not in wanted else self._t.loss_threshold
        for dim in _PARTS.get(key[0], ()):
            parts: dict[str, list[bool]] = {}
            for m in known:
                value = getattr(self.labels[m], dim)
                parts.setdefault(str(value), []).append(self.trackers[m].state in wanted)
            in_lost = sum(len(p) for p in parts.values() if sum(p) / len(p) >= threshold)
            if in_lost < self._t.homogeneity * len(known):
                return False
        return True

    def _start_window(self, key: GroupKey, affected: list[MemberKey]) -> Window:
        """Members of records reported before this group went out do not date it: a national
        blackout starts when the fixed networks fail, not when mobile had failed hours earlier."""
        since = self._since[key]
        earlier = [k for k, first in self._first_reported.items() if k != key and first < since]
        explained = {m for k in earlier for m in self.groups[k]}
        own = [m for m in affected if m not in explained] or affected
        windows = [w for w in (self.trackers[m].window for m in own) if w is not None]
        return bounds(windows)

    def _end_window(self, key: GroupKey, verdict: Verdict, now: datetime) -> Window:
        wanted = _REACHABLE if verdict.layer is not Layer.THROTTLING else (TargetState.UP,)
        # Only members lost under the current layer date its end, and only the last cluster of
        # their recoveries (those not before the latest one's lower bound): allow-listed sites
        # that came back when the regime began say nothing about when it ended.
        windows = [
            t.window
            for t in (self.trackers[m] for m in verdict.lost)
            if t.state in wanted and t.window is not None and t.window.at > verdict.layer_since.at
        ]
        if not windows:
            return Window(verdict.layer_since.at, now)
        last = max(windows, key=lambda w: w.at)
        floor = last.earliest or last.at
        return bounds([w for w in windows if w.at >= floor])


def bounds(windows: list[Window]) -> Window:
    """The tightest window consistent with all: the earliest observation, and the latest earlier
    bound that does not pass it."""
    at = min(w.at for w in windows)
    lower = [w.earliest for w in windows if w.earliest is not None and w.earliest <= at]
    return Window(max(lower) if lower else None, at)


def most_common(values: Iterable[str]) -> str:
    counts = Counter(v for v in values if v)
    return min(counts, key=lambda v: (-counts[v], v)) if counts else ""
