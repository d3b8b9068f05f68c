"""The detector's metrics, built at scrape time from its current state (names in ``netwatch.metrics``).

- ``netwatch_outage_active{scope,entity,layer}``: 1 per open outage record; a closed record's
  series vanishes (no stale zeros). ``scope`` is the scope type, ``entity`` its member.
- ``netwatch_outage_start_time_seconds{...}`` / ``netwatch_outage_start_earliest_seconds{...}``:
  the open record's ``started_at`` and ``start_earliest`` (Unix epoch seconds): the truth lies
  between them; the latter is absent when no good measurement preceded the outage.
- ``netwatch_group_reachability_ratio{group_type,group}``: share (0..1) of a group's members with a
  known state that are reachable from this agent's vantage; groups of every scope but ``target``
  (a single target's reachability is its ``netwatch_probe_success``).
- ``netwatch_outages_total{scope,layer}``: outage records opened since the agent started.
- ``netwatch_detection_late_measurements_total``: measurements that reached the detector after one
  that finished later had been fed (more than ``lag_s`` late): only there may ``netwatch redetect``
  differ from what the agent recorded live.

Label values are scope types and layers (closed vocabularies) and entities/groups taken from the
config's labels, target ids and the vantage id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from netwatch.detect import GroupReachability
from netwatch.metrics import (
    GROUP_REACHABILITY_RATIO,
    LATE_MEASUREMENTS,
    OUTAGE_ACTIVE,
    OUTAGE_START_EARLIEST,
    OUTAGE_START_TIME,
    OUTAGES_TOTAL,
)
from netwatch.model import Outage, ScopeType

_OUTAGE_LABELS = ("scope", "entity", "layer")


class DetectionState(Protocol):
    """What the metrics read at scrape time (``DetectionService`` implements it)."""

    def active_outages(self) -> list[Outage]: ...

    def reachability(self) -> list[GroupReachability]: ...


class _Collector(Collector):
    """Scrape-time families from ``state``; reachability of ``vantage_id`` only."""

    def __init__(self, state: DetectionState, vantage_id: str) -> None:
        self._state = state
        self._vantage_id = vantage_id

    def collect(self) -> Iterator[Metric]:
        active = GaugeMetricFamily(OUTAGE_ACTIVE, "1 for each open outage record.", labels=_OUTAGE_LABELS)
        start = GaugeMetricFamily(
            OUTAGE_START_TIME,
            "Start of each open outage (its first failure observed), in Unix epoch seconds.",
            labels=_OUTAGE_LABELS,
        )
        earliest = GaugeMetricFamily(
            OUTAGE_START_EARLIEST,
            "Earliest possible start of each open outage (the last good measurement before it), "
            "in Unix epoch seconds.",
            labels=_OUTAGE_LABELS,
        )
        for outage in self._state.active_outages():
            labels = [outage.scope_type.value, outage.entity, outage.layer.value]
            active.add_metric(labels, 1.0)
            start.add_metric(labels, outage.started_at.timestamp())
            if outage.start_earliest is not None:
                earliest.add_metric(labels, outage.start_earliest.timestamp())
        ratio = GaugeMetricFamily(
            GROUP_REACHABILITY_RATIO,
            "Share of a group's targets with a known state that are reachable (up or degraded).",
            labels=("group_type", "group"),
        )
        for group in self._state.reachability():
            # A one-target group's ratio is that target's netwatch_probe_success: leaving those out
            # halves the detector's share of a scrape at 10,000 targets and loses nothing.
            if group.vantage_id == self._vantage_id and group.group_type is not ScopeType.TARGET:
                ratio.add_metric([group.group_type.value, group.group], group.ratio)
        yield from (active, start, earliest, ratio)


class DetectionMetrics:
    """Registers the detector's families in ``registry``; ``opened`` counts new records, ``late``
    late measurements."""

    def __init__(self, registry: CollectorRegistry, state: DetectionState, vantage_id: str) -> None:
        registry.register(_Collector(state, vantage_id))
        self._opened = Counter(
            OUTAGES_TOTAL,
            "Outage records opened, by scope type and layer.",
            ["scope", "layer"],
            registry=registry,
        )
        self._late = Counter(
            LATE_MEASUREMENTS,
            "Measurements fed to the detector after a later-finishing one (live may differ from redetect).",
            registry=registry,
        )

    def late(self, count: int) -> None:
        self._late.inc(count)

    def opened(self, outage: Outage) -> None:
        self._opened.labels(outage.scope_type.value, outage.layer.value).inc()
