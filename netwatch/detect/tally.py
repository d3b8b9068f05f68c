"""Per-group counters over member states, kept current as members change.

A group's judgement needs only counts (members known, up, degraded, down, over all members and per
probe-kind family; failure families of the members down; counts per region / network type part),
so keeping them incrementally makes judging a group O(parts) instead of O(members). ``Facts`` is
what one member contributes; a member's old facts are subtracted and its new ones added whenever
they change.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from datetime import datetime

from netwatch.detect.classify import CONNECT_KINDS, EXCHANGE_KINDS, Family, family, kind_family
from netwatch.detect.tracker import Grade, Tracker, Window
from netwatch.detect.verdict import MemberKey
from netwatch.model import Labels, Layer, TargetState

REACHABLE = (TargetState.UP, TargetState.DEGRADED)
# Label dimensions a group can be partitioned by (the homogeneity test).
DIMENSIONS = ("region", "network_type")


@dataclass(frozen=True, slots=True)
class Facts:
    """One member's contribution to its groups' counters."""

    state: TargetState | None
    family: Layer | None  # failure family of the latest failure, only while down
    failing: bool  # latest measurement not ok, or state neither up nor unknown
    answering: bool  # reachable (up or degraded) and its latest measurement did not fail
    slowing: bool  # still up, but its latest measurement was slow or partial


def facts_of(tracker: Tracker) -> Facts:
    state = tracker.state
    return Facts(
        state,
        family(tracker.last_failure) if state is TargetState.DOWN else None,
        tracker.last_grade not in (Grade.OK, None) or state not in (TargetState.UP, None),
        state in REACHABLE and tracker.last_grade is not Grade.FAIL,
        state is TargetState.UP and tracker.last_grade is Grade.DEGRADED,
    )


UNKNOWN = Facts(None, None, False, False, False)


def parts_of(labels: Labels) -> tuple[str, ...]:
    """The member's part in each of ``DIMENSIONS``."""
    return (labels.region, labels.network_type.value)


class WindowIndex:
    """The windows of a changing set of members, answering ``verdict.bounds`` in O(log n): the
    earliest ``at``, and the latest ``earliest`` not after it. Multisets kept sorted."""

    __slots__ = ("_ats", "_earliests")

    def __init__(self) -> None:
        self._ats: list[datetime] = []
        self._earliests: list[datetime] = []

    def add(self, w: Window) -> None:
        insort(self._ats, w.at)
        if w.earliest is not None:
            insort(self._earliests, w.earliest)

    def remove(self, w: Window) -> None:
        del self._ats[bisect_left(self._ats, w.at)]
        if w.earliest is not None:
            del self._earliests[bisect_left(self._earliests, w.earliest)]

    def latest(self) -> datetime | None:
        """The latest ``at`` (None when empty)."""
        return self._ats[-1] if self._ats else None

    def bounds(self) -> Window | None:
        """None when empty."""
        if not self._ats:
            return None
        at = self._ats[0]
        i = bisect_right(self._earliests, at)
        return Window(self._earliests[i - 1] if i else None, at)


@dataclass(slots=True)
class Counts:
    """State counts over some members of a group: all of them, or one probe-kind family."""

    members: int = 0
    known: int = 0
    up: int = 0
    degraded: int = 0
    down: int = 0
    # Per dimension: part value -> [known, down, degraded].
    parts: tuple[dict[str, list[int]], ...] = field(default_factory=lambda: tuple({} for _ in DIMENSIONS))

    def apply(self, state: TargetState, parts: tuple[str, ...], sign: int) -> None:
        """Add (sign 1) or remove (sign -1) one member in a known ``state``."""
        self.known += sign
        down, degraded = state is TargetState.DOWN, state is TargetState.DEGRADED
        for cells, value in zip(self.parts, parts, strict=True):
            cell = cells.setdefault(value, [0, 0, 0])
            cell[0] += sign
            cell[1] += sign * down
            cell[2] += sign * degraded
        if state is TargetState.UP:
            self.up += sign
        elif degraded:
            self.degraded += sign
        else:
            self.down += sign

    def copy(self) -> Counts:
        return Counts(
            self.members,
            self.known,
            self.up,
            self.degraded,
            self.down,
            tuple({value: list(cell) for value, cell in cells.items()} for cells in self.parts),
        )


