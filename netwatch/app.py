"""The agent's composition root: builds metrics, sinks, scheduler and HTTP server from a ``Config``,
fans every measurement out to its listeners, reloads on SIGHUP and stops on SIGTERM/SIGINT.

Measurement flow: scheduler → ``run_probe`` → listeners, in order: metrics, then each sink (the
SQLite store in ``config.data_dir`` first), then live detection (``agent.detection``), then extra
listeners. Listeners are called on probe threads and must return quickly.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import signal
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import FrameType

from prometheus_client import CollectorRegistry

import netwatch
from netwatch.api import ApiServer, Health, create_api
from netwatch.api_v1 import build_router
from netwatch.config import Config, ConfigError
from netwatch.detection import DetectionService
from netwatch.jsonl_sink import JsonLinesSink
from netwatch.metrics import Metrics
from netwatch.model import Measurement, Target
from netwatch.notify.metrics import NotifyMetrics
from netwatch.notify.worker import Notifier
from netwatch.retention import RetentionJob
from netwatch.runner import Clocks, run_probe
from netwatch.scheduler import ApplyResult, Scheduler
from netwatch.sinks import MeasurementSink
from netwatch.store import MeasurementStore, Store, db_path
from probes import ProbeKind

log = logging.getLogger(__name__)

Listener = Callable[[Measurement], None]
LoadConfig = Callable[[Path], Config]

_RESTART_ONLY = (
    "listen_address",
    "listen_port",
    "concurrency",
    "jitter_s",
    "measurements_out",
    "data_dir",
    "retention_days",
    "retention_interval_s",
)
STOP_GRACE_S = 1.0
"""Seconds granted beyond the longest probe deadline before in-flight probes are abandoned."""


class Agent:
    """One running agent. ``start`` → (``reload`` ...) → ``stop``.

    The store under ``config.data_dir`` (created if missing) gets every measurement through a
    ``MeasurementStore`` sink, and the detector's events through ``detection``. ``sinks`` are
    extra measurement sinks; a ``JsonLinesSink`` is added when ``config.measurements_out`` is set.
    The agent closes every sink on ``stop``. ``listeners`` receive each measurement after metrics,
    sinks and detection. ``clocks`` stamp measurements, reloads and detection. ``notifier`` sends
    the outbox's outage events to ``config.notifications`` destinations (idle without any).
    """

    def __init__(
        self,
        config: Config,
        probes: Mapping[str, ProbeKind],
        *,
        registry: CollectorRegistry | None = None,
        clocks: Clocks | None = None,
        sinks: Iterable[MeasurementSink] = (),
        listeners: Iterable[Listener] = (),
    ) -> None:
        self._config = config
        self._probes = probes
        self._clocks = clocks or Clocks()
        self.metrics = Metrics(registry or CollectorRegistry(), netwatch.__version__)
        store_error = self.metrics.self_metrics.store_write_error
        store_path = db_path(config.data_dir)
        self._sinks: list[MeasurementSink] = [
            MeasurementStore(
                store_path,
                on_drop=lambda: store_error("sqlite"),
                on_write_error=lambda _: store_error("sqlite"),
            ),
            *sinks,
        ]
        outbox = Store(store_path)
        self.notifier = Notifier(
            config.notifications,
            outbox,
            wall=self._clocks.wall,
            metrics=NotifyMetrics(self.metrics.registry, outbox.pending_notifications),
        )
        self.detection = DetectionService(
            config.detection,
            config.vantage,
            store_path,
            wall=self._clocks.wall,
            registry=self.metrics.registry,
            on_store_error=store_error,
            on_queued=self.notifier.wake,
        )
        self._retention = RetentionJob(
            store_path,
            config.retention_days,
            config.retention_interval_s,
            wall=self._clocks.wall,
            on_error=store_error,
        )
        if config.measurements_out is not None:
            self._sinks.append(
                JsonLinesSink(config.measurements_out, self.metrics.self_metrics.store_write_error)
            )
        self._listeners: list[Listener] = [
            self.metrics.observe,
            *(sink.write for sink in self._sinks),
            self.detection,
            *listeners,
        ]
        self._publish_lock = threading.Lock()
        self._closed = False
        self._last_measurement: float | None = None
        self.scheduler = Scheduler(
            self._probe, self.metrics.self_metrics, concurrency=config.concurrency, jitter_s=config.jitter_s
        )
        # Read-only /api/v1 over the same store, on the same port as /metrics.
        api = create_api(
            self.metrics.render, self.health, routers=[build_router(Store(store_path), self._clocks.wall)]
        )
        self.server = ApiServer(api, config.listen_address, config.listen_port)

    @property
    def config(self) -> Config:
        """The running configuration."""
        return self._config

    def start(self) -> None:
        """Serve HTTP, then start probing."""
        self.metrics.set_targets(self._config.targets)
        self.metrics.self_metrics.config_loaded(True, self._clocks.wall().timestamp())
        self.server.start()
        self.detection.start()
        self.notifier.start()
        self._retention.start()
        self.scheduler.start(self._config.targets)
        log.info(
            "netwatch %s serving on %s, %d targets",
            netwatch.__version__,
            self.server.url,
            len(self._config.targets),
        )

    def apply(self, config: Config) -> ApplyResult:
        """Switch to a valid new ``config``: targets, vantage and probe settings take effect now;
        fields in ``_RESTART_ONLY`` that changed are logged and ignored until restart."""
        for name in _RESTART_ONLY:
            if getattr(config, name) != getattr(self._config, name):
                log.warning("config %s changed; it takes effect after a restart", name)
        kept = {name: getattr(self._config, name) for name in _RESTART_ONLY}
        self._config = dataclasses.replace(config, **kept)
        self.metrics.set_targets(config.targets)  # before the scheduler: new targets' first results count
        result = self.scheduler.apply(config.targets)
        # New thresholds restart the detector (state dropped); equal ones keep its state.
        self.detection.apply(config.detection)
        self.notifier.apply(config.notifications)
        log.info(
            "config applied: %d added, %d removed, %d rescheduled",
            len(result.added),
            len(result.removed),
            len(result.rescheduled),
        )
        return result

    def reload(self, load: Callable[[], Config]) -> bool:
        """Load and apply a new config; on ``ConfigError`` keep the running one. Returns success;
        either way ``netwatch_config_last_reload_successful`` says how it went."""
        try:
            config = load()
        except ConfigError as exc:
            log.error("config reload failed; keeping the running config:\n%s", exc)
            self.metrics.self_metrics.config_loaded(False, self._clocks.wall().timestamp())
            return False
        self.apply(config)
        self.metrics.self_metrics.config_loaded(True, self._clocks.wall().timestamp())
        return True

    def stop(self) -> int:
        """Start no new probes, let running ones finish (abandoning any still running past the
        longest deadline plus ``STOP_GRACE_S``), detect and persist what detection still buffers,
        flush and close sinks, stop HTTP. Returns the number of probes abandoned; their
        measurements are discarded, never half-written."""
        timeout = max((t.timeout_s for t in self._config.targets), default=0.0) + STOP_GRACE_S
        abandoned = self.scheduler.stop(timeout)
        if abandoned:
            log.warning("%d probes still running after %.1f s; abandoned", abandoned, timeout)
        with self._publish_lock:
            self._closed = True
        self.detection.flush()
        self.notifier.stop()  # after the flush: the last events are queued, held ones routed
        self._retention.stop()
        for sink in self._sinks:
            sink.close()
        self.server.stop()
        return abandoned

    def health(self) -> Health:
        """The ``/healthz`` state."""
        last = self._last_measurement
        running = self.scheduler.running
        return Health(
            ok=running,
            scheduler_running=running,
            last_measurement_age_s=None if last is None else self._clocks.monotonic() - last,
            config_source=None if self._config.source is None else str(self._config.source),
            targets=len(self._config.targets),
        )

    def _probe(self, target: Target) -> None:
        config = self._config  # one consistent snapshot per run, even across a reload
        self._publish(run_probe(target, self._probes, config.probe_env, config.vantage, self._clocks))

    def _publish(self, measurement: Measurement) -> None:
        with self._publish_lock:
            if self._closed:
                return
            self._last_measurement = self._clocks.monotonic()
            for listener in self._listeners:
                try:
                    listener(measurement)
                except Exception:
                    log.exception("measurement listener %r failed", listener)


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr; APScheduler's per-run chatter is muted (skips are counted in metrics)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def run_agent(
    config_path: Path, load: LoadConfig, probes: Mapping[str, ProbeKind], measurements_out: Path | None = None
) -> int:
    """Run an agent from ``config_path`` until SIGTERM or SIGINT; SIGHUP reloads the file.

    Must be called from the main thread (signal handlers). ``measurements_out`` overrides the
    config's. Raises ``ConfigError`` if the first load fails. Returns the number of probes
    abandoned at stop (0 on a clean stop).
    """

    def load_file() -> Config:
        config = load(config_path)
        if measurements_out is not None:
            config = dataclasses.replace(config, measurements_out=measurements_out)
        return config

    config = load_file()
    received: collections.deque[int] = collections.deque()
    wake = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        wake.set()

    for handled in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(handled, on_signal)
    agent = Agent(config, probes)
    agent.start()
    while True:
        wake.wait()
        wake.clear()
        while received:
            signum = received.popleft()
            if signum != signal.SIGHUP:
                log.info("received %s; stopping", signal.Signals(signum).name)
                return agent.stop()
            log.info("received SIGHUP; reloading %s", config_path)
            agent.reload(load_file)
