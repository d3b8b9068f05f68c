"""Shared builders for the runner, scheduler, metrics and agent tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from netwatch.config import Config
from netwatch.deadline import Deadline
from netwatch.egress import EgressPolicy
from netwatch.model import Labels, NetworkType, Outcome, Position, Role, Target, Vantage
from netwatch.runner import Clocks
from probes import ProbeKind
from probes.env import ProbeEnv, loopback_env

VANTAGE = Vantage("test-vantage", Position.OUTSIDE)
LABELS = Labels(
    country="KZ",
    region="KZ-75",
    asn="9198",
    operator="Kazakhtelecom",
    network_type=NetworkType.FIXED,
    category="news",
    role=Role.SUBJECT,
)
T0 = datetime(2022, 1, 5, 10, 30, tzinfo=UTC)


def target(target_id: str, kind: str = "fake", interval_s: float = 60.0, timeout_s: float = 5.0) -> Target:
    return Target(
        id=target_id, kind=kind, params=None, labels=LABELS, interval_s=interval_s, timeout_s=timeout_s
    )


def table(**functions: Callable[[Target, Deadline, ProbeEnv], Outcome]) -> dict[str, ProbeKind]:
    """A probe table of plain functions (the ``params`` model is irrelevant to the runner)."""
    return {kind: ProbeKind(run, BaseModel) for kind, run in functions.items()}


def fixed_clocks(monotonic_steps: Iterable[float], wall: datetime = T0) -> Clocks:
    """Clocks whose monotonic reading walks through ``monotonic_steps``, ids m1, m2, ..."""
    steps = iter(monotonic_steps)
    ids = (f"m{n}" for n in itertools.count(1))
    return Clocks(wall=lambda: wall, monotonic=lambda: next(steps), new_id=lambda: next(ids))


def config(
    targets: Iterable[Target],
    *,
    port: int = 0,
    measurements_out: Path | None = None,
    data_dir: Path = Path("netwatch-data"),
    concurrency: int = 8,
    jitter_s: float = 0.0,
) -> Config:
    return Config(
        source=None,
        vantage=VANTAGE,
        egress=EgressPolicy.loopback(),
        probe_env=loopback_env(),
        targets=tuple(targets),
        listen_address="127.0.0.1",
        listen_port=port,
        concurrency=concurrency,
        jitter_s=jitter_s,
        measurements_out=measurements_out,
        data_dir=data_dir,
    )
