"""Whether one group's loss is explained by another's: the test behind the widening rule.

A narrower group is explained by a broader out group (or a record that just ended) when most
(``homogeneity``) of what it lost lies inside that group and what lies outside it is not lost
(``loss_threshold``): a category of telecom sites during a mobile cut is the mobile cut, but
Almaty dark beyond the mobile cut (its fixed sites down too) is Almaty's own outage.
"""

from __future__ import annotations

from netwatch.detect.tally import Tally
from netwatch.detect.thresholds import Thresholds
from netwatch.detect.tracker import Tracker
from netwatch.detect.verdict import GroupKey, MemberKey
from netwatch.model import TargetState


class Explanation:
    """Reads one vantage's trackers, tallies and superset index (kept by ``VantageGroups``)."""

    def __init__(
        self,
        thresholds: Thresholds,
        trackers: dict[MemberKey, Tracker],
        tallies: dict[GroupKey, Tally],
        supersets: dict[GroupKey, set[GroupKey]],
    ) -> None:
        self._t = thresholds
        self._trackers = trackers
        self._tallies = tallies
        self._supersets = supersets

    def covers(self, key: GroupKey, g: Tally, other: GroupKey, not_up: int) -> bool:
        """Most (``homogeneity``) of what ``key`` lost lies in ``other``, and what lies outside
        it is not lost (``loss_threshold``)."""
        inside, lost_inside = self.overlap(key, g, other, not_up)
        outside, lost_outside = len(g.members) - inside, not_up - lost_inside
        return lost_inside >= self._t.homogeneity * not_up and (
            not outside or lost_outside < self._t.loss_threshold * outside
        )

    def overlap(self, key: GroupKey, g: Tally, other: GroupKey, not_up: int) -> tuple[int, int]:
        """How many of ``key``'s members belong to ``other`` as well, and how many of those are
        not up."""
        if other in self._supersets[key]:
            return len(g.members), not_up
        o = self._tallies[other]
        if key in self._supersets[other]:
            return len(o.members), len(o.members) - o.total.up
        small, large = (g, o) if len(g.members) <= len(o.members) else (o, g)
        shared = [m for m in small.members if m in large.member_set]
        return len(shared), sum(1 for m in shared if self._trackers[m].state is not TargetState.UP)
