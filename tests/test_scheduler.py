"""The scheduler: spread first runs, drift-free jitter, no overlap, bounded concurrency, skips
counted, lag measured, in-place apply and a clean stop. Real APScheduler, real threads, small
probe functions passed in."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from agent_samples import target

from netwatch.model import Target
from netwatch.scheduler import Scheduler, SkipReason, SpreadInterval


class Recorder:
    """A ``SchedulerObserver`` that keeps what it is told."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.skips: Counter[str] = Counter()
        self.in_flight: list[int] = []

    def observe_lag(self, seconds: float) -> None:
        self.lags.append(seconds)

    def skipped(self, reason: SkipReason) -> None:
        self.skips[reason] += 1

    def set_in_flight(self, count: int) -> None:
        self.in_flight.append(count)


class NoSpread(random.Random):
    """First runs at once and no jitter: every ``uniform(a, b)`` is ``a``."""

    def uniform(self, a: float, b: float) -> float:
        return a


class Runs:
    """The ``run`` callable: records start/end per target, optionally holding each run."""

    def __init__(self, hold: Callable[[Target], object] = lambda t: None) -> None:
        self.hold = hold
        self.lock = threading.Lock()
        self.log: list[tuple[str, str, float]] = []
        self.running: Counter[str] = Counter()
        self.max_running: Counter[str] = Counter()
        self.max_total = 0

    def __call__(self, t: Target) -> None:
        with self.lock:
            self.log.append(("start", t.id, time.monotonic()))
            self.running[t.id] += 1
            self.max_running[t.id] = max(self.max_running[t.id], self.running[t.id])
            self.max_total = max(self.max_total, sum(self.running.values()))
        try:
            self.hold(t)
        finally:
            with self.lock:
                self.running[t.id] -= 1
                self.log.append(("end", t.id, time.monotonic()))

    def starts(self, target_id: str) -> list[float]:
        with self.lock:
            return [at for event, tid, at in self.log if event == "start" and tid == target_id]


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, "condition not reached"
        time.sleep(0.01)


@pytest.fixture
def observer() -> Recorder:
    return Recorder()


def test_spread_interval_jitters_around_a_fixed_grid() -> None:
    start = datetime(2022, 1, 5, tzinfo=UTC)
    trigger = SpreadInterval(60.0, start, jitter_s=5.0, rng=random.Random(1))
    fire = trigger.get_next_fire_time(None, start - timedelta(seconds=1))
    for slot in range(1, 2000):
        fire = trigger.get_next_fire_time(fire, fire)
        offset = (fire - start).total_seconds() - slot * 60.0
        assert 0.0 <= offset <= 5.0, (slot, offset)  # IntervalTrigger would have drifted ~2.5 s per slot


def test_spread_interval_caps_jitter_and_resumes_on_the_grid_after_a_stall() -> None:
    start = datetime(2022, 1, 5, tzinfo=UTC)
    trigger = SpreadInterval(10.0, start, jitter_s=60.0, rng=random.Random(2))
    assert trigger.jitter_s == 5.0
    later = start + timedelta(seconds=95)
    fire = trigger.get_next_fire_time(None, later)
    assert timedelta(seconds=100) <= fire - start <= timedelta(seconds=105)


def test_first_runs_are_spread_over_the_first_interval(observer: Recorder) -> None:
    runs = Runs()
    scheduler = Scheduler(runs, observer, concurrency=50, jitter_s=0.0, rng=random.Random(3))
    began = time.monotonic()
    scheduler.start([target(f"t{n:02d}", interval_s=2.0) for n in range(50)])
    try:
        wait_for(lambda: all(runs.starts(f"t{n:02d}") for n in range(50)), timeout=5.0)
    finally:
        scheduler.stop(1.0)
    firsts = sorted(runs.starts(f"t{n:02d}")[0] - began for n in range(50))
    buckets = Counter(int(at / 0.5) for at in firsts)
    assert firsts[-1] - firsts[0] > 1.0
    assert max(buckets.values()) < 25  # no thundering herd: never half of them in one 0.5 s slice


def test_a_slow_target_never_overlaps_itself_and_skips_are_counted(observer: Recorder) -> None:
    runs = Runs(hold=lambda t: time.sleep(0.7))
    scheduler = Scheduler(runs, observer, concurrency=4, jitter_s=0.0, rng=NoSpread())
    scheduler.start([target("slow", interval_s=0.2)])
    try:
        wait_for(lambda: len(runs.starts("slow")) >= 2, timeout=5.0)
    finally:
        assert scheduler.stop(2.0) == 0
    assert runs.max_running["slow"] == 1
    assert observer.skips[SkipReason.OVERLAP] >= 2


