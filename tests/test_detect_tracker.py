"""One target's state machine: hysteresis counts, and how a target comes back from ``down``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from netwatch.detect.thresholds import Thresholds
from netwatch.detect.tracker import Tracker
from netwatch.model import Failure, Measurement, TargetState

T0 = datetime(2022, 1, 5, 10, 0, tzinfo=UTC)
INTERVAL_S = 60.0
FAST, SLOW = 0.2, 5.0  # seconds; SLOW is over slow_factor x the baseline and slow_min_s
TH = Thresholds()


def states(results: list[str], thresholds: Thresholds = TH) -> list[TargetState]:
    """The states a tracker passes through for probes every minute: ``ok``, ``slow`` or ``fail``."""
    tracker = Tracker("v/t/http", thresholds)
    seen: list[TargetState] = []
    for i, result in enumerate(results):
        transition = tracker.observe(Measurement(
            id=f"m{i}", target_id="t", kind="http", vantage_id="v",
            started_at=T0 + timedelta(seconds=i * INTERVAL_S),
            duration_s=SLOW if result == "slow" else FAST,
            failure=Failure.HTTP_TIMEOUT if result == "fail" else None))
        if transition is not None:
            seen.append(transition.to_state)
    return seen


BASELINE = ["ok"] * 6


def test_down_after_consecutive_failures_and_up_after_consecutive_answers() -> None:
    assert TH.down_after == 2 and TH.up_after == 2
    assert states([*BASELINE, "fail", "ok", "fail", "ok"]) == [TargetState.UP]
    assert states([*BASELINE, "fail", "fail", "ok", "fail", "ok", "ok"]) == [
        TargetState.UP, TargetState.DOWN, TargetState.UP]


def test_one_slow_answer_on_return_is_a_restoration_not_throttling() -> None:
    """The first answer after a cut is often slow (a retried SYN, a cold cache): down goes
    straight to up, with no degraded stage nobody injected."""
    assert states([*BASELINE, "fail", "fail", "slow", "ok", "ok"]) == [
        TargetState.UP, TargetState.DOWN, TargetState.UP]
    assert states([*BASELINE, "fail", "fail", "ok", "slow", "ok"]) == [
        TargetState.UP, TargetState.DOWN, TargetState.UP]


def test_answers_that_stay_slow_on_return_are_degraded() -> None:
    assert states([*BASELINE, "fail", "fail", "slow", "slow", "ok", "ok"]) == [
        TargetState.UP, TargetState.DOWN, TargetState.DEGRADED, TargetState.UP]


def test_slowness_needs_degraded_after_slow_answers_in_a_row() -> None:
    """Three by default, one more than failures: a lossy path makes probes slow far more often
    than it makes them fail."""
    assert TH.degraded_after == 3
    assert states([*BASELINE, "slow", "slow", "ok", "slow", "slow", "ok"]) == [TargetState.UP]
    assert states([*BASELINE, "slow", "slow", "slow", "ok", "ok"]) == [
        TargetState.UP, TargetState.DEGRADED, TargetState.UP]


def test_a_timeout_is_dated_one_normal_answer_after_its_failing_phase_began() -> None:
    """A request sent just before a cut, whose answer the cut drops, times out: the cut began at
    the latest one normal answer time (the median successful duration) after the request went
    out, not when it went out. The window's other end is the start of the last good probe."""
    tracker = Tracker("v/t/http", TH)
    phases = {"resolve": 0.002, "connect": 0.001, "tls": 0.003}
    for i in range(6):
        tracker.observe(Measurement(id=f"m{i}", target_id="t", kind="http", vantage_id="v",
                                    started_at=T0 + timedelta(seconds=i * INTERVAL_S),
                                    duration_s=0.008, failure=None, phases={**phases, "first_byte": 0.002}))
    for i in (6, 7):
        tracker.observe(Measurement(id=f"m{i}", target_id="t", kind="http", vantage_id="v",
                                    started_at=T0 + timedelta(seconds=i * INTERVAL_S), duration_s=10.0,
                                    failure=Failure.HTTP_TIMEOUT, phases={**phases, "first_byte": 9.994}))
    assert tracker.state is TargetState.DOWN and tracker.window is not None
    request_sent = T0 + timedelta(seconds=6 * INTERVAL_S + 0.006)
    assert tracker.window.at == request_sent + timedelta(seconds=0.008)
    assert tracker.window.earliest == T0 + timedelta(seconds=5 * INTERVAL_S)


def test_a_refusal_is_dated_by_its_arrival() -> None:
    tracker = Tracker("v/t/tcp", TH)
    for i in range(8):
        failed = i >= 6
        tracker.observe(Measurement(id=f"m{i}", target_id="t", kind="tcp", vantage_id="v",
                                    started_at=T0 + timedelta(seconds=i * INTERVAL_S),
                                    duration_s=0.004 if failed else 0.001,
                                    failure=Failure.TCP_REFUSED if failed else None,
                                    phases={"resolve": 0.0, "connect": 0.004 if failed else 0.001}))
    assert tracker.window is not None
    assert tracker.window.at == T0 + timedelta(seconds=6 * INTERVAL_S + 0.004)
