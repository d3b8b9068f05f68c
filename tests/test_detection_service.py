"""Live detection: buffering by finish time, the streaming re-order replay uses, persistence
with notifications queued once, storage failures that never reach the probe threads, threshold
reloads, and the exact metrics exposition."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.utils import floatToGoString

from netwatch.detect import GroupReachability, Thresholds
from netwatch.detection import DetectionService, notification
from netwatch.detection_metrics import DetectionMetrics
from netwatch.model import (
    Failure,
    Labels,
    Layer,
    Measurement,
    NetworkType,
    Outage,
    OutageChange,
    OutageEvent,
    Position,
    ScopeType,
    Transition,
    Vantage,
)
from netwatch.replay import canonical, canonical_key, replay
from netwatch.store import Store, db_path

T0 = datetime(2022, 1, 5, 10, 0, tzinfo=UTC)
VANTAGE = Vantage("v1", Position.OUTSIDE)
THRESHOLDS = Thresholds(down_after=2, up_after=2, small_group_hold_s=0.0, layer_settle_s=20.0)
TARGETS = ("a", "b", "c", "d")
REGIONS = {"a": "KZ-47", "b": "KZ-47", "c": "KZ-75", "d": "KZ-75"}


def measurement(target: str, step: int, failed: bool) -> Measurement:
    """Every target probed every 10 s; the cut lasts from step 6 to step 11."""
    return Measurement(
        id=f"{target}-{step}",
        target_id=target,
        kind="http",
        vantage_id=VANTAGE.id,
        started_at=T0 + timedelta(seconds=10 * step + TARGETS.index(target)),
        duration_s=0.2,
        failure=Failure.HTTP_TIMEOUT if failed else None,
        labels=Labels("KZ", REGIONS[target], "9198", "KT", NetworkType.FIXED, "news"),
    )


HISTORY = [measurement(t, step, 6 <= step < 12) for step in range(20) for t in TARGETS]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def service(path: Path, clock: Clock, errors: list[str] | None = None) -> DetectionService:
    on_error = errors.append if errors is not None else None
    return DetectionService(
        THRESHOLDS, VANTAGE, db_path(path), wall=clock, lag_s=5.0, on_store_error=on_error, registry=None
    )


def feed_all(detection: DetectionService, clock: Clock) -> None:
    """Deliver the history out of order within each round (as probe threads do), pumping as the
    wall clock moves."""
    for step in range(20):
        for m in reversed(HISTORY[step * 4 : step * 4 + 4]):
            detection(m)
        clock.now = T0 + timedelta(seconds=10 * step + 9)
        detection.pump()
    detection.flush()


def test_events_are_persisted_and_match_a_replay(tmp_path: Path) -> None:
    clock = Clock()
    detection = service(tmp_path, clock)
    feed_all(detection, clock)
    store = Store(db_path(tmp_path))
    stored = store.outages(limit=100).outages
    assert [(o.scope_type, o.entity, o.is_open) for o in stored] == [(ScopeType.COUNTRY, "KZ", False)]
    assert stored == replay(HISTORY, THRESHOLDS, [VANTAGE]).outages
    transitions = list(store.transitions(T0, T0 + timedelta(hours=1)))
    assert len(transitions) == 12  # each target: first up, down, up again
    changes = [e.change for e in detection.recent_events()]
    assert changes[0] is OutageChange.OPENED and changes[-1] is OutageChange.CLOSED
    assert store.pending_notifications() == len(detection.recent_events())


def test_notifications_are_queued_once_when_the_same_events_recur(tmp_path: Path) -> None:
    clock = Clock()
    feed_all(service(tmp_path, clock), clock)
    store = Store(db_path(tmp_path))
    queued = store.pending_notifications()
    clock = Clock()
    again = service(tmp_path, clock)
    feed_all(again, clock)  # a second detector over the same measurements: the same events
    assert store.pending_notifications() == queued
    items = store.claim_notifications("test", T0 + timedelta(days=1), limit=100)
    assert items[0].kind == "outage.opened" and items[-1].kind == "outage.closed"
    assert items[0].payload == again.recent_events()[0].to_dict()


def test_the_notifier_is_woken_once_per_batch_that_queued_notifications(tmp_path: Path) -> None:
    clock, woken, store = Clock(), [], Store(db_path(tmp_path))
    detection = DetectionService(THRESHOLDS, VANTAGE, db_path(tmp_path), wall=clock, lag_s=5.0,
                                 on_queued=lambda: woken.append(store.pending_notifications()))
    feed_all(detection, clock)
    # One wake per pump that stored outage events (the opening round, the closing one), each
    # after the commit: the notifier it wakes finds that pump's rows already queued.
    assert len(woken) == 2 and woken[0] < woken[1] == len(detection.recent_events())


def test_measurements_wait_for_the_lag_then_go_in_finish_order(tmp_path: Path) -> None:
    clock = Clock()
    detection = service(tmp_path, clock)
    for m in reversed(HISTORY[:8]):  # two rounds, delivered newest first
        detection(m)
    clock.now = T0 + timedelta(seconds=16.2)  # lag 5 s: releases what finished up to 11.2 s past T0
    assert [e.measurement_id for e in detection.pump() if isinstance(e, Transition)] == ["a-1", "b-1"]
    clock.now = T0 + timedelta(seconds=30)
    assert [e.measurement_id for e in detection.pump() if isinstance(e, Transition)] == ["c-1", "d-1"]


def test_a_measurement_handed_over_after_the_lag_is_fed_late_and_counted(tmp_path: Path) -> None:
    clock = Clock()
    registry = CollectorRegistry()
    detection = DetectionService(THRESHOLDS, VANTAGE, db_path(tmp_path), wall=clock, lag_s=5.0,
                                 registry=registry)
    for m in HISTORY[:8]:
        if m.id != "a-1":
            detection(m)
    clock.now = T0 + timedelta(seconds=30)
    detection.pump()
    detection(HISTORY[4])  # a-1, finished at 10.2 s: over 5 s after c-1 and d-1 were fed
    detection.pump()
    assert registry.get_sample_value("netwatch_detection_late_measurements_total") == 1.0


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 30)), max_size=60))
def test_canonical_streams_start_order_into_finish_order(probes: list[tuple[int, int]]) -> None:
    """As stored (by start, ties in insertion order) in, exactly finish-then-id order out."""
    stream = sorted(
        (Measurement(id=f"m{i:02d}", target_id="t", kind="tcp", vantage_id="v1",
                     started_at=T0 + timedelta(seconds=start / 4), duration_s=length / 8, failure=None)
         for i, (start, length) in enumerate(probes)),
        key=lambda m: m.started_at)
    assert [m.id for m in canonical(stream)] == [m.id for m in sorted(stream, key=canonical_key)]


def test_a_failing_store_is_counted_and_caught_up_later(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the data directory should be")
    clock = Clock()
    errors: list[str] = []
    detection = service(blocker, clock, errors)
    feed_all(detection, clock)  # no exception reaches the caller
    assert errors and set(errors) == {"detector"}
    assert detection.recent_events()[-1].change is OutageChange.CLOSED
    blocker.unlink()
    detection.pump()  # nothing new: the unsaved events are written now
    stored = Store(db_path(blocker)).outages(limit=100).outages
    assert stored == replay(HISTORY, THRESHOLDS, [VANTAGE]).outages


def test_new_thresholds_restart_the_detector_equal_ones_keep_it(tmp_path: Path) -> None:
    clock = Clock()
    detection = service(tmp_path, clock)
    for m in HISTORY[:36]:  # into the cut: the country outage is open
        detection(m)
    clock.now = T0 + timedelta(seconds=100)
    detection.pump()
    assert len(detection.active_outages()) == 1
    assert detection.apply(THRESHOLDS) is False
    assert len(detection.active_outages()) == 1
    assert detection.apply(THRESHOLDS.model_copy(update={"down_after": 3})) is True
    assert detection.active_outages() == []


def test_notification_kinds_and_keys() -> None:
    opened = next(e for e in replay(HISTORY, THRESHOLDS, [VANTAGE]).events if isinstance(e, OutageEvent))
    note = notification(opened)
    assert note.kind == "outage.opened" and note.payload == opened.to_dict()
    assert note.dedupe_key is not None and note.dedupe_key.startswith(f"{opened.outage.id}:opened:")
    offline = _outage(ScopeType.VANTAGE, "v1", Layer.VANTAGE_OFFLINE, None)
    assert (
        notification(OutageEvent(T0, OutageChange.CLOSED, offline, "recovered")).kind
        == "vantage_offline.closed"
    )


def _outage(scope: ScopeType, entity: str, layer: Layer, earliest: datetime | None) -> Outage:
    return Outage(
        id=f"out-{entity}",
        incident_id="inc-1",
        scope_type=scope,
        entity=entity,
        layer=layer,
        started_at=T0,
        start_earliest=earliest,
    )


class FixedState:
    def active_outages(self) -> list[Outage]:
        return [
            _outage(ScopeType.COUNTRY, "KZ", Layer.BLACKOUT, T0 - timedelta(seconds=60)),
            _outage(ScopeType.VANTAGE, "v1", Layer.VANTAGE_OFFLINE, None),
        ]

    def reachability(self) -> list[GroupReachability]:
        return [
            GroupReachability("v1", ScopeType.COUNTRY, "KZ", 0.25),
            GroupReachability("v1", ScopeType.REGION, "KZ-47", 0.0),
            GroupReachability("other", ScopeType.COUNTRY, "KZ", 1.0),  # not this agent's vantage
            GroupReachability("v1", ScopeType.TARGET, "kz-news/http", 0.0),  # = its probe_success: left out
        ]


LATE = "netwatch_detection_late_measurements"
KZ = 'entity="KZ",layer="blackout",scope="country"'
V1 = 'entity="v1",layer="vantage_offline",scope="vantage"'
_number: Callable[[float], str] = floatToGoString


def test_metrics_exposition_is_exact() -> None:
    registry = CollectorRegistry()
    metrics = DetectionMetrics(registry, FixedState(), "v1")
    metrics.opened(FixedState().active_outages()[0])
    assert generate_latest(registry).decode() == (
        "# HELP netwatch_outage_active 1 for each open outage record.\n"
        "# TYPE netwatch_outage_active gauge\n"
        f"netwatch_outage_active{{{KZ}}} 1.0\n"
        f"netwatch_outage_active{{{V1}}} 1.0\n"
        "# HELP netwatch_outage_start_time_seconds Start of each open outage (its first failure observed), "
        "in Unix epoch seconds.\n"
        "# TYPE netwatch_outage_start_time_seconds gauge\n"
        f"netwatch_outage_start_time_seconds{{{KZ}}} 1.6413768e+09\n"
        f"netwatch_outage_start_time_seconds{{{V1}}} 1.6413768e+09\n"
        "# HELP netwatch_outage_start_earliest_seconds Earliest possible start of each open outage (the last "
        "good measurement before it), in Unix epoch seconds.\n"
        "# TYPE netwatch_outage_start_earliest_seconds gauge\n"
        f"netwatch_outage_start_earliest_seconds{{{KZ}}} 1.64137674e+09\n"
        "# HELP netwatch_group_reachability_ratio Share of a group's targets with a known state that are "
        "reachable (up or degraded).\n"
        "# TYPE netwatch_group_reachability_ratio gauge\n"
        'netwatch_group_reachability_ratio{group="KZ",group_type="country"} 0.25\n'
        'netwatch_group_reachability_ratio{group="KZ-47",group_type="region"} 0.0\n'
        "# HELP netwatch_outages_total Outage records opened, by scope type and layer.\n"
        "# TYPE netwatch_outages_total counter\n"
        'netwatch_outages_total{layer="blackout",scope="country"} 1.0\n'
        "# HELP netwatch_outages_created Outage records opened, by scope type and layer.\n"
        "# TYPE netwatch_outages_created gauge\n"
        f'netwatch_outages_created{{layer="blackout",scope="country"}} {_created(registry)}\n'
        "# HELP netwatch_detection_late_measurements_total Measurements fed to the detector after a "
        "later-finishing one (live may differ from redetect).\n"
        "# TYPE netwatch_detection_late_measurements_total counter\n"
        "netwatch_detection_late_measurements_total 0.0\n"
        "# HELP netwatch_detection_late_measurements_created Measurements fed to the detector after a "
        "later-finishing one (live may differ from redetect).\n"
        "# TYPE netwatch_detection_late_measurements_created gauge\n"
        f"netwatch_detection_late_measurements_created {_created(registry, LATE)}\n"
    )


def _created(registry: CollectorRegistry, family: str = "netwatch_outages") -> str:
    labels = {"scope": "country", "layer": "blackout"} if family == "netwatch_outages" else {}
    value = registry.get_sample_value(f"{family}_created", labels)
    assert value is not None
    return _number(value)
