"""One vantage's view of its subject targets: trackers, group counters, and which verdicts are
reported.

Of nested groups that are out together only the broadest is reported; narrower ones already
reported stay as their own records, and a new narrower verdict waits up to ``layer_settle_s``
while members of a broader group outside it fail too, so a national blackout does not first open
a record per region as targets are re-probed one by one.

Evaluation is incremental and gives the same results as judging every group every time: a
group's judgement changes only when one of its members changes (``Tally`` counters, or a new
failure id while the group is out), when a hold expires (scheduled), when its baseline moves
(re-judged at the next evaluation, and every group is re-judged at the first evaluation of each
baseline bin, when baselines sample), when its reported status changes, or when a record ends
(start windows). A waiting (deferred) verdict is re-checked when its members change, while it is
young, and whenever the set of groups that could explain it changes.
"""

from __future__ import annotations

import heapq
from datetime import datetime

from netwatch.detect.explain import Explanation
from netwatch.detect.interference import Interference, interference_verdict
from netwatch.detect.judge import Judge, Outcome
from netwatch.detect.tally import UNKNOWN, Facts, Tally, facts_of, parts_of
from netwatch.detect.thresholds import Thresholds
from netwatch.detect.tracker import Grade, Tracker, Window
from netwatch.detect.verdict import NARROWEST, RANK, GroupKey, MemberKey, Verdict, group_keys
from netwatch.model import Labels, Layer, Measurement, Transition


