"""The runner: one deadline per probe, the envelope, and bugs turned into internal_error."""

from __future__ import annotations

from datetime import timedelta

from agent_samples import LABELS, T0, VANTAGE, fixed_clocks, table, target

from netwatch.deadline import Deadline
from netwatch.model import Failure, Measurement, Outcome, Target
from netwatch.runner import run_probe
from probes.env import ProbeEnv, loopback_env


def test_envelope_wraps_the_outcome() -> None:
    seen: list[float] = []

    def probe(t: Target, deadline: Deadline, env: ProbeEnv) -> Outcome:
        seen.append(deadline.expires_at)
        return Outcome(None, phases={"connect": 0.25}, evidence={"address": "127.0.0.1"}, partial=True)

    # monotonic: start at 100.0, end at 100.5
    m = run_probe(
        target("a", timeout_s=7.0), table(fake=probe), loopback_env(), VANTAGE, fixed_clocks([100.0, 100.5])
    )
    assert seen == [107.0]  # one deadline: timeout_s after the start
    assert m == Measurement(
        id="m1",
        target_id="a",
        kind="fake",
        vantage_id="test-vantage",
        started_at=T0,
        duration_s=0.5,
        failure=None,
        phases={"connect": 0.25},
        evidence={"address": "127.0.0.1"},
        partial=True,
        labels=LABELS,
    )


def test_a_measured_failure_is_kept() -> None:
    def probe(t: Target, deadline: Deadline, env: ProbeEnv) -> Outcome:
        return Outcome(Failure.TCP_REFUSED, evidence={"address": "127.0.0.1"})

    m = run_probe(target("a"), table(fake=probe), loopback_env(), VANTAGE, fixed_clocks([0.0, 0.1]))
    assert m.failure is Failure.TCP_REFUSED
    assert not m.ok


def test_a_raising_probe_becomes_internal_error() -> None:
    def probe(t: Target, deadline: Deadline, env: ProbeEnv) -> Outcome:
        raise ZeroDivisionError("division by zero")

    m = run_probe(target("a"), table(fake=probe), loopback_env(), VANTAGE, fixed_clocks([0.0, 0.2]))
    assert m.failure is Failure.INTERNAL_ERROR
    assert m.evidence == {"error_type": "ZeroDivisionError", "error": "division by zero"}
    assert m.duration_s == 0.2


def test_an_unknown_kind_becomes_internal_error() -> None:
    m = run_probe(target("a", kind="nope"), table(), loopback_env(), VANTAGE, fixed_clocks([0.0, 0.0]))
    assert m.failure is Failure.INTERNAL_ERROR
    assert m.evidence == {"error_type": "LookupError", "error": "no probe kind 'nope'"}


def test_a_probe_returning_something_else_becomes_internal_error() -> None:
    def probe(t: Target, deadline: Deadline, env: ProbeEnv) -> Outcome:
        return None  # type: ignore[return-value]

    m = run_probe(target("a"), table(fake=probe), loopback_env(), VANTAGE, fixed_clocks([0.0, 0.0]))
    assert m.failure is Failure.INTERNAL_ERROR
    assert m.evidence["error_type"] == "TypeError"


def test_default_clocks_stamp_aware_utc_and_unique_ids() -> None:
    def probe(t: Target, deadline: Deadline, env: ProbeEnv) -> Outcome:
        return Outcome(None)

    first = run_probe(target("a"), table(fake=probe), loopback_env(), VANTAGE)
    second = run_probe(target("a"), table(fake=probe), loopback_env(), VANTAGE)
    assert first.started_at.utcoffset() == timedelta(0)
    assert first.id != second.id
    assert first.duration_s >= 0
    assert Measurement.from_dict(first.to_dict()) == first
