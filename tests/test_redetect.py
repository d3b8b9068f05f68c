"""``netwatch redetect`` reproduces the live agent exactly: a real agent (scheduler, HTTP probes,
store, live detection) watches real loopback web servers through a cut and a restoration; replaying
its store gives the very outage records it stored. Plus overrides and the CLI's exit codes."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from agent_samples import VANTAGE, config
from typer.testing import CliRunner

from netwatch.app import Agent
from netwatch.cli import app
from netwatch.detect import Thresholds
from netwatch.lab.web_behaviours import Hang, Ok
from netwatch.lab.web_server import WebServer
from netwatch.model import Labels, Layer, NetworkType, Outage, ScopeType, Target
from netwatch.replay import replay
from netwatch.store import Store, db_path
from probes import PROBES
from probes import http as http_probe

# Compressed for 0.5 s probes: counts small, every time-valued threshold in seconds.
THRESHOLDS = Thresholds(
    down_after=2,
    up_after=2,
    small_group_hold_s=1.0,
    baseline_bin_s=1.0,
    baseline_window_s=30.0,
    layer_settle_s=1.0,
    incident_gap_s=60.0,
)
OVERRIDES = [f"--set={key}={value}" for key, value in THRESHOLDS.model_dump(exclude_defaults=True).items()]
SITES = (("127.0.2.1", "KZ-47"), ("127.0.2.2", "KZ-47"), ("127.0.2.3", "KZ-75"), ("127.0.2.4", "KZ-75"))
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, "condition not reached"
        time.sleep(0.1)


def all_stored(store: Store) -> list[Outage]:
    return sorted(store.outages(limit=1000).outages, key=lambda o: (o.started_at, o.id))


@dataclass(frozen=True)
class LiveRun:
    data_dir: Path
    outages: list[Outage]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    """One real agent run through a national cut and its restoration (~15 s)."""
    data_dir = tmp_path_factory.mktemp("live") / "data"
    servers = [WebServer(address).start() for address, _ in SITES]
    labels = [Labels("KZ", region, "9198", "Kazakhtelecom", NetworkType.FIXED, "news") for _, region in SITES]
    targets = [
        Target(f"site{n}/http", "http", http_probe.Params(url=server.url("/")), label, 0.5, 0.3)
        for n, (server, label) in enumerate(zip(servers, labels, strict=True))
    ]
    settings = config(targets, data_dir=data_dir, concurrency=8, jitter_s=0.05)
    agent = Agent(dataclasses.replace(settings, detection=THRESHOLDS), PROBES)
    agent.start()
    try:
        time.sleep(4.0)  # healthy: states known, baselines binned
        for server in servers:
            server.set_behaviour(Hang())
        wait_for(lambda: any(o.scope_type is ScopeType.COUNTRY for o in agent.detection.active_outages()), 20)
        for server in servers:
            server.clear_behaviours(Ok())
        wait_for(lambda: not agent.detection.active_outages(), 20)
    finally:
        agent.stop()
        for server in servers:
            server.stop()
    yield LiveRun(data_dir, all_stored(Store(db_path(data_dir))))


def test_live_run_opened_and_closed_a_national_outage(live: LiveRun) -> None:
    country = [o for o in live.outages if o.scope_type is ScopeType.COUNTRY]
    assert len(country) == 1
    assert country[0].entity == "KZ" and country[0].ended_at is not None
    assert country[0].layer is not Layer.VANTAGE_OFFLINE
    assert all(not o.is_open for o in live.outages)


def test_replay_reproduces_the_live_outages_exactly(live: LiveRun) -> None:
    store = Store(db_path(live.data_dir))
    result = replay(store.measurements(EPOCH, datetime.now(UTC)), THRESHOLDS, [VANTAGE])
    assert result.late == 0
    assert result.outages == live.outages  # ids, times, layers, counts, evidence, severity


def test_cli_redetect_prints_the_same_records_and_write_is_idempotent(live: LiveRun) -> None:
    runner = CliRunner()
    args = ["redetect", "--data-dir", str(live.data_dir), *OVERRIDES]
    shown = runner.invoke(app, [*args, "--json"])
    assert shown.exit_code == 0, shown.output
    printed = [Outage.from_dict(json.loads(line)) for line in shown.stdout.splitlines()]
    assert printed == live.outages
    table = runner.invoke(app, args)
    assert table.exit_code == 0
    header = "ID SCOPE ENTITY LAYER START (EARLIEST..AT) END (EARLIEST..AT) TARGETS"
    assert table.stdout.splitlines()[0].split() == header.split()
    assert {line.split()[0] for line in table.stdout.splitlines()[1:]} == {o.id for o in live.outages}
    for _ in range(2):
        assert runner.invoke(app, [*args, "--write"]).exit_code == 0
    assert all_stored(Store(db_path(live.data_dir))) == live.outages


def test_threshold_override_changes_the_result(live: LiveRun) -> None:
    store = Store(db_path(live.data_dir))
    # Failures short of down_after still count as non-ok answers towards degraded_after.
    strict = THRESHOLDS.model_copy(update={"down_after": 50, "degraded_after": 50})
    assert replay(store.measurements(EPOCH, datetime.now(UTC)), strict, [VANTAGE]).outages == []
    shown = CliRunner().invoke(app, ["redetect", "--data-dir", str(live.data_dir), *OVERRIDES,
                                     "--set", "down_after=50", "--set", "degraded_after=50",
                                     "--json"])  # fmt: skip
    assert shown.exit_code == 0 and shown.stdout == ""


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "give exactly one of --config or --data-dir"),
        (["--set", "down_after=0"], 2, "--set down_after: Input should be greater than or equal to 1"),
        (["--set", "nonsense"], 2, "--set 'nonsense': expected key=value"),
        (["--set", "down_aftr=3"], 2, "--set down_aftr: Extra inputs are not permitted"),
        (["--since", "yesterday"], 2, "--since: expected an ISO 8601 time with a zone"),
    ],
)
def test_cli_rejects_bad_input(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    Store(db_path(tmp_path))
    where = ["--data-dir", str(tmp_path)] if args else []
    result = CliRunner().invoke(app, ["redetect", *where, *args])
    assert result.exit_code == code
    assert message in result.stderr


def test_cli_without_a_store_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["redetect", "--data-dir", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert f"no store at {db_path(tmp_path / 'none')}" in result.stderr