class VantageGroups:
    """Subject trackers and group verdicts of one vantage. Pure; the clock comes in."""

    def __init__(self, vantage_id: str, thresholds: Thresholds) -> None:
        self.vantage_id = vantage_id
        self._t = thresholds
        self.trackers: dict[MemberKey, Tracker] = {}
        self.labels: dict[MemberKey, Labels] = {}
        self.tallies: dict[GroupKey, Tally] = {}
        self.reported: dict[GroupKey, Verdict] = {}
        self._judge = Judge(thresholds, self.trackers, self.labels, self.tallies)
        self._groups_of: dict[MemberKey, list[GroupKey]] = {}
        self._facts: dict[MemberKey, Facts] = {}
        self._supersets: dict[GroupKey, set[GroupKey]] = {}  # groups holding all of its members
        self._raw: dict[GroupKey, Verdict] = {}  # groups whose latest judgement is a verdict
        self._broad_raw: set[GroupKey] = set()  # of those, the ones that can explain narrower ones
        self._unknown: set[GroupKey] = set()  # groups whose latest judgement had too little known
        self._waiting: dict[GroupKey, int] = {}  # deferred verdicts -> member version checked at
        self._young: set[GroupKey] = set()  # waiting verdicts still within their settle period
        self._recent: dict[GroupKey, datetime] = {}  # reported at the evaluation of that time
        self._explainers: tuple[frozenset[GroupKey], frozenset[GroupKey]] | None = None
        self._dirty: set[GroupKey] = set()
        self._next: set[GroupKey] = set()  # re-judge at the next evaluation
        self._due: list[tuple[datetime, int, GroupKey]] = []
        self._seq = 0
        self._bin: int | None = None
        self._everything = True
        self._interference = Interference(self._groups_of)
        self._explain = Explanation(thresholds, self.trackers, self.tallies, self._supersets)
        # Set by the detector to each moment this (inside) vantage is cut off from the world:
        # groups of sites abroad (no country label) are behind the border, and the cut is their
        # outage — also for ``layer_settle_s`` after it, while their members clear hysteresis.
        self.border_cut_at: datetime | None = None
        self._border = False

    def observe(self, m: Measurement) -> Transition | None:
        """Apply one subject measurement; return the transition it completes, if any."""
        member = (m.target_id, m.kind)
        tracker = self.trackers.get(member) or self._join(member, m.labels)
        window = tracker.window
        transition = tracker.observe(m)
        if not self._update(member, window) and tracker.last_grade is Grade.FAIL:
            # A new failure id: the evidence of groups that are out changes.
            self._dirty.update(k for k in self._groups_of[member] if k in self._raw)
        return transition

    def _update(self, member: MemberKey, window: Window | None) -> bool:
        """Bring the member's groups up to date after its tracker changed (``window``: its
        window before); return whether anything they count changed."""
        tracker = self.trackers[member]
        old, facts = self._facts[member], facts_of(tracker)
        if facts == old:
            return False
        self._facts[member] = facts
        self._interference.update(member, old, facts)
        kind, parts = member[1], parts_of(self.labels[member])
        groups = self._groups_of[member]
        moved = facts.state is not old.state
        for key in groups:
            tally = self.tallies[key]
            tally.apply(old, kind, parts, -1)
            tally.apply(facts, kind, parts, 1)
            if moved:
                tally.changed.add(member)
                tally.version += 1
                tally.move(old.state, window, facts.state, tracker.window)
                self._judge.starts.moved(key, member, (old.state, window), (facts.state, tracker.window))
        self._dirty.update(groups)
        return True

    def _join(self, member: MemberKey, labels: Labels) -> Tracker:
        tracker = self.trackers[member] = Tracker(f"{self.vantage_id}/{member[0]}/{member[1]}", self._t)
        self.labels[member] = labels
        self._facts[member] = UNKNOWN
        groups = self._groups_of[member] = group_keys(member[0], labels)
        joined = set(groups)
        for key in groups:
            tally = self.tallies.get(key)
            if tally is None:
                tally = self.tallies[key] = Tally()
                self._supersets[key] = joined - {key}
            else:
                self._supersets[key] &= joined
            tally.join(member)
            tally.version += 1
            self._judge.reset_baseline(key)
            self._judge.country.pop(key, None)
        self._judge.starts.first_version += 1
        self._dirty.update(groups)
        return tracker

    def forget_states(self) -> None:
        """After the vantage was offline: member states are unknown until re-measured."""
        for member, tracker in self.trackers.items():
            window = tracker.window
            tracker.forget_state()
            self._update(member, window)
        self._everything = True

    def ratios(self) -> dict[GroupKey, float]:
        """Share of known members reachable (up or degraded) per group; unjudged groups omitted."""
        counts = ((k, g.total) for k, g in self.tallies.items())
        return {k: (c.up + c.degraded) / c.known for k, c in counts if c.known}

    def evaluate(self, now: datetime) -> tuple[dict[GroupKey, Verdict], dict[GroupKey, Window]]:
        """Judge the groups that may have changed; return (reported verdicts, end windows of
        verdicts that ended)."""
        judge = self._judge
        index = int(now.timestamp() // self._t.baseline_bin_s)
        if self._everything or self._bin is None or index > self._bin:
            # First evaluation in a new bin: every fine group samples its baseline now.
            todo = set(self.tallies)
            self._everything = False
        else:
            todo = self._dirty | self._next
            while self._due and self._due[0][0] <= now:
                todo.add(heapq.heappop(self._due)[2])
        self._bin = index if self._bin is None else max(self._bin, index)
        self._dirty, self._next = set(), set()
        for key in todo:
            previous = self.reported.get(key)
            self._record(key, judge.judge(key, self.tallies[key], self._throttled(previous), now))
        for at, key in judge.due:
            self._seq += 1
            heapq.heappush(self._due, (at, self._seq, key))
        judge.due.clear()
        self._next |= judge.rebased
        judge.rebased.clear()
        self._inject(todo, now)
        reported = self._select(todo, now)
        ended = {k: judge.end_window(k, v, now) for k, v in self.reported.items() if k not in reported}
        for key in self._interference.settle():
            if key not in self._raw:
                judge.track_lost(key, None)
        for key, verdict in reported.items():
            self._recent[key] = now
            if key not in judge.starts.first_reported:
                judge.starts.first_reported[key] = now
                judge.starts.first_version += 1
            old = self.reported.get(key)
            if old is None or old.layer is not verdict.layer:
                self._next.add(key)
        self._next.update(ended)
        for key in ended:
            del judge.starts.first_reported[key]
        if ended:
            judge.starts.first_version += 1
            self._next.update(self._raw)
        judge.retired.clear()
        self.reported = reported
        return reported, ended

    def _inject(self, todo: set[GroupKey], now: datetime) -> None:
        """Make the narrowest group holding each interference layer's members a verdict
        (``interference.py``) unless it is judged out on its own; withdraw stale ones."""
        interference = self._interference
        chosen = interference.choice()
        for key in interference.withdraw(chosen):
            self._record(key, False)
            todo.add(key)
        for key, layer in chosen.items():
            if key in self._raw and key not in interference.injected:
                continue
            members = interference.members[layer]
            g = self.tallies[key]
            self._raw[key] = interference_verdict(
                key,
                layer,
                members,
                trackers=self.trackers,
                known=g.total.known,
                country=self._judge.country_of(key, g) or self._judge.home(),
                evidence_cap=self._t.evidence_cap,
            )
            self._judge.since[key] = interference.inject(key, members, now)
            self._judge.track_lost(key, interference.lost[key])
            if RANK[key[0]] < NARROWEST:
                self._broad_raw.add(key)
            todo.add(key)

    @staticmethod
    def _throttled(verdict: Verdict | None) -> bool:
        return verdict is not None and verdict.layer is Layer.THROTTLING

    def _record(self, key: GroupKey, outcome: Outcome) -> None:
        self._interference.injected.discard(key)
        if isinstance(outcome, Verdict):
            self._raw[key] = outcome
            self._unknown.discard(key)
            if RANK[key[0]] < NARROWEST:
                self._broad_raw.add(key)
            return
        self._raw.pop(key, None)
        self._broad_raw.discard(key)
        self._waiting.pop(key, None)
        self._young.discard(key)
        if outcome is None:
            self._unknown.add(key)
        else:
            self._unknown.discard(key)

    def _select(self, todo: set[GroupKey], now: datetime) -> dict[GroupKey, Verdict]:
        """The verdicts to report: those reported before and still out (or unknown), and new
        ones no broader or recent group (or border cut) explains and no forming broader group
        may absorb."""
        settle = self._t.layer_settle_s
        self._recent = {k: at for k, at in self._recent.items() if (now - at).total_seconds() < settle}
        cut = self.border_cut_at
        border = cut is not None and (now - cut).total_seconds() < settle
        explainers = (frozenset(self._broad_raw), frozenset(self._recent))
        every = explainers != self._explainers or border != self._border
        self._explainers, self._border = explainers, border
        ordered = sorted(explainers[0] | explainers[1], key=lambda k: (RANK[k[0]], k[1]))
        reported = dict(self.reported)
        candidates = set(self._waiting) if every else set(self._young)
        for key in todo:
            if key in self._raw:
                if key in self.reported and self._explained_again(key, ordered):
                    reported.pop(key, None)
                elif key in self.reported:
                    reported[key] = self._raw[key]
                elif self._waiting.get(key) != self.tallies[key].version:
                    candidates.add(key)
            elif key not in self._unknown:
                reported.pop(key, None)
        for key in candidates:
            if self._deferred(key, ordered, explainers[1], now):
                self._waiting[key] = self.tallies[key].version
            else:
                reported[key] = self._raw[key]
                self._waiting.pop(key, None)
                self._young.discard(key)
        return reported

    def _deferred(
        self, key: GroupKey, explainers: list[GroupKey], recent: frozenset[GroupKey], now: datetime
    ) -> bool:
        """A new verdict is not reported while a broader out group covers it, nor while (within
        ``layer_settle_s``) a broader group containing it has lost half of the threshold."""
        if self._border and not self._judge.country_of(key, self.tallies[key]):
            return True
        g = self.tallies[key]
        rank = RANK[key[0]]
        # Young: out, or a member lost, less than the settle period ago (a group explained by a
        # broader one until its other members went down is forming anew).
        changes = [self._judge.since[key], *(i.latest() for i in g.windows.values())]
        young = (now - max(c for c in changes if c is not None)).total_seconds() < self._t.layer_settle_s
        (self._young.add if young else self._young.discard)(key)
        # Explained by a broader out group (``explain.py``); just after any record ended, its
        # members are still clearing their hysteresis and explain losses the same way.
        not_up = len(g.members) - g.total.up
        for other in explainers:
            explains = (RANK[other[0]] < rank and other in self._broad_raw) or (
                other in recent and other != key
            )
            if explains and self._explain.covers(key, g, other, not_up):
                return True
        if young:
            # Failures elsewhere in a broader group may be the same event still arriving as
            # targets are re-probed: give the broader group the settle period to form.
            for other in self._supersets[key]:
                if RANK[other[0]] < rank and self.tallies[other].failing > g.failing:
                    return True
        return False

    def _explained_again(self, key: GroupKey, explainers: list[GroupKey]) -> bool:
        """A reported group whose loss now lies in a broader record reported before it (Almaty's
        fixed sites back, its mobile ones still down with the mobile cut) has ended."""
        first = self._judge.starts.first_reported
        g, rank = self.tallies[key], RANK[key[0]]
        not_up = len(g.members) - g.total.up
        return any(
            RANK[o[0]] < rank and o in self.reported and o in self._broad_raw and first[o] < first[key]
            and self._explain.covers(key, g, o, not_up)
            for o in explainers
        )
