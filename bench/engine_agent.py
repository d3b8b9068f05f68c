"""The probe engine alone, composed as ``netwatch.app.Agent`` composes it, minus the store and detection.

    python bench/engine_agent.py CONFIG

Loads ``CONFIG`` with ``load_config``, then runs the scheduler → ``run_probe`` → ``Metrics``
pipeline and serves ``/metrics`` and ``/healthz`` with ``create_api``/``ApiServer``, until SIGTERM
or SIGINT. ``bench/agent_run.py`` runs it next to the full ``netwatch run`` so the engine's own
cost (issue 2's scale target) and the whole agent's can be told apart.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from prometheus_client import CollectorRegistry

import netwatch
from netwatch.api import ApiServer, Health, create_api
from netwatch.app import STOP_GRACE_S, configure_logging
from netwatch.config import load_config
from netwatch.metrics import Metrics
from netwatch.model import Target
from netwatch.runner import run_probe
from netwatch.scheduler import Scheduler
from probes import PROBES


def main() -> int:
    configure_logging()
    config = load_config(Path(sys.argv[1]))
    metrics = Metrics(CollectorRegistry(), netwatch.__version__)
    last: list[float] = []

    def probe(target: Target) -> None:
        metrics.observe(run_probe(target, PROBES, config.probe_env, config.vantage))
        last[:] = [time.monotonic()]

    scheduler = Scheduler(
        probe, metrics.self_metrics, concurrency=config.concurrency, jitter_s=config.jitter_s
    )

    def health() -> Health:
        return Health(
            ok=scheduler.running,
            scheduler_running=scheduler.running,
            last_measurement_age_s=time.monotonic() - last[0] if last else None,
            config_source=str(config.source),
            targets=len(config.targets),
        )

    server = ApiServer(create_api(metrics.render, health), config.listen_address, config.listen_port)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for handled in (signal.SIGTERM, signal.SIGINT):
        signal.signal(handled, on_signal)
    metrics.set_targets(config.targets)
    server.start()
    scheduler.start(config.targets)
    stop.wait()
    abandoned = scheduler.stop(max(t.timeout_s for t in config.targets) + STOP_GRACE_S)
    server.stop()
    return 1 if abandoned else 0


if __name__ == "__main__":
    sys.exit(main())
