"""Positive evidence of deliberate interference, reported without a loss share.

A bogon DNS answer or a foreign certificate is proof of a censor, even on a single target: a
group does not have to lose ``loss_threshold`` of its members for it to matter (two of a bank
category's six probes intercepted is TLS interception of the banks, not a 33 % loss). So, per
interference layer (``dns_tampering``, ``tls_interception``), the members *down* with it (their
own ``down_after`` hysteresis still applies: one bad answer does not page, and a timeout is never
such evidence) are reported at the narrowest group that holds them all: the target alone, or the
category, ASN, region ... they share. That group's verdict needs no loss share and no hold; it
competes with the other verdicts under the usual widening rule (a broader group out for the same
reason is reported instead, and narrower records inside it are explained).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from netwatch.detect.tally import Facts
from netwatch.detect.tracker import Tracker
from netwatch.detect.verdict import RANK, GroupKey, MemberKey, Verdict, bounds
from netwatch.model import Layer, TargetState

INTERFERENCE = (Layer.DNS_TAMPERING, Layer.TLS_INTERCEPTION)


class Interference:
    """Members down with positive evidence of interference, per layer, and the narrowest group
    holding each layer's members. Pure; updated as member facts change."""

    def __init__(self, groups_of: Mapping[MemberKey, list[GroupKey]]) -> None:
        self._groups_of = groups_of
        self.members: dict[Layer, set[MemberKey]] = {layer: set() for layer in INTERFERENCE}
        self._choice: dict[Layer, GroupKey] | None = {}
        # Groups whose current verdict is interference evidence (a verdict judged on its own
        # takes over: the caller discards it here), since when, and those withdrawn lately.
        self.injected: set[GroupKey] = set()
        self._since: dict[GroupKey, datetime] = {}
        # Every member down with an injected group's layer while its verdict lasted: their
        # recoveries date its end (the first ones after the interference stopped, not whichever
        # member happened to be probed last).
        self.lost: dict[GroupKey, set[MemberKey]] = {}
        self._withdrawn: set[GroupKey] = set()

    def inject(self, key: GroupKey, members: set[MemberKey], now: datetime) -> datetime:
        """``key`` carries an interference verdict over ``members`` now; return since when it has."""
        self.injected.add(key)
        self.lost.setdefault(key, set()).update(members)
        return self._since.setdefault(key, now)

    def withdraw(self, chosen: Mapping[GroupKey, Layer]) -> list[GroupKey]:
        """The injected groups no longer chosen (their verdicts must go), sorted."""
        gone = sorted(self.injected - set(chosen))
        self.injected.difference_update(gone)
        self._withdrawn.update(gone)
        return gone

    def settle(self) -> list[GroupKey]:
        """After an evaluation: forget the groups withdrawn during it (their end windows were
        taken); return them, sorted."""
        gone = sorted(self._withdrawn)
        for key in gone:
            self._since.pop(key, None)
            self.lost.pop(key, None)
        self._withdrawn.clear()
        return gone

    def update(self, member: MemberKey, old: Facts, new: Facts) -> None:
        """A member's facts changed."""
        for facts, add in ((old, False), (new, True)):
            if facts.state is TargetState.DOWN and facts.family in self.members:
                assert facts.family is not None
                if add:
                    self.members[facts.family].add(member)
                else:
                    self.members[facts.family].discard(member)
                self._choice = None

    def choice(self) -> dict[GroupKey, Layer]:
        """The narrowest group holding every member down with each interference layer (by rank,
        then key), for the layers with such members."""
        if self._choice is None:
            self._choice = {}
            for layer, members in self.members.items():
                common: set[GroupKey] | None = None
                for m in members:
                    groups = set(self._groups_of[m])
                    common = groups if common is None else common & groups
                if common:
                    self._choice[layer] = max(common, key=lambda k: (RANK[k[0]], k[1]))
        return {key: layer for layer, key in self._choice.items()}


def interference_verdict(
    key: GroupKey,
    layer: Layer,
    members: set[MemberKey],
    *,
    trackers: Mapping[MemberKey, Tracker],
    known: int,
    country: str,
    evidence_cap: int,
) -> Verdict:
    """The verdict for ``key`` holding ``members`` (down with ``layer``) of its ``known``
    members; dated by the members' own windows."""
    ordered = sorted(members)
    windows = [w for w in (trackers[m].window for m in ordered) if w is not None]
    start = bounds(windows)
    evidence = tuple(i for m in ordered for i in trackers[m].failing_ids)[:evidence_cap]
    fraction = round(min(1.0, len(members) / max(1, known)), 4)
    return Verdict(key, layer, fraction, country, start, start, len(members), evidence)
