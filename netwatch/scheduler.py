"""APScheduler 3.x wiring: one job per target, each on its own interval with jitter.

Guarantees (APScheduler 3.x behaviour checked against its source, ``apscheduler/executors/base.py``
and ``schedulers/base.py``):

- bounded concurrency: a ``ThreadPoolExecutor`` of ``concurrency`` workers; runs beyond that wait
  in the pool's queue;
- no overlap: ``max_instances=1`` counts a queued run as an instance, so a target whose previous
  run is still queued or running skips the new one (``EVENT_JOB_MAX_INSTANCES`` → ``overlap``);
- no pile-up: ``coalesce=True`` collapses fire times missed while the scheduler was stalled into one
  run; a run that reaches a worker more than half an interval late is dropped
  (``EVENT_JOB_MISSED`` → ``late``); both are counted, neither is replayed;
- no thundering herd: each target's first run falls at a random point of its first interval;
- jitter that does not drift: ``IntervalTrigger`` adds jitter to the previous *jittered* fire time,
  so its period grows by ``jitter/2`` on average; ``SpreadInterval`` jitters around a fixed grid.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from netwatch.model import Target

log = logging.getLogger(__name__)


class SkipReason(StrEnum):
    """Why a scheduled run did not happen (the ``reason`` label of the skipped-runs counter)."""

    OVERLAP = "overlap"  # the target's previous run was still queued or running
    LATE = "late"  # the run waited longer than its misfire grace for a free worker


class SchedulerObserver(Protocol):
    """What the scheduler reports; ``netwatch.metrics.SelfMetrics`` implements it."""

    def observe_lag(self, seconds: float) -> None:
        """A run started ``seconds`` after its (jittered) scheduled time."""

    def skipped(self, reason: SkipReason) -> None:
        """A scheduled run was skipped."""

    def set_in_flight(self, count: int) -> None:
        """``count`` probes are running now."""


class SpreadInterval(BaseTrigger):  # type: ignore[misc]  # APScheduler ships no type information
    """Fire at ``start + k * interval_s + U(0, jitter_s)`` for k = 0, 1, 2, ...

    The grid is fixed, so jitter never accumulates. ``jitter_s`` is capped at half the interval so
    that consecutive runs keep at least half an interval apart and a fire time maps back to its slot.
    """

    def __init__(self, interval_s: float, start: datetime, jitter_s: float, rng: random.Random) -> None:
        self.interval_s = interval_s
        self.start = start
        self.jitter_s = min(max(jitter_s, 0.0), interval_s / 2)
        self._rng = rng

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        if previous_fire_time is None:
            # A first slot less than a quarter interval past (start-up takes a moment) still runs.
            overdue = (now - self.start).total_seconds() / self.interval_s
            slot = max(0, math.ceil(overdue - 0.25))
        else:
            # previous lies in [slot, slot + interval/2]; a quarter interval absorbs rounding.
            offset = (previous_fire_time - self.start).total_seconds() / self.interval_s
            slot = math.floor(offset + 0.25) + 1
        jitter = self._rng.uniform(0, self.jitter_s) if self.jitter_s else 0.0
        return self.start + timedelta(seconds=slot * self.interval_s + jitter)

    def __str__(self) -> str:
        return f"spread-interval[{self.interval_s}s, jitter {self.jitter_s}s]"


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """Target ids added, removed and rescheduled (interval changed) by ``Scheduler.apply``."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    rescheduled: tuple[str, ...]


