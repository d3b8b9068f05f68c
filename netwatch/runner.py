"""Run one probe under one deadline and wrap its ``Outcome`` in a ``Measurement`` envelope.

The runner is the line between "measured a failure" and "could not measure": a probe returns an
``Outcome`` for network failures; anything it raises (a bug, bad parameters, an unknown kind) is
recorded here as ``internal_error`` with the exception's type and message as evidence. The runner
itself never raises for a probe's sake, so one broken probe cannot stop the agent.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from netwatch.deadline import Deadline
from netwatch.model import Failure, Measurement, Outcome, Target, Vantage
from probes import ProbeKind
from probes.env import ProbeEnv

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The default wall clock: aware UTC."""
    return datetime.now(UTC)


def new_measurement_id() -> str:
    """A random, globally unique measurement id (UUID4, canonical text form)."""
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Clocks:
    """The clocks a measurement is stamped with.

    ``wall`` gives ``started_at`` (aware UTC); ``monotonic`` gives durations and deadlines in
    seconds; ``new_id`` gives measurement ids. Tests pass fixed ones.
    """

    wall: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    new_id: Callable[[], str] = field(default=new_measurement_id)


def run_probe(
    target: Target,
    probes: Mapping[str, ProbeKind],
    env: ProbeEnv,
    vantage: Vantage,
    clocks: Clocks | None = None,
) -> Measurement:
    """Probe ``target`` once with a deadline of ``target.timeout_s`` seconds; never raises.

    ``started_at`` is read from ``clocks.wall`` just before the probe starts; ``duration_s`` is the
    monotonic time the probe took (deadline overruns included, so they stay visible). The labels in
    the envelope are a snapshot of ``target.labels``.
    """
    clocks = clocks or Clocks()
    started_at = clocks.wall()
    start = clocks.monotonic()
    outcome = _outcome(target, probes, env, Deadline(start + target.timeout_s, clocks.monotonic))
    duration = clocks.monotonic() - start
    return Measurement(
        id=clocks.new_id(),
        target_id=target.id,
        kind=target.kind,
        vantage_id=vantage.id,
        started_at=started_at,
        duration_s=duration,
        failure=outcome.failure,
        phases=dict(outcome.phases),
        evidence=dict(outcome.evidence),
        partial=outcome.partial,
        labels=target.labels,
    )


def _outcome(target: Target, probes: Mapping[str, ProbeKind], env: ProbeEnv, deadline: Deadline) -> Outcome:
    kind = probes.get(target.kind)
    if kind is None:
        return _internal_error(LookupError(f"no probe kind {target.kind!r}"))
    try:
        outcome = kind.run(target, deadline, env)
    except Exception as exc:  # a probe bug must cost one measurement, not the agent
        log.exception("probe %s (%s) raised", target.id, target.kind)
        return _internal_error(exc)
    if not isinstance(outcome, Outcome):
        return _internal_error(TypeError(f"probe returned {type(outcome).__name__}, not Outcome"))
    return outcome


def _internal_error(exc: BaseException) -> Outcome:
    return Outcome(
        failure=Failure.INTERNAL_ERROR,
        evidence={"error_type": type(exc).__name__, "error": str(exc)},
    )
