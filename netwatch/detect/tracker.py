"""Per (vantage, target, kind) state machine: up / degraded / down with raise/clear hysteresis.

Each measurement is graded ``ok``, ``degraded`` (partial, or slow against the target's own latency
baseline) or ``fail``. ``down`` needs ``down_after`` consecutive failures; leaving ``down`` needs
``up_after`` consecutive non-failures, and goes to ``up`` unless the last ``degraded_after``
measurements (failures included) were all non-ok (then ``degraded``); ``degraded`` needs
``degraded_after`` consecutive non-ok measurements and clears after ``up_after`` ok ones.

Uncertainty windows are honest bounds: a good measurement shows the path worked at some moment
after it *started*; a failed one shows the fault acting at some moment after its failing phase
(the last one in ``phases``) began, and — its *effect* — at the latest one normal answer time
after that phase began if it timed out (the packets sent then, or the answers to them, were
dropped; the target's median successful duration bounds how long an answer normally takes), else
when the probe completed (the refusal, block page or foreign certificate arrived by then). A
request sent a millisecond before a cut whose answer the cut then drops is why the answer time
counts. So a change to worse lies in
[start of the last good one, effect of the first failed one] (a slow or partial one: its
completion), and a change to better in [failing-phase start of the last failed one (for a
degraded one, its start), completion of the first good one].
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from itertools import pairwise

from netwatch.detect.thresholds import Thresholds
from netwatch.model import Failure, Measurement, TargetState, Transition


class Grade(Enum):
    OK = "ok"
    DEGRADED = "degraded"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Window:
    """A change happened in ``[earliest, at]`` (``earliest`` None: no earlier measurement)."""

    earliest: datetime | None
    at: datetime


def failure_moments(m: Measurement, end: datetime, answer_s: float) -> tuple[datetime, datetime]:
    """(the start of ``m``'s failing phase, the moment its fault was surely in effect): the
    failing phase is the last one timed in ``phases`` (none timed: the probe's start); a timeout
    was in effect ``answer_s`` (how long an answer normally takes, seconds) after that phase
    began, any other failure by the probe's completion ``end``."""
    offset = sum(list(m.phases.values())[:-1])
    acting = min(m.started_at + timedelta(seconds=max(0.0, offset)), end)
    timed_out = m.failure is not None and m.failure.value.endswith("_timeout")
    return acting, min(acting + timedelta(seconds=answer_s), end) if timed_out else end


class Tracker:
    """State of one (vantage, target, kind). Feed measurements in start-time order."""

    def __init__(self, subject: str, thresholds: Thresholds) -> None:
        self.subject = subject
        self._t = thresholds
        self.state: TargetState | None = None
        self.last_grade: Grade | None = None
        self.last_started: datetime | None = None
        self.last_failure: Failure | None = None
        self.last_reason = "ok"
        # The window of the latest transition into the current state, and of the latest one out
        # of ``down``.
        self.window: Window | None = None
        self.recovered: Window | None = None
        self.failing_ids: deque[str] = deque(maxlen=5)
        self._latencies: deque[float] = deque(maxlen=thresholds.latency_window)
        self._grades: deque[Grade] = deque(maxlen=thresholds.latency_window)
        self._fail_streak = 0
        self._bad_streak = 0
        self._ok_streak = 0
        self._nonfail_streak = 0
        self._last_nonfail_start: datetime | None = None
        self._last_ok_start: datetime | None = None
        self._last_fail_start: datetime | None = None
        self._last_bad_start: datetime | None = None
        self._pending_fail: Window | None = None
        self._pending_bad: Window | None = None
        self._pending_nonfail: Window | None = None
        self._pending_ok: Window | None = None

    def forget_state(self) -> None:
        """Make the state unknown again (after the vantage was offline: its old verdicts are not
        evidence about the watched network). Streaks restart; last-good times are kept because
        they still bound when a later change may have happened."""
        self.state = None
        self.window = self.recovered = None
        self._fail_streak = self._bad_streak = self._ok_streak = self._nonfail_streak = 0

    @property
    def flapping(self) -> bool:
        """Over its last ``latency_window`` measurements the grade changed more than
        ``2 x up_after`` times: more than an outage and its end (even with a stray good probe
        inside it) can explain. A flaky target, not a cut one."""
        return sum(a is not b for a, b in pairwise(self._grades)) > 2 * self._t.up_after

    @property
    def failing_since(self) -> datetime | None:
        """The effect of the first failure of the current streak of failures (None: the latest
        measurement did not fail)."""
        return self._pending_fail.at if self._fail_streak and self._pending_fail else None

    def _grade(self, m: Measurement) -> Grade:
        if m.failure is not None:
            return Grade.FAIL
        if m.partial:
            return Grade.DEGRADED
        if len(self._latencies) >= self._t.latency_min_samples:
            limit = max(statistics.median(self._latencies) * self._t.slow_factor, self._t.slow_min_s)
            if m.duration_s > limit:
                return Grade.DEGRADED
        return Grade.OK

    def observe(self, m: Measurement) -> Transition | None:
        """Apply one measurement; return the transition it completes, if any.

        Measurements older than the last one seen are ignored (returns None)."""
        if self.last_started is not None and m.started_at < self.last_started:
            return None
        grade = self._grade(m)
        self._count(grade, m)
        self.last_grade, self.last_started = grade, m.started_at
        self._grades.append(grade)
        if grade is Grade.FAIL:
            self.last_failure = m.failure
            self.last_reason = m.failure.value if m.failure else "fail"
            self.failing_ids.append(m.id)
        elif grade is Grade.DEGRADED:
            self.last_reason = "partial" if m.partial else "slow"
        else:
            self.last_reason = "ok"
            self._latencies.append(m.duration_s)
        target, window = self._next_state()
        if target is None or window is None or target == self.state:
            return None
        transition = Transition(
            at=window.at,
            subject=self.subject,
            from_state=self.state,
            to_state=target,
            reason=self.last_reason,
            measurement_id=m.id,
            earliest=window.earliest,
        )
        if self.state is TargetState.DOWN:
            self.recovered = window
        self.state, self.window = target, window
        return transition

    def _count(self, grade: Grade, m: Measurement) -> None:
        end = m.started_at + timedelta(seconds=m.duration_s)
        if grade is Grade.FAIL:
            answer_s = statistics.median(self._latencies) if self._latencies else 0.0
            acting, effect = failure_moments(m, end, answer_s)
            if self._fail_streak == 0:
                self._pending_fail = Window(self._last_nonfail_start, effect)
            if self._bad_streak == 0:
                self._pending_bad = Window(self._last_ok_start, effect)
            self._fail_streak += 1
            self._bad_streak += 1
            self._ok_streak = self._nonfail_streak = 0
            self._last_fail_start = self._last_bad_start = acting
            return
        if self._nonfail_streak == 0:
            self._pending_nonfail = Window(self._last_fail_start, end)
        self._nonfail_streak += 1
        self._fail_streak = 0
        self._last_nonfail_start = m.started_at
        if grade is Grade.DEGRADED:
            if self._bad_streak == 0:
                self._pending_bad = Window(self._last_ok_start, end)
            self._bad_streak += 1
            self._ok_streak = 0
            self._last_bad_start = m.started_at
        else:
            if self._ok_streak == 0:
                self._pending_ok = Window(self._last_bad_start, end)
            self._ok_streak += 1
            self._bad_streak = 0
            self._last_ok_start = m.started_at

    def _next_state(self) -> tuple[TargetState | None, Window | None]:
        raise_n, slow_n, clear_n = self._t.down_after, self._t.degraded_after, self._t.up_after
        if self._fail_streak >= raise_n:
            return TargetState.DOWN, self._pending_fail
        if self.state is TargetState.DOWN or self.state is None:
            if self._nonfail_streak < clear_n:
                if self.state is None and self._bad_streak >= slow_n:
                    return TargetState.DEGRADED, self._pending_bad
                return None, None
            # Answering again. Slow only if it stays slow as long as degrading from up takes: the
            # first answers after a cut are often slow (a probe whose SYN was retried, cold caches),
            # and calling that throttling would add a stage nobody injected. (The failures count in
            # the non-ok streak: answers that are all slow right after a cut are degraded.)
            if self._bad_streak >= slow_n:
                return TargetState.DEGRADED, self._pending_nonfail
            return TargetState.UP, self._pending_nonfail
        if self.state is TargetState.UP and self._bad_streak >= slow_n:
            return TargetState.DEGRADED, self._pending_bad
        if self.state is TargetState.DEGRADED and self._ok_streak >= clear_n:
            return TargetState.UP, self._pending_ok
        return None, None