class Scheduler:
    """Runs ``run(target)`` for every target on the target's ``interval_s`` (seconds).

    ``run`` is called on a worker thread and should not raise (an exception is logged and the
    target keeps its schedule). ``rng`` decides first-run offsets and jitter (tests seed it).
    """

    def __init__(
        self,
        run: Callable[[Target], None],
        observer: SchedulerObserver,
        *,
        concurrency: int,
        jitter_s: float,
        rng: random.Random | None = None,
    ) -> None:
        self._run = run
        self._observer = observer
        self._jitter_s = jitter_s
        self._rng = rng or random.Random()
        self._targets: dict[str, Target] = {}
        self._cond = threading.Condition()
        self._in_flight = 0
        self._stopping = False
        self._aps = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=concurrency)},
            timezone=UTC,
        )
        self._aps.add_listener(
            self._on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        )

    @property
    def running(self) -> bool:
        """True between ``start`` and ``stop``."""
        return bool(self._aps.running) and not self._stopping

    @property
    def in_flight(self) -> int:
        """Probes running now."""
        with self._cond:
            return self._in_flight

    @property
    def targets(self) -> dict[str, Target]:
        """A copy of the scheduled targets by id."""
        return dict(self._targets)

    def start(self, targets: Iterable[Target]) -> None:
        """Schedule ``targets`` and start; each first run falls within its first interval."""
        self.apply(targets)
        self._aps.start()

    def apply(self, targets: Iterable[Target]) -> ApplyResult:
        """Make the scheduled set equal to ``targets`` (ids unique), in place.

        New ids are added with a spread first run; missing ids are removed (a run in progress
        finishes); a target whose ``interval_s`` changed is rescheduled; any other change takes
        effect at its next run, which reads the new ``Target``.
        """
        new = {target.id: target for target in targets}
        old = self._targets
        now = datetime.now(UTC)
        added, removed, rescheduled = [], [], []
        for target_id in old.keys() - new.keys():
            self._aps.remove_job(target_id)
            removed.append(target_id)
        self._targets = new
        for target_id, target in new.items():
            if target_id not in old:
                self._aps.add_job(
                    self._job,
                    trigger=self._trigger(target, now),
                    args=(target_id,),
                    id=target_id,
                    name=target_id,
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=_grace_s(target),
                )
                added.append(target_id)
            elif old[target_id].interval_s != target.interval_s:
                self._aps.modify_job(target_id, misfire_grace_time=_grace_s(target))
                self._aps.reschedule_job(target_id, trigger=self._trigger(target, now))
                rescheduled.append(target_id)
        return ApplyResult(tuple(sorted(added)), tuple(sorted(removed)), tuple(sorted(rescheduled)))

    def stop(self, timeout_s: float) -> int:
        """Start no new runs; wait up to ``timeout_s`` seconds for runs in progress to finish.

        Returns the number of runs still in progress (abandoned) when it gives up; queued runs
        never start. Idempotent.
        """
        with self._cond:
            was_stopping, self._stopping = self._stopping, True
        if not was_stopping and self._aps.running:
            self._aps.shutdown(wait=False)
        give_up = time.monotonic() + timeout_s
        with self._cond:
            while self._in_flight and (left := give_up - time.monotonic()) > 0:
                self._cond.wait(left)
            return self._in_flight

    def _trigger(self, target: Target, now: datetime) -> SpreadInterval:
        start = now + timedelta(seconds=self._rng.uniform(0, target.interval_s))
        return SpreadInterval(target.interval_s, start, self._jitter_s, self._rng)

    def _job(self, target_id: str) -> datetime | None:
        """Run one target; returns when it started (for the lag), None when it did not run."""
        started = datetime.now(UTC)
        with self._cond:
            target = self._targets.get(target_id)
            if self._stopping or target is None:
                return None
            self._in_flight += 1
            self._observer.set_in_flight(self._in_flight)
        try:
            self._run(target)
        except Exception:
            log.exception("run of target %s failed", target_id)
        finally:
            with self._cond:
                self._in_flight -= 1
                self._observer.set_in_flight(self._in_flight)
                self._cond.notify_all()
        return started

    def _on_event(self, event: JobEvent) -> None:
        if event.code == EVENT_JOB_MAX_INSTANCES:
            log.debug("run of %s skipped: previous run still in progress", event.job_id)
            self._observer.skipped(SkipReason.OVERLAP)
        elif event.code == EVENT_JOB_MISSED:
            log.debug("run of %s skipped: no worker within its grace time", event.job_id)
            self._observer.skipped(SkipReason.LATE)
        elif isinstance(event, JobExecutionEvent):
            if event.exception is not None:
                log.error("job %s raised: %s", event.job_id, event.exception)
            elif isinstance(event.retval, datetime):
                self._observer.observe_lag((event.retval - event.scheduled_run_time).total_seconds())


def _grace_s(target: Target) -> int:
    """A run more than half an interval late is skipped: the next one is nearly due anyway.
    (APScheduler wants whole seconds, at least 1.)"""
    return max(math.ceil(target.interval_s / 2), 1)
