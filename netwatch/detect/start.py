"""When a group's outage started: the start windows of its affected members, less those of
members already explained by other records.

A national blackout starts when the fixed networks fail, not when mobile had failed hours
earlier; Almaty's own outage when its fixed networks fail, not when its mobile sites went down
with the mobile cut: members of the other records reported (and still open) do not date it
(unless nothing of its own was lost). Per group an index of its own affected members' windows is
kept current as members change (``moved``), valid while (since, wanted state,
``first_version``) holds; the caller bumps ``first_version`` whenever a record is first reported
or ends.
"""

from __future__ import annotations

from datetime import datetime

from netwatch.detect.tally import Tally, WindowIndex
from netwatch.detect.tracker import Tracker, Window
from netwatch.detect.verdict import GroupKey, MemberKey
from netwatch.model import TargetState

Seen = tuple[TargetState | None, Window | None]  # a member's state and window


class _Own:
    """Windows of a group's affected members outside the records reported before it went out
    (``explained``), valid while ``stamp`` (since, wanted state, first-report version) holds."""

    __slots__ = ("explained", "index", "stamp", "wanted")

    def __init__(
        self, stamp: tuple[datetime, TargetState, int], wanted: TargetState, explained: set[MemberKey]
    ):
        self.stamp = stamp
        self.wanted = wanted
        self.explained = explained
        self.index = WindowIndex()


def bounds_or_fail(window: Window | None) -> Window:
    if window is None:
        raise ValueError("a group out with no affected member")
    return window


class StartWindows:
    """Start windows of one vantage's groups. The caller keeps ``first_reported`` (the groups
    reported now, and when each was first reported) and bumps ``first_version`` when that set
    changes or a member joins (cached windows may date differently then)."""

    def explained(self, key: GroupKey) -> set[MemberKey]:
        """Members of the other groups reported now."""
        return {m for k in self.first_reported if k != key for m in self._tallies[k].members}

    def __init__(self, trackers: dict[MemberKey, Tracker], tallies: dict[GroupKey, Tally]) -> None:
        self._trackers = trackers
        self._tallies = tallies
        self.first_reported: dict[GroupKey, datetime] = {}
        self.first_version = 0
        self._own: dict[GroupKey, _Own] = {}

    def window(self, key: GroupKey, g: Tally, wanted: TargetState, since: datetime) -> Window:
        """The start window of ``key``, out (``wanted``: down or degraded) since ``since``."""
        own = self._own.get(key)
        stamp = (since, wanted, self.first_version)
        if own is None or own.stamp != stamp:
            # A group of one: excluding its member would leave nothing, which dates it by its
            # member all the same (and a set per target group would cost memory at scale).
            explained = self.explained(key) if len(g.members) > 1 else set()
            own = self._own[key] = _Own(stamp, wanted, explained)
            for m in g.members if explained else ():
                tracker = self._trackers[m]
                if m not in explained and tracker.state is wanted and tracker.window is not None:
                    own.index.add(tracker.window)
        window = own.index.bounds() if own.explained else None
        # Nothing of its own lost: the affected members date it after all.
        return window or bounds_or_fail(g.windows[wanted].bounds())

    def moved(self, key: GroupKey, member: MemberKey, before: Seen, after: Seen) -> None:
        """A member of ``key`` changed (state, window): keep its own-loss index current."""
        own = self._own.get(key)
        if own is None or not own.explained or member in own.explained:
            return
        if before[0] is own.wanted and before[1] is not None:
            own.index.remove(before[1])
        if after[0] is own.wanted and after[1] is not None:
            own.index.add(after[1])