def test_concurrency_is_bounded_and_late_runs_are_dropped_and_counted(observer: Recorder) -> None:
    # One worker: "a" holds it for 1.6 s, so "b" (interval 0.2 s, grace 1 s) waits too long.
    runs = Runs(hold=lambda t: time.sleep(1.6 if t.id == "a" else 0.0))
    scheduler = Scheduler(runs, observer, concurrency=1, jitter_s=0.0, rng=NoSpread())
    scheduler.start([target("a", interval_s=30.0), target("b", interval_s=0.2)])
    try:
        wait_for(lambda: observer.skips[SkipReason.LATE] >= 1, timeout=5.0)
        wait_for(lambda: len(runs.starts("b")) >= 1, timeout=5.0)
    finally:
        scheduler.stop(2.0)
    assert runs.max_total == 1
    assert runs.starts("b")[0] > runs.starts("a")[0] + 1.5  # b's first real run came after a freed the worker


def test_lag_and_in_flight_are_reported(observer: Recorder) -> None:
    runs = Runs(hold=lambda t: time.sleep(0.05))
    scheduler = Scheduler(runs, observer, concurrency=4, jitter_s=0.0, rng=NoSpread())
    scheduler.start([target("a", interval_s=0.3), target("b", interval_s=0.3)])
    try:
        wait_for(lambda: len(observer.lags) >= 4)
    finally:
        scheduler.stop(1.0)
    assert all(0.0 <= lag < 2.0 for lag in observer.lags), observer.lags
    assert max(observer.in_flight) in (1, 2)
    assert observer.in_flight[-1] == 0


def test_apply_adds_removes_and_reschedules_in_place(observer: Recorder) -> None:
    runs = Runs()
    scheduler = Scheduler(runs, observer, concurrency=4, jitter_s=0.0, rng=NoSpread())
    scheduler.start(
        [target("keep", interval_s=0.2), target("drop", interval_s=0.2), target("slow", interval_s=60)]
    )
    try:
        wait_for(lambda: bool(runs.starts("drop")) and bool(runs.starts("slow")))
        result = scheduler.apply(
            [target("keep", interval_s=0.2), target("slow", interval_s=0.2), target("new")]
        )
        assert (result.added, result.removed, result.rescheduled) == (("new",), ("drop",), ("slow",))
        assert sorted(scheduler.targets) == ["keep", "new", "slow"]
        dropped_runs = len(runs.starts("drop"))
        wait_for(lambda: len(runs.starts("slow")) >= 3 and bool(runs.starts("new")))
        assert len(runs.starts("drop")) == dropped_runs
        assert scheduler.apply(scheduler.targets.values()).added == ()
    finally:
        scheduler.stop(1.0)


def test_stop_lets_a_running_probe_finish_and_starts_nothing_new(observer: Recorder) -> None:
    runs = Runs(hold=lambda t: time.sleep(0.4))
    scheduler = Scheduler(runs, observer, concurrency=1, jitter_s=0.0, rng=NoSpread())
    scheduler.start([target("a", interval_s=0.1), target("b", interval_s=0.1)])
    wait_for(lambda: scheduler.in_flight == 1)
    assert scheduler.running
    assert scheduler.stop(2.0) == 0
    assert not scheduler.running
    with runs.lock:
        ended = [entry for entry in runs.log if entry[0] == "end"]
        total = len(runs.log)
    assert len(ended) * 2 == total  # every run that started has ended
    time.sleep(0.3)
    assert len(runs.log) == total  # queued runs never started


def test_stop_abandons_a_probe_stuck_past_the_timeout(observer: Recorder) -> None:
    release = threading.Event()
    runs = Runs(hold=lambda t: release.wait(10))
    scheduler = Scheduler(runs, observer, concurrency=2, jitter_s=0.0, rng=NoSpread())
    scheduler.start([target("stuck", interval_s=10.0)])
    wait_for(lambda: scheduler.in_flight == 1)
    began = time.monotonic()
    assert scheduler.stop(0.3) == 1
    assert time.monotonic() - began < 1.0
    release.set()


def test_ten_thousand_jobs_schedule_quickly(observer: Recorder) -> None:
    runs = Runs()
    scheduler = Scheduler(runs, observer, concurrency=8, jitter_s=5.0, rng=random.Random(4))
    began = time.monotonic()
    scheduler.start([target(f"t{n:05d}", interval_s=600.0) for n in range(10_000)])
    try:
        assert time.monotonic() - began < 5.0
        result = scheduler.apply([target(f"t{n:05d}", interval_s=600.0) for n in range(5_000, 15_000)])
        assert len(result.added) == 5_000 and len(result.removed) == 5_000
    finally:
        scheduler.stop(1.0)
    assert time.monotonic() - began < 10.0
