"""A real monitoring stack on loopback for end-to-end tests: netwatch agents (``netwatch run``
subprocesses), Prometheus (Debian's ``/usr/bin/prometheus``, fed the shipped prometheus.yml and rules)
and Alertmanager (Debian's ``prometheus-alertmanager``).

Everything listens on 127.0.0.x ports picked free at start, writes only under a directory the caller
gives (pytest's ``tmp_path``), and is stopped by ``close()`` or the context manager: SIGTERM, then
SIGKILL after a grace period. Nothing here touches the network beyond loopback: agents run with
``NETWATCH_ALLOWED_NETWORKS=127.0.0.0/8`` and name their resolvers.

Typical use (see ``tests/test_live_stack.py``)::

    with ExitStack() as stack:
        agent = stack.enter_context(NetwatchAgent.start(tmp / "a", agent_config("ala-1", "inside", targets)))
        scrape = [ScrapeTarget(agent.address, "ala-1", "inside")]
        prom = stack.enter_context(Prometheus.start(tmp / "prom", deploy_prometheus_config(scrape)))
        prom.wait_for(lambda: prom.query('up{job="netwatch"}') != [])
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY_PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
PROMETHEUS_BIN = "/usr/bin/prometheus"
LOOPBACK_ENV = {"NETWATCH_ALLOWED_NETWORKS": "127.0.0.0/8"}
STOP_GRACE_S = 10.0

Sample = dict[str, Any]  # one element of a Prometheus API "result" list


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (a tiny race remains; callers bind soon after)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll ``condition`` until it is true; fail the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def prometheus_binary() -> str:
    """The Prometheus server binary, or skip the test naming the Debian package."""
    path = shutil.which("prometheus") or (PROMETHEUS_BIN if Path(PROMETHEUS_BIN).exists() else None)
    if path is None:
        pytest.skip("prometheus is not installed (Debian package 'prometheus')")
    return path


def _stop(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE_S) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


# --- netwatch agents -----------------------------------------------------------------------------


def agent_config(
    vantage: str,
    position: str,
    targets: Sequence[Mapping[str, Any]],
    *,
    port: int,
    data_dir: Path,
    interval_s: float = 1.0,
    timeout_s: float = 0.8,
    resolvers: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A ``netwatch run`` config (as a mapping) listening on 127.0.0.1:``port``, loopback egress only."""
    return {
        "vantage": {"id": vantage, "position": position},
        "allowed_networks": ["127.0.0.0/8"],
        "listen": {"address": "127.0.0.1", "port": port},
        "data_dir": str(data_dir),
        "probing": {
            "interval": interval_s,
            "timeout": timeout_s,
            "jitter": 0.1,
            "concurrency": 8,
            "bogon_exempt_networks": ["127.0.0.0/8"],
        },
        "resolvers": [dict(r) for r in resolvers],
        "targets": [dict(t) for t in targets],
    }


@dataclass
class NetwatchAgent:
    """A ``netwatch run`` subprocess. ``address`` is its ``host:port`` for scraping."""

    proc: subprocess.Popen[bytes]
    address: str
    workdir: Path
    vantage: str

    @classmethod
    @contextmanager
    def start(
        cls, workdir: Path, config: Mapping[str, Any], timeout: float = 20.0
    ) -> Iterator[NetwatchAgent]:
        """Write ``config`` to ``workdir/netwatch.yaml``, run the agent, wait until it serves /healthz."""
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / "netwatch.yaml"
        path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
        address = f"{config['listen']['address']}:{config['listen']['port']}"
        with (workdir / "agent.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "netwatch", "run", "--config", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env={**os.environ, **LOOPBACK_ENV},
            )
        agent = cls(proc, address, workdir, str(config["vantage"]["id"]))
        try:
            wait_for(agent.healthy, timeout, f"netwatch agent {agent.vantage} on {address}")
            yield agent
        finally:
            code = _stop(proc)
            assert code in (0, -signal.SIGTERM), f"agent exited {code}:\n{agent.log()}"

    def log(self) -> str:
        return (self.workdir / "agent.log").read_text(errors="replace")

    def healthy(self) -> bool:
        assert self.proc.poll() is None, f"agent {self.vantage} died:\n{self.log()}"
        try:
            return httpx.get(f"http://{self.address}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def metrics_text(self) -> str:
        """The agent's current exposition."""
        response = httpx.get(f"http://{self.address}/metrics", timeout=5)
        response.raise_for_status()
        return response.text


# --- Prometheus ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScrapeTarget:
    """One agent as the shipped prometheus.yml lists it: address plus the labels added at scrape time."""

    address: str
    vantage: str
    position: str
    watched_country: str = "KZ"


def deploy_prometheus_config(
    targets: Sequence[ScrapeTarget],
    *,
    scrape_interval: str = "1s",
    alertmanagers: Sequence[str] = (),
) -> dict[str, Any]:
    """The shipped ``deploy/prometheus/prometheus.yml`` with loopback agents and short intervals.

    Everything else (rule files, the ``netwatch`` job, its labels) stays as shipped, so the tests
    exercise the operators' file. Rule files are made absolute so Prometheus can run from a temp dir.
    """
    config: dict[str, Any] = yaml.safe_load(DEPLOY_PROMETHEUS.read_text())
    config["global"].update(
        scrape_interval=scrape_interval, scrape_timeout=scrape_interval, evaluation_interval=scrape_interval
    )
    base = DEPLOY_PROMETHEUS.parent
    config["rule_files"] = [str((base / rule).resolve()) for rule in config["rule_files"]]
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    else:
        config.pop("alerting", None)
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "netwatch"]
    job["static_configs"] = [
        {
            "targets": [t.address],
            "labels": {"vantage": t.vantage, "position": t.position, "watched_country": t.watched_country},
        }
        for t in targets
    ]
    return config


