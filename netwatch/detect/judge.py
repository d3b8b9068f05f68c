"""Judging one group from its counters: out, throttled, fine, or unknown.

A group is judged as a whole and, when it mixes probe-kind families (``classify.Family``: DNS,
connect, exchange), per family with enough members: each such *unit* against its own baselines.
The group is *out* when some unit's share of normally reachable members now down reaches
``loss_threshold``, and *throttled* when some unit's share degraded beyond its baseline reaches
``throttle_threshold``: a national web cut with DNS answering is out although half its members
(the DNS ones) still work. A loss must also be spread over the unit (``homogeneity``): a country
whose loss sits in its mobile networks is a mobile outage, not a national one. The unit that
trips the group gives the verdict's ``fraction`` and ``affected``; the layer comes from all
members' failures. Judging reads the group's ``Tally`` (O(parts)); only a layer change, a start window
whose inputs changed, and an end window walk the members.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from netwatch.detect.baseline import Baseline
from netwatch.detect.classify import Family, classify
from netwatch.detect.start import StartWindows
from netwatch.detect.tally import DIMENSIONS, REACHABLE, Counts, Tally
from netwatch.detect.thresholds import Thresholds
from netwatch.detect.tracker import Tracker, Window
from netwatch.detect.verdict import GroupKey, MemberKey, Verdict, bounds, most_common
from netwatch.model import Labels, Layer, ScopeType, TargetState

# Partitions used to test that a loss is spread over a group rather than concentrated.
_PARTS = {
    ScopeType.COUNTRY: ("region", "network_type"),
    ScopeType.NETWORK_TYPE: ("region",),
    ScopeType.ASN: ("region",),
    ScopeType.CATEGORY: ("region", "network_type"),
    ScopeType.REGION: ("network_type",),
}
_PART_INDEX = {scope: tuple(DIMENSIONS.index(d) for d in dims) for scope, dims in _PARTS.items()}

# Layers a throttle can produce when the slowest probes time out (not interference evidence).
_SLOWED = frozenset({Layer.TCP_IP, Layer.TLS, Layer.DNS, Layer.BLACKOUT})
Outcome = Verdict | bool | None  # a verdict, False (fine) or None (too little known: keep the last)
_Share = tuple[float, int, Counts]  # a unit's share lost (or degraded), its index, its counts
_Sample = tuple[tuple[Baseline, Baseline], float, float]  # its baselines, reach, degraded share


class Judge:
    """Per-group judgement state of one vantage (baselines, since, layer, lost members) and the
    judgement itself. Pure; the clock comes in.

    After each ``judge`` call the caller drains ``due`` (groups holding until a time: re-judge
    then) and ``rebased`` (groups whose baseline moved: re-judge at the next evaluation).
    """

    def __init__(
        self,
        thresholds: Thresholds,
        trackers: dict[MemberKey, Tracker],
        labels: dict[MemberKey, Labels],
        tallies: dict[GroupKey, Tally],
    ) -> None:
        self._t = thresholds
        self._trackers = trackers
        self._labels = labels
        self._tallies = tallies
        # Majority country of each group's members; dropped when a member joins.
        self.country: dict[GroupKey, str] = {}
        self.since: dict[GroupKey, datetime] = {}
        self.due: list[tuple[datetime, GroupKey]] = []
        self.rebased: set[GroupKey] = set()
        # Per group and unit (all members: None; or a probe-kind family): reach and degraded share.
        self._base: dict[GroupKey, dict[Family | None, tuple[Baseline, Baseline]]] = {}
        self._layer_since: dict[GroupKey, tuple[Layer, Window]] = {}
        self._lost: dict[GroupKey, set[MemberKey]] = {}
        # Lost sets of groups that turned fine during the current evaluation (their end window).
        self.retired: dict[GroupKey, set[MemberKey]] = {}
        self.starts = StartWindows(trackers, tallies)
        self._home_of: tuple[int, str] | None = None
        # The latest layer change of a group out: when, and the layer, layer start and lost
        # members before it (before the first of changes less than layer_settle_s apart: the
        # ledger keeps a record's layer until a new one holds that long).
        self._flipped: dict[GroupKey, tuple[datetime, Layer, Window, set[MemberKey]]] = {}

    def reset_baseline(self, key: GroupKey) -> None:
        """A member joined: the group's normal is not known yet."""
        self._base[key] = {}

    def judge(self, key: GroupKey, g: Tally, throttled: bool, now: datetime) -> Outcome:
        """Judge ``key`` now; ``throttled``: its last reported verdict is ``throttling``."""
        t = self._t
        if not g.total.known or g.total.known < t.min_known_share * g.total.members:
            return None
        out, slow, samples = self._measure(key, g, throttled)
        wanted = TargetState.DOWN if out else TargetState.DEGRADED if slow else None
        if wanted is None:
            self.since.pop(key, None)
            self._layer_since.pop(key, None)
            lost = self._lost.pop(key, None)
            if lost is not None:
                self.retired[key] = lost
            for (base_reach, base_degraded), reach, degraded in samples:
                moved = base_reach.sample(now, reach)
                if base_degraded.sample(now, degraded) or moved:
                    self.rebased.add(key)
            return False
        # The unit that trips the group: the largest share lost among those spread over it
        # (ties: all members first, then the families in their fixed order); no loss spread,
        # a throttle spread (slow members of a throttled group going down one by one).
        tripped = self._tripped(key, out, TargetState.DOWN) if out else None
        if tripped is None and slow:
            wanted = TargetState.DEGRADED
            tripped = self._tripped(key, slow, wanted)
        if tripped is None:
            self.since.pop(key, None)
            return False
        fraction, counts = tripped
        small = g.total.members < t.small_group_size
        if small and any(self._trackers[m].flapping for m in g.members):
            # A single flaky target must not page: a small group whose member flaps is not out.
            self.since.pop(key, None)
            return False
        since = self.since.setdefault(key, now)
        hold = t.small_group_hold_s if small else t.group_hold_s
        if (now - since).total_seconds() < hold:
            self.due.append((since + timedelta(seconds=hold), key))
            return False
        affected = counts.down if wanted is TargetState.DOWN else counts.degraded
        layer = self._layer(g, wanted)
        held = self._hold_layer(key, g, layer, wanted, now)
        g.changed.clear()
        return Verdict(
            key=key,
            layer=layer,
            fraction=round(min(1.0, fraction), 4),
            country=self.country_of(key, g) or self.home(),
            start=self.starts.window(key, g, wanted, since),
            layer_since=held[1],
            affected=affected,
            evidence=self._evidence(g, wanted),
        )

    def _tripped(
        self, key: GroupKey, units: list[_Share], wanted: TargetState
    ) -> tuple[float, Counts] | None:
        ranked = sorted(units, key=lambda share: (-share[0], share[1]))
        return next(((f, c) for f, _, c in ranked if self._spread(key, c, wanted)), None)

    def _layer(self, g: Tally, wanted: TargetState) -> Layer:
        if wanted is TargetState.DEGRADED:
            return Layer.THROTTLING
        dns = g.family_counts(Family.DNS)
        layer = classify(g.families, g.service_reachable, dns.known if dns else 0, dns.down if dns else 0)
        reachable, slowed = g.total.up + g.total.degraded, g.total.degraded + g.slowing
        if layer in _SLOWED and reachable and slowed >= self._t.throttle_threshold * reachable:
            # What still answers is slow (degraded, or up with a slow latest probe): the probes
            # that fail are timing out under a throttle, not cut off.
            return Layer.THROTTLING
        return layer

    def _hold_layer(
        self, key: GroupKey, g: Tally, layer: Layer, wanted: TargetState, now: datetime
    ) -> tuple[Layer, Window]:
        """Keep the group's layer, its start and the members lost under it current; remember
        what a layer change replaced (``_flipped``)."""
        held = self._layer_since.get(key)
        if held is None or held[0] is not layer:
            flip = self._flipped.get(key)
            if held is None:
                self._flipped.pop(key, None)
            elif flip is not None and (now - flip[0]).total_seconds() < self._t.layer_settle_s:
                self._flipped[key] = (now, *flip[1:])  # still the layer before the first change
            else:
                self._flipped[key] = (now, held[0], held[1], self._lost[key])
            windows = [w for w in (self._trackers[m].window for m in g.members) if w is not None]
            held = self._layer_since[key] = (layer, max(windows, key=lambda w: w.at))
            self._lost[key] = {m for m in g.members if self._trackers[m].state is wanted}
        else:
            self._lost[key].update(m for m in g.changed if self._trackers[m].state is wanted)
        return held

    def _measure(
        self, key: GroupKey, g: Tally, throttled: bool
    ) -> tuple[list[_Share], list[_Share], list[_Sample]]:
        """Judge every unit of ``key`` against its own baselines: the units out, the units
        throttled (and not out), and what each would sample were the group fine."""
        t = self._t
        base = self._base[key]
        out: list[_Share] = []
        slow: list[_Share] = []
        samples: list[_Sample] = []
        for i, (unit, c) in enumerate(self._units(g)):
            pair = base.get(unit)
            if pair is None:
                pair = base[unit] = (Baseline(t, 1.0), Baseline(t, 0.0))
            reach = (c.up + c.degraded) / c.known
            degraded = c.degraded / c.known
            base_reach = pair[0].value()
            loss = max(0.0, 1.0 - reach / base_reach) if base_reach > 0 else 0.0
            excess = degraded - pair[1].value()
            if loss >= t.loss_threshold and c.down:
                out.append((loss, i, c))
            elif excess >= t.throttle_threshold or (
                # Degraded members going down one by one: still throttled until the loss is out.
                throttled and 1.0 - reach + excess >= t.throttle_threshold
            ):
                slow.append((excess, i, c))
            samples.append((pair, reach, degraded))
        return out, slow, samples

    def _units(self, g: Tally) -> list[tuple[Family | None, Counts]]:
        """What is judged: all members (``None``), and, in a group mixing probe-kind families,
        each family with at least ``small_group_size`` members of which ``min_known_share`` are
        known (one dead resolver among a region's web sites is that resolver's own outage)."""
        units: list[tuple[Family | None, Counts]] = [(None, g.total)]
        if g.by_family:
            t = self._t
            for fam in Family:
                c = g.by_family.get(fam)
                if c and c.members >= t.small_group_size and c.known >= t.min_known_share * c.members:
                    units.append((fam, c))
        return units

    def home(self) -> str:
        """The vantage's country (most common among its subjects): a group of sites abroad
        measured from it (messengers) is an event of that country (its incidents)."""
        count = len(self._labels)
        if self._home_of is None or self._home_of[0] != count:
            self._home_of = (count, most_common(labels.country for labels in self._labels.values()))
        return self._home_of[1]

    def country_of(self, key: GroupKey, g: Tally) -> str:
        """The most common country label among the group's members (cached)."""
        country = self.country.get(key)
        if country is None:
            country = self.country[key] = most_common(self._labels[m].country for m in g.members)
        return country

    def _spread(self, key: GroupKey, c: Counts, wanted: TargetState) -> bool:
        """Most (``homogeneity``) of the unit's known members sit in parts (by region / network
        type) that lost ``wanted`` themselves (throttled: members slow or, slow members going
        down one by one under a throttle, down)."""
        down = wanted is TargetState.DOWN
        threshold = self._t.loss_threshold if down else self._t.throttle_threshold
        for dim in _PART_INDEX.get(key[0], ()):
            in_lost = sum(
                cell[0]
                for cell in c.parts[dim].values()
                if cell[0] and (cell[1] if down else cell[1] + cell[2]) / cell[0] >= threshold
            )
            if in_lost < self._t.homogeneity * c.known:
                return False
        return True

    def _evidence(self, g: Tally, wanted: TargetState) -> tuple[str, ...]:
        """Failing measurement ids of the affected members, in member order, at most the cap."""
        cap = self._t.evidence_cap
        ids: list[str] = []
        for m in g.members:
            tracker = self._trackers[m]
            if tracker.state is wanted:
                ids.extend(tracker.failing_ids)
                if len(ids) >= cap:
                    break
        return tuple(ids[:cap])

    def track_lost(self, key: GroupKey, members: set[MemberKey] | None) -> None:
        """Set (None: drop) the members whose recoveries date the end of ``key``'s verdict, for a
        verdict not judged here (interference)."""
        if members is None:
            self._lost.pop(key, None)
        else:
            self._lost[key] = set(members)

    def end_window(self, key: GroupKey, verdict: Verdict, now: datetime) -> Window:
        """When a reported verdict ended, from the recoveries of the members it lost."""
        lost = self._lost.get(key) or self.retired.get(key) or set()
        layer, since = verdict.layer, verdict.layer_since.at
        flip = self._flipped.pop(key, None)
        if flip is not None and (now - flip[0]).total_seconds() < self._t.layer_settle_s:
            # A layer held less than the settle period never replaced the record's: the members
            # lost before it date the end (a cut's members answering slowly at first).
            _, layer, window, lost = flip
            since = window.at
        # Only members lost under the current layer date its end, and only the last cluster of
        # their recoveries (those not before the latest one's lower bound): allow-listed sites
        # that came back when the regime began say nothing about when it ended. A member down
        # recovered when it left ``down`` (slow first answers after a cut do not delay it); one
        # slowed by a throttle when it is up again. Sorted, so a tie between equal recovery
        # times resolves the same way in every process.
        # Members of the other records open now date those records, not this one (Almaty's
        # mobile sites come back with the mobile network, after Almaty's own cut ended).
        lost = (lost - self.starts.explained(key)) or lost
        windows = []
        for t in (self._trackers[m] for m in sorted(lost)):
            if t.state not in REACHABLE:
                continue
            if t.recovered is not None and t.recovered.at > since:
                windows.append(t.recovered)
            elif layer is Layer.THROTTLING and t.state is TargetState.UP and t.window and t.window.at > since:
                windows.append(t.window)
        if not windows:
            return Window(since, now)
        last = max(windows, key=lambda w: w.at)
        floor = last.earliest or last.at
        return bounds([w for w in windows if w.at >= floor])
