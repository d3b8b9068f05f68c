"""The agent end to end: JSON Lines sink, HTTP endpoints, reload (in process and by SIGHUP in a
real ``netwatch run`` subprocess), and a clean SIGTERM stop. Loopback only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from agent_samples import T0, config, table, target
from prometheus_client.parser import text_string_to_metric_families

from netwatch.app import Agent
from netwatch.config import Config, ConfigError
from netwatch.config_errors import Problem
from netwatch.deadline import Deadline
from netwatch.jsonl_sink import JsonLinesSink
from netwatch.model import Failure, Measurement, Outcome, Target
from probes.env import ProbeEnv


def sample(n: int) -> Measurement:
    return Measurement(
        id=f"m{n}", target_id="a", kind="tcp", vantage_id="v", started_at=T0, duration_s=0.1, failure=None
    )


def read_jsonl(path: Path) -> list[Measurement]:
    return [Measurement.from_dict(json.loads(line)) for line in path.read_text().splitlines()]


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float | None:
    return next((v for (n, _), v in samples.items() if n == name), None)


def targets_seen(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> set[str]:
    return {dict(labels)["target"] for (n, labels) in samples if n == "netwatch_probe_success"}


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, "condition not reached"
        time.sleep(0.05)


# --- JSON Lines sink ---------------------------------------------------------------------------


def test_jsonl_sink_writes_every_measurement_before_close_returns(tmp_path: Path) -> None:
    errors: list[str] = []
    sink = JsonLinesSink(tmp_path / "m.jsonl", errors.append)
    for n in range(500):
        sink.write(sample(n))
    sink.close()
    sink.write(sample(999))  # after close: ignored
    assert read_jsonl(tmp_path / "m.jsonl") == [sample(n) for n in range(500)]
    assert errors == []


def test_jsonl_sink_starts_on_a_fresh_line_after_a_torn_one(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    whole = json.dumps(sample(1).to_dict())
    path.write_text(whole + "\n" + whole[:40])  # a crash cut the second line short
    sink = JsonLinesSink(path, lambda sink: None)
    sink.write(sample(2))
    sink.close()
    lines = path.read_text().splitlines()
    assert Measurement.from_dict(json.loads(lines[0])) == sample(1)
    assert lines[1] == whole[:40]
    assert Measurement.from_dict(json.loads(lines[2])) == sample(2)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_jsonl_sink_counts_measurements_it_could_not_write() -> None:
    errors: list[str] = []
    sink = JsonLinesSink(Path("/dev/full"), errors.append)
    sink.write(sample(1))
    sink.write(sample(2))
    sink.close()
    assert errors == ["jsonl", "jsonl"]


# --- the agent in process ----------------------------------------------------------------------


def ok_probe(t: Target, deadline: Deadline, env: ProbeEnv) -> Outcome:
    return Outcome(None, phases={"connect": 0.001})


def broken_probe(t: Target, deadline: Deadline, env: ProbeEnv) -> Outcome:
    raise RuntimeError("bug")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    targets = [
        target("a", interval_s=0.2),
        target("b", interval_s=0.2),
        target("bug", kind="broken", interval_s=0.2),
    ]
    running = Agent(
        config(targets, measurements_out=tmp_path / "m.jsonl", data_dir=tmp_path / "data"),
        table(fake=ok_probe, broken=broken_probe),
    )
    running.start()
    yield running
    running.stop()


def test_agent_serves_metrics_and_health(agent: Agent) -> None:
    base = agent.server.url
    wait_for(lambda: targets_seen(scrape(base)) == {"a", "b", "bug"})
    response = httpx.get(f"{base}/metrics", timeout=5)
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = scrape(base)
    assert (
        samples[
            (
                "netwatch_probe_failures_total",
                tuple(
                    sorted(
                        {
                            "target": "bug",
                            "kind": "broken",
                            "region": "KZ-75",
                            "asn": "9198",
                            "operator": "Kazakhtelecom",
                            "network_type": "fixed",
                            "category": "news",
                            "role": "subject",
                            "failure": "internal_error",
                        }.items()
                    )
                ),
            )
        ]
        >= 1
    )
    assert value(samples, "netwatch_config_last_reload_successful") == 1
    health = httpx.get(f"{base}/healthz", timeout=5)
    assert health.status_code == 200
    body = health.json()
    assert body["ok"] is True and body["scheduler_running"] is True and body["targets"] == 3
    assert 0 <= body["last_measurement_age_s"] < 5


def test_agent_serves_the_read_only_api_from_its_own_store(agent: Agent) -> None:
    base = agent.server.url
    wait_for(lambda: targets_seen(scrape(base)) == {"a", "b", "bug"})
    status = httpx.get(f"{base}/api/v1/status", timeout=5)
    assert status.status_code == 200
    assert status.json()["open_outages"] == 0
    assert httpx.get(f"{base}/api/v1/outages", timeout=5).json()["outages"] == []
    assert httpx.get(f"{base}/api/v1/outages/out-unknown", timeout=5).status_code == 404
    assert "/api/v1/measurements" in httpx.get(f"{base}/openapi.json", timeout=5).json()["paths"]
    assert httpx.post(f"{base}/api/v1/outages", timeout=5).status_code == 405  # read-only


def test_agent_reload_applies_a_good_config_and_keeps_the_old_on_a_bad_one(
    agent: Agent, tmp_path: Path
) -> None:
    base = agent.server.url
    wait_for(lambda: targets_seen(scrape(base)) == {"a", "b", "bug"})
    assert agent.reload(lambda: config([target("a", interval_s=0.2)], measurements_out=tmp_path / "m.jsonl"))
    assert targets_seen(scrape(base)) == {"a"}  # removed targets' series, counters included, are gone
    assert value(scrape(base), "netwatch_targets_configured") == 1

    def bad() -> Config:
        raise ConfigError([Problem("netwatch.yaml", 3, "targets[0].kind", "unknown probe kind 'tpc'")])

    assert not agent.reload(bad)
    samples = scrape(base)
    assert value(samples, "netwatch_config_last_reload_successful") == 0
    assert sorted(agent.scheduler.targets) == ["a"]
    assert targets_seen(samples) == {"a"}


def test_agent_stop_flushes_every_measurement(agent: Agent, tmp_path: Path) -> None:
    wait_for(lambda: agent.metrics.self_metrics.measurements.labels("fake")._value.get() >= 4)
    assert agent.stop() == 0
    taken = sum(
        agent.metrics.registry.get_sample_value("netwatch_measurements_total", {"kind": k}) or 0
        for k in ("fake", "broken")
    )
    written = read_jsonl(tmp_path / "m.jsonl")
    assert len(written) == taken
    assert {m.failure for m in written if m.target_id == "bug"} == {Failure.INTERNAL_ERROR}
    assert not agent.health().ok


# --- `netwatch run` in a subprocess: SIGHUP reload, SIGTERM stop -------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_yaml(port: int, target_ports: dict[str, int]) -> str:
    targets = "".join(
        f"  - id: {name}\n    kind: tcp\n    interval: 1\n    timeout: 0.5\n"
        f"    params: {{host: 127.0.0.1, port: {tcp_port}}}\n"
        f"    labels: {{country: KZ, region: KZ-75, asn: 9198, category: telecom}}\n"
        for name, tcp_port in target_ports.items()
    )
    return (
        "vantage: {id: test-agent, position: outside}\n"
        "allowed_networks: [127.0.0.0/8]\n"
        f"listen: {{address: 127.0.0.1, port: {port}}}\n"
        "probing: {jitter: 0.1, concurrency: 4}\n"
        f"targets:\n{targets}"
    )


@pytest.fixture
def listener() -> Iterator[int]:
    """A loopback TCP server that accepts and closes connections."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    done.set()
    thread.join()
    server.close()