class PrometheusError(AssertionError):
    """The Prometheus HTTP API answered with an error (a query that does not parse, ...)."""


@dataclass
class Prometheus:
    """A Prometheus server on 127.0.0.1 with storage in a temp dir. Query it through its HTTP API."""

    proc: subprocess.Popen[bytes]
    url: str
    workdir: Path

    @classmethod
    @contextmanager
    def start(
        cls, workdir: Path, config: Mapping[str, Any], timeout: float = 30.0, resend_delay: str = "1s"
    ) -> Iterator[Prometheus]:
        """Run Prometheus with ``config``. ``resend_delay`` (Prometheus' default is 1m) is how soon a firing
        alert is sent again: the first send can happen before Alertmanager is discovered."""
        binary = prometheus_binary()
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
        port = free_port()
        with (workdir / "prometheus.log").open("wb") as log:
            proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--storage.tsdb.retention.time=1d",
                    "--web.enable-lifecycle",
                    f"--rules.alert.resend-delay={resend_delay}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )
        prom = cls(proc, f"http://127.0.0.1:{port}", workdir)
        try:
            wait_for(prom.ready, timeout, "Prometheus to become ready")
            yield prom
        finally:
            _stop(proc)

    def log(self) -> str:
        return (self.workdir / "prometheus.log").read_text(errors="replace")

    def ready(self) -> bool:
        assert self.proc.poll() is None, f"prometheus died:\n{self.log()}"
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def api(self, path: str, params: Mapping[str, str | float]) -> Any:
        """GET ``/api/v1/<path>``: its ``data``, or ``PrometheusError`` with the server's message."""
        response = httpx.get(f"{self.url}/api/v1/{path}", params=dict(params), timeout=30)
        body = response.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{body.get('errorType')}: {body.get('error')} (params {dict(params)})")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        """An instant query; the ``result`` list (vector) or a one-element list (scalar)."""
        params: dict[str, str | float] = {"query": expr}
        if at is not None:
            params["time"] = at
        data = self.api("query", params)
        return data["result"] if data["resultType"] in ("vector", "matrix") else [data["result"]]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Sample]:
        data = self.api("query_range", {"query": expr, "start": start, "end": end, "step": step})
        result: list[Sample] = data["result"]
        return result

    def rule_groups(self) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self.api("rules", {})["groups"]
        return groups

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        def check() -> bool:
            assert self.proc.poll() is None, f"prometheus died:\n{self.log()}"
            return condition()

        wait_for(check, timeout, what, interval=0.5)


# --- Alertmanager ----------------------------------------------------------------------------------------


def alertmanager_binary() -> str:
    """The Alertmanager binary (Debian names it prometheus-alertmanager), or skip the test."""
    path = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if path is None:
        pytest.skip("alertmanager is not installed (Debian package 'prometheus-alertmanager')")
    return path


@dataclass
class Alertmanager:
    """An Alertmanager on 127.0.0.1 without clustering, storage in a temp dir. ``address`` is what
    ``deploy_prometheus_config(alertmanagers=[...])`` wants."""

    proc: subprocess.Popen[bytes]
    address: str
    workdir: Path

    @classmethod
    @contextmanager
    def start(cls, workdir: Path, config: Mapping[str, Any], timeout: float = 30.0) -> Iterator[Alertmanager]:
        binary = alertmanager_binary()
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "alertmanager.yml"
        config_path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
        address = f"127.0.0.1:{free_port()}"
        with (workdir / "alertmanager.log").open("wb") as log:
            proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.path={workdir / 'data'}",
                    f"--web.listen-address={address}",
                    "--cluster.listen-address=",  # no gossip port
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )
        am = cls(proc, address, workdir)
        try:
            wait_for(am.ready, timeout, "Alertmanager to become ready")
            yield am
        finally:
            _stop(proc)

    def log(self) -> str:
        return (self.workdir / "alertmanager.log").read_text(errors="replace")

    def ready(self) -> bool:
        assert self.proc.poll() is None, f"alertmanager died:\n{self.log()}"
        try:
            return httpx.get(f"http://{self.address}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds now (API v2)."""
        response = httpx.get(f"http://{self.address}/api/v2/alerts", timeout=10)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts
