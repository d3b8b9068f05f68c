"""Properties of the detector, over generated fault timelines (hypothesis)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from detect_world import (
    INTERVAL,
    T0,
    Fault,
    Result,
    Tgt,
    category,
    national_web_cut,
    region_cut,
    run,
    uplink_dead,
    world,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwatch.detect import Detector, Thresholds
from netwatch.model import (
    Failure,
    OutageChange,
    OutageEvent,
    Position,
    ScopeType,
    TargetState,
    Transition,
    Vantage,
)

TH = Thresholds(baseline_bin_s=300, incident_gap_s=7200)
FAST = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAULTS = {
    "region": region_cut("KZ-47"),
    "national": national_web_cut,
    "blockpages": category("messaging", Failure.HTTP_BLOCKPAGE),
    "tampering": category("news", Failure.DNS_BOGON_ANSWER),
}


def _outage_events(events: Sequence[object]) -> list[OutageEvent]:
    return [e for e in events if isinstance(e, OutageEvent)]


@FAST
@given(st.integers(0, len(world()) - 1), st.integers(5, 40))
def test_a_single_failure_never_opens_an_outage(index: int, round_no: int) -> None:
    victim = world()[index].id

    def once(t: Tgt) -> Result | None:
        return Result(Failure.TCP_TIMEOUT, 5.0) if t.id == victim else None

    phases = [(0.0, []), (round_no * INTERVAL, [once]), ((round_no + 1) * INTERVAL, [])]
    _, events, _ = run(phases, 60 * INTERVAL, thresholds=TH)
    assert _outage_events(events) == []


@FAST
@given(st.sampled_from(sorted(FAULTS)), st.floats(1200, 2400), st.floats(1200, 2400))
def test_uncertainty_windows_hold_the_injected_change(fault: str, start: float, length: float) -> None:
    phases = [(0.0, []), (start, [FAULTS[fault]]), (start + length, [])]
    _, events, _ = run(phases, start + length + 1800, thresholds=TH)
    closed = [e.outage for e in _outage_events(events) if e.change is OutageChange.CLOSED]
    assert closed, "the injected outage was missed"
    truth_start, truth_end = T0 + timedelta(seconds=start), T0 + timedelta(seconds=start + length)
    for outage in closed:
        assert outage.start_earliest is not None and outage.end_earliest is not None
        assert outage.ended_at is not None
        assert outage.start_earliest <= truth_start <= outage.started_at
        assert outage.end_earliest <= truth_end <= outage.ended_at


@FAST
@given(
    st.lists(st.tuples(st.floats(300, 6000), st.floats(30, 1800)), min_size=1, max_size=3),
    st.sampled_from(list(Position)),
)
def test_failing_controls_never_open_a_subject_outage(
    cuts: list[tuple[float, float]], where: Position
) -> None:
    """A vantage whose controls fail and that reaches nothing else (its uplink died) opens only
    records about itself, inside the country or outside it."""
    phases: list[tuple[float, list[Fault]]] = [(0.0, [])]
    clock = 0.0
    for gap, length in cuts:
        clock += gap
        phases += [(clock, [uplink_dead]), (clock + length, [])]
        clock += length
    detector = Detector(TH, [Vantage("out-1", where)])
    _, events, _ = run(phases, clock + 1800, detector=detector)
    scopes = {e.outage.scope_type for e in _outage_events(events)}
    assert scopes <= {ScopeType.VANTAGE}


@FAST
@given(st.lists(st.booleans(), min_size=20, max_size=90), st.sampled_from(["region", "national"]))
def test_flapping_never_outruns_state_changes(pattern: list[bool], fault: str) -> None:
    """Each round the fault is on or off. Outage records can never outnumber the target
    transitions to a worse state that could have caused them."""
    phases = [(r * INTERVAL, [FAULTS[fault]] if on else []) for r, on in enumerate(pattern)]
    _, events, _ = run(phases, (len(pattern) + 10) * INTERVAL, thresholds=TH)
    opened = [e for e in _outage_events(events) if e.change is OutageChange.OPENED]
    worse = [e for e in events if isinstance(e, Transition) and e.to_state is not TargetState.UP]
    assert len(opened) <= len(worse)
    if not any(all(pattern[i : i + TH.down_after]) for i in range(len(pattern))):
        assert opened == []


@settings(max_examples=5, deadline=None)
@given(st.sampled_from(sorted(FAULTS)), st.floats(600, 1800))
def test_same_input_same_output_ids_included(fault: str, start: float) -> None:
    phases = [(0.0, []), (start, [FAULTS[fault]]), (start + 1800, [])]
    _, first, measurements = run(phases, start + 3600, thresholds=TH)
    _, second, _ = run(phases, start + 3600, thresholds=TH)
    assert first == second
    for event in first:
        assert type(event).from_dict(event.to_dict()) == event
    assert measurements