def test_netwatch_run_reloads_on_sighup_and_stops_on_sigterm(tmp_path: Path, listener: int) -> None:
    port = free_port()
    closed_port = free_port()
    conf = tmp_path / "netwatch.yaml"
    conf.write_text(config_yaml(port, {"open": listener, "closed": closed_port}))
    out = tmp_path / "measurements.jsonl"
    log = (tmp_path / "agent.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "netwatch", "run", "--config", str(conf), "--measurements-out", str(out)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "NETWATCH_ALLOWED_NETWORKS": "127.0.0.0/8"},
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert proc.poll() is None, (tmp_path / "agent.log").read_text()
            try:
                return targets_seen(scrape(base)) == {"open", "closed"}
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=20)
        samples = scrape(base)
        assert value(samples, "netwatch_config_last_reload_successful") == 1
        first_reload = value(samples, "netwatch_config_last_reload_success_timestamp_seconds")

        conf.write_text(config_yaml(port, {"open": listener}))  # a good new config: one target fewer
        time.sleep(0.05)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: targets_seen(scrape(base)) == {"open"})
        samples = scrape(base)
        assert value(samples, "netwatch_config_last_reload_successful") == 1
        assert (value(samples, "netwatch_config_last_reload_success_timestamp_seconds") or 0) > (
            first_reload or 0
        )

        conf.write_text("vantage: {id: test-agent, position: sideways}\n")  # invalid
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: value(scrape(base), "netwatch_config_last_reload_successful") == 0)
        assert targets_seen(scrape(base)) == {"open"}  # still running the old config

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    output = (tmp_path / "agent.log").read_text()
    assert "vantage.position" in output  # the ConfigError text was logged
    written = read_jsonl(out)  # every line complete and parseable
    assert {m.target_id for m in written} == {"open", "closed"}
    assert all(m.vantage_id == "test-agent" for m in written)
    assert {m.failure for m in written if m.target_id == "open"} == {None}  # the real tcp probe
    assert {m.failure for m in written if m.target_id == "closed"} == {Failure.TCP_REFUSED}