@dataclass(slots=True)
class Tally:
    """Counters of one group. ``members`` keeps join order (it orders evidence)."""

    members: list[MemberKey] = field(default_factory=list)
    member_set: set[MemberKey] = field(default_factory=set)
    total: Counts = field(default_factory=Counts)
    # The family of every member while there is only one (its counts are ``total``); per family
    # counts once the group mixes families (kept only then: most groups are single targets).
    only: Family | None = None
    by_family: dict[Family, Counts] = field(default_factory=dict)
    failing: int = 0
    # Members up whose latest measurement was slow (on their way to degraded).
    slowing: int = 0
    families: dict[Layer, int] = field(default_factory=dict)
    # Members whose success shows a service answered end to end (http) with a known state, and
    # those of them answering (``Facts.answering``); tcp members answering.
    exchange_known: int = 0
    exchange_answering: int = 0
    connect_answering: int = 0
    # Bumped whenever a member joins or changes state (member windows change with states).
    version: int = 0
    # Windows of the members down / degraded (a group's start window when nothing explains it).
    windows: dict[TargetState, WindowIndex] = field(
        default_factory=lambda: {TargetState.DOWN: WindowIndex(), TargetState.DEGRADED: WindowIndex()}
    )
    # Members whose state changed since the group's lost set was last brought up to date.
    changed: set[MemberKey] = field(default_factory=set)

    def join(self, member: MemberKey) -> None:
        """Add a member (its state still unknown: it counts once it has one)."""
        self.members.append(member)
        self.member_set.add(member)
        self.total.members += 1
        fam = kind_family(member[1])
        if not self.by_family and self.only in (None, fam):
            self.only = fam
            return
        if self.only is not None:
            # The group mixes families from now on; so far every member was of the one family.
            self.by_family[self.only] = self.total.copy()
            self.by_family[self.only].members -= 1
            self.only = None
        counts = self.by_family.get(fam)
        if counts is None:
            counts = self.by_family[fam] = Counts()
        counts.members += 1

    def family_counts(self, fam: Family) -> Counts | None:
        """The counts of ``fam``'s members (None: the group has none)."""
        if self.only is not None:
            return self.total if self.only is fam else None
        return self.by_family.get(fam)

    @property
    def service_reachable(self) -> bool:
        """Some member proving a service answers is reachable and its latest measurement did not
        fail (a member still up but already failing is on its way down with the rest, not an
        allow-listed site): an http member, or a tcp one when no http member has a known state
        (a middlebox can complete TCP handshakes for sites whose TLS and HTTP then hang, so a
        connect alone does not show a site works)."""
        if self.exchange_known:
            return self.exchange_answering > 0
        return self.connect_answering > 0

    def move(
        self, old: TargetState | None, was: Window | None, new: TargetState | None, now: Window | None
    ) -> None:
        """A member changed state: keep ``windows`` current."""
        if old in self.windows and was is not None:
            self.windows[old].remove(was)
        if new in self.windows and now is not None:
            self.windows[new].add(now)

    def apply(self, f: Facts, kind: str, parts: tuple[str, ...], sign: int) -> None:
        """Add (sign 1) or remove (sign -1) one member's contribution."""
        if f.failing:
            self.failing += sign
        if f.slowing:
            self.slowing += sign
        state = f.state
        if state is None:
            return
        self.total.apply(state, parts, sign)
        if self.by_family:
            self.by_family[kind_family(kind)].apply(state, parts, sign)
        if state is TargetState.DOWN and f.family is not None:
            count = self.families.get(f.family, 0) + sign
            if count:
                self.families[f.family] = count
            else:
                del self.families[f.family]
        if kind in EXCHANGE_KINDS:
            self.exchange_known += sign
            self.exchange_answering += sign * f.answering
        elif kind in CONNECT_KINDS:
            self.connect_answering += sign * f.answering
