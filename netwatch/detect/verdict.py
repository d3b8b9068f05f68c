"""Shared vocabulary of group judgement: keys, ranks, the ``Verdict`` record and window helpers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from netwatch.detect.tracker import Window
from netwatch.model import Labels, Layer, NetworkType, ScopeType

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
NARROWEST = RANK[ScopeType.TARGET]


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


def bounds(windows: list[Window]) -> Window:
    """The tightest window consistent with all: the earliest observation, and the latest earlier
    bound that does not pass it."""
    at = min(w.at for w in windows)
    lower = [w.earliest for w in windows if w.earliest is not None and w.earliest <= at]
    return Window(max(lower) if lower else None, at)


def most_common(values: Iterable[str]) -> str:
    counts = Counter(v for v in values if v)
    return min(counts, key=lambda v: (-counts[v], v)) if counts else ""
