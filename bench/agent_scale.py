"""An agent holding many tcp targets against a loopback listener: CPU, RSS and /metrics time.

    python bench/agent_scale.py --targets 10000 --interval 60 --seconds 90

Prints start-up cost, steady-state CPU (cores, measured over the last two thirds of the run, after
the first runs have spread out), RSS, skipped runs and lag, the in-process ``/metrics`` render time
and the time to fetch ``/metrics`` over HTTP with a raw socket (Prometheus' side of a scrape).
``--compare-collector`` also times the same series through a plain ``prometheus_client``
collector, the design the cached exposition replaced. Loopback only.
"""

from __future__ import annotations

import argparse
import logging
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from netwatch.app import Agent, configure_logging
from netwatch.config import Config
from netwatch.egress import EgressPolicy
from netwatch.metrics import PROBE_SUCCESS, TARGET_LABELS
from netwatch.model import Labels, NetworkType, Position, Target, Vantage
from probes import PROBES, tcp
from probes.env import loopback_env


def listener() -> int:
    """A loopback TCP server accepting and closing connections; returns its port."""
    server = socket.create_server(("127.0.0.1", 0), backlog=1024)

    def serve() -> None:
        while True:
            conn, _ = server.accept()
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return int(server.getsockname()[1])


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))


def timings_ms(action: Callable[[], object], runs: int = 5) -> str:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1000)
    return f"min {min(times):.1f} ms, median {sorted(times)[runs // 2]:.1f} ms"


def fetch(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        size = 0
        while chunk := conn.recv(1 << 20):
            size += len(chunk)
        return size


class NaiveCollector:
    """The success family built per scrape from the latest measurements (for comparison)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(PROBE_SUCCESS, "comparison", labels=TARGET_LABELS)
        for measurement in self.agent.metrics.targets.latest().values():
            labels = measurement.labels.as_dict()
            values = [measurement.target_id, measurement.kind, *(labels[n] for n in TARGET_LABELS[2:])]
            family.add_metric(values, 1.0 if measurement.ok else 0.0)
        yield family


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--compare-collector", action="store_true")
    args = parser.parse_args()
    configure_logging(logging.WARNING)

    params = tcp.Params(host="127.0.0.1", port=listener())
    labels = Labels("KZ", "KZ-75", "9198", "Kazakhtelecom", NetworkType.FIXED, "news")
    targets = tuple(
        Target(f"t{n:05d}", "tcp", params, labels, interval_s=args.interval, timeout_s=5.0)
        for n in range(args.targets)
    )
    config = Config(
        source=None,
        vantage=Vantage("bench", Position.OUTSIDE),
        egress=EgressPolicy.loopback(),
        probe_env=loopback_env(),
        targets=targets,
        listen_port=0,
        concurrency=args.concurrency,
    )
    began, cpu0 = time.monotonic(), cpu_s()
    agent = Agent(config, PROBES)
    agent.start()
    print(
        f"start: {time.monotonic() - began:.2f} s wall, {cpu_s() - cpu0:.2f} s CPU, RSS {rss_mib():.0f} MiB"
    )
    time.sleep(args.seconds / 3)
    cpu1, wall1 = cpu_s(), time.monotonic()
    time.sleep(args.seconds * 2 / 3)
    cores = (cpu_s() - cpu1) / (time.monotonic() - wall1)
    print(f"steady state: {cores:.3f} cores, RSS {rss_mib():.0f} MiB")
    registry = agent.metrics.registry

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    lag = value("netwatch_scheduler_lag_seconds_sum") / max(value("netwatch_scheduler_lag_seconds_count"), 1)
    skipped = "netwatch_scheduler_skipped_runs_total"
    print(
        f"measurements {value('netwatch_measurements_total', kind='tcp'):.0f}, skipped: overlap "
        f"{value(skipped, reason='overlap'):.0f}, late {value(skipped, reason='late'):.0f}; "
        f"mean lag {lag:.3f} s"
    )
    print(f"render /metrics in process: {timings_ms(agent.metrics.render)}")
    size = fetch(agent.server.port)
    print(f"GET /metrics over HTTP ({size} bytes): {timings_ms(lambda: fetch(agent.server.port))}")
    if args.compare_collector:
        naive = CollectorRegistry()
        naive.register(NaiveCollector(agent))
        print(f"the success family alone through a collector: {timings_ms(lambda: generate_latest(naive))}")
    began = time.monotonic()
    abandoned = agent.stop()
    print(f"stop: {time.monotonic() - began:.2f} s, {abandoned} probes abandoned")


if __name__ == "__main__":
    main()
