"""Every Prometheus metric name of netwatch, and the ``/metrics`` exposition.

Two halves:

- **Per-target series** (``TargetMetrics``) are built from the latest measurement of each
  *configured* target. A target's exposition lines are rendered once, when its measurement
  arrives, and joined at scrape time. At 10,000 targets, formatting through a
  ``prometheus_client`` collector took ~120 ms for the success family alone (~0.6 s for all five,
  ~50,000 samples); joining the cached lines takes ~15 ms (``bench/agent_scale.py``). A target
  removed by reload loses all its series, counters included.
- **Self and aggregate metrics** live in an injected ``CollectorRegistry`` (never the global one).
  Other parts add theirs with ``Metrics.register`` (the detector's collectors use the names below).

Label values come from config or closed vocabularies only: target labels, ``Failure`` names,
probe phase names, ``SkipReason`` values, sink names written in code.
"""

from __future__ import annotations

import hashlib
import platform
import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from netwatch.model import Measurement, Target
from netwatch.scheduler import SkipReason

PROBE_SUCCESS = "netwatch_probe_success"
PROBE_DURATION = "netwatch_probe_duration_seconds"
PROBE_PHASE = "netwatch_probe_phase_seconds"
PROBE_LAST_RUN = "netwatch_probe_last_run_timestamp_seconds"
PROBE_FAILURES = "netwatch_probe_failures_total"
PROBE_RUNS = "netwatch_probe_runs_total"
PROBE_DNS_ANSWER_HASH = "netwatch_probe_dns_answer_hash"
PROBE_TLS_ISSUER_HASH = "netwatch_probe_tls_issuer_hash"
SCHEDULER_LAG = "netwatch_scheduler_lag_seconds"
SCHEDULER_SKIPPED = "netwatch_scheduler_skipped_runs_total"
PROBES_IN_FLIGHT = "netwatch_probes_in_flight"
TARGETS_CONFIGURED = "netwatch_targets_configured"
MEASUREMENTS = "netwatch_measurements_total"
STORE_WRITE_ERRORS = "netwatch_store_write_errors_total"
CONFIG_RELOAD_SUCCESSFUL = "netwatch_config_last_reload_successful"
CONFIG_RELOAD_SUCCESS_TIMESTAMP = "netwatch_config_last_reload_success_timestamp_seconds"
BUILD_INFO = "netwatch_build"  # exposed as netwatch_build_info
# Owned by live detection (netwatch.detection_metrics), registered through Metrics.register:
GROUP_REACHABILITY_RATIO = "netwatch_group_reachability_ratio"  # {group_type, group}
OUTAGE_ACTIVE = "netwatch_outage_active"  # {scope, entity, layer}
OUTAGE_START_TIME = "netwatch_outage_start_time_seconds"  # {scope, entity, layer}
OUTAGE_START_EARLIEST = "netwatch_outage_start_earliest_seconds"  # {scope, entity, layer}
OUTAGES_TOTAL = "netwatch_outages_total"  # {scope, layer}
LATE_MEASUREMENTS = "netwatch_detection_late_measurements_total"
# Owned by the notifier (netwatch.notify.metrics):
NOTIFICATIONS_SENT = "netwatch_notifications_sent_total"  # {destination}
NOTIFICATIONS_FAILED = "netwatch_notifications_failed_total"  # {destination}
NOTIFICATIONS_SUPPRESSED = "netwatch_notifications_suppressed_total"  # {reason}
NOTIFICATION_BACKLOG = "netwatch_notification_outbox_backlog"

TARGET_LABELS = ("target", "kind", "region", "asn", "operator", "network_type", "category", "role")
"""Label names of every per-target series, in exposition order."""

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The Prometheus text format (0.0.4) that ``Metrics.render`` produces."""

_FAMILIES = (
    (PROBE_SUCCESS, "gauge", "1 if the target's latest probe succeeded, else 0."),
    (PROBE_DURATION, "gauge", "Duration of the target's latest probe, in seconds (monotonic)."),
    (PROBE_PHASE, "gauge", "Duration of each phase of the target's latest probe, in seconds."),
    (PROBE_LAST_RUN, "gauge", "Start of the target's latest probe, in Unix epoch seconds."),
    (
        PROBE_FAILURES,
        "counter",
        "Probes of the target that failed, by failure name, since the agent started.",
    ),
    (PROBE_RUNS, "counter", "Probes of the target run since the agent started."),
    (
        PROBE_DNS_ANSWER_HASH,
        "gauge",
        "Hash (52 bits) of the DNS answers of the target's latest measurement (changes() counts changes).",
    ),
    (
        PROBE_TLS_ISSUER_HASH,
        "gauge",
        "Hash (52 bits) of the TLS issuer (name and key id) the target's latest measurement saw.",
    ),
)
_number: Callable[[float], str] = floatToGoString  # the client's own sample formatting, typed
_HEADERS = tuple(f"# HELP {name} {text}\n# TYPE {name} {kind}\n" for name, kind, text in _FAMILIES)


def escape_label_value(value: str) -> str:
    """Escape a label value for the text format: backslash, double quote, newline."""
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def target_label_text(target: Target) -> str:
    """The ``name="value",...`` label text of a target's series (without braces)."""
    labels = target.labels
    values = (
        target.id,
        target.kind,
        labels.region,
        labels.asn,
        labels.operator,
        labels.network_type.value,
        labels.category,
        labels.role.value,
    )
    return ",".join(
        f'{name}="{escape_label_value(v)}"' for name, v in zip(TARGET_LABELS, values, strict=True)
    )


@dataclass(frozen=True, slots=True)
class _Series:
    """One target's latest measurement, failure counts and runs, with its rendered lines per family."""

    measurement: Measurement
    failures: Mapping[str, int]
    runs: int
    lines: tuple[str, ...]


def fingerprint_value(text: str) -> int:
    """A 52-bit integer from SHA-256 of ``text``: exact in a float64 sample, stable across agents."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:13], 16)


def dns_answer_text(measurement: Measurement) -> str | None:
    """The DNS answers of a ``dns`` measurement in one canonical text (None: no answers seen)."""
    answer_sets = measurement.evidence.get("answer_sets")
    if not isinstance(answer_sets, Mapping) or not answer_sets:
        return None
    return ";".join(
        f"{qtype}=" + "|".join(sorted({a for entry in entries for a in entry.get("answers", ())}))
        for qtype, entries in sorted(answer_sets.items())
    )


def tls_issuer_text(measurement: Measurement) -> str | None:
    """Issuer name and key id the measurement's TLS session presented (None: no TLS seen)."""
    tls = measurement.evidence.get("tls")
    leaf = tls.get("leaf") if isinstance(tls, Mapping) else None
    if not isinstance(leaf, Mapping) or not leaf.get("issuer"):
        return None
    return f"{leaf['issuer']}|{leaf.get('issuer_key_id') or ''}"


def _optional_line(name: str, labels: str, text: str | None) -> str:
    return "" if text is None else f"{name}{{{labels}}} {_number(fingerprint_value(text))}\n"


def _render_series(
    labels: str, measurement: Measurement, failures: Mapping[str, int], runs: int
) -> tuple[str, ...]:
    phases = "".join(
        f'{PROBE_PHASE}{{{labels},phase="{escape_label_value(phase)}"}} {_number(seconds)}\n'
        for phase, seconds in sorted(measurement.phases.items())
    )
    counts = "".join(
        f'{PROBE_FAILURES}{{{labels},failure="{failure}"}} {_number(count)}\n'
        for failure, count in sorted(failures.items())
    )
    return (
        f"{PROBE_SUCCESS}{{{labels}}} {_number(1 if measurement.ok else 0)}\n",
        f"{PROBE_DURATION}{{{labels}}} {_number(measurement.duration_s)}\n",
        phases,
        f"{PROBE_LAST_RUN}{{{labels}}} {_number(measurement.started_at.timestamp())}\n",
        counts,
        f"{PROBE_RUNS}{{{labels}}} {_number(runs)}\n",
        _optional_line(PROBE_DNS_ANSWER_HASH, labels, dns_answer_text(measurement)),
        _optional_line(PROBE_TLS_ISSUER_HASH, labels, tls_issuer_text(measurement)),
    )


class TargetMetrics:
    """Per-target series from the latest measurement of each configured target. Thread-safe.

    Measurements of targets not configured (e.g. finishing after a reload removed them) are
    ignored. A target appears once its first measurement arrives.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._labels: dict[str, str] = {}
        self._series: dict[str, _Series] = {}

    def set_targets(self, targets: Iterable[Target]) -> None:
        """Replace the configured set: drop series of removed targets, relabel changed ones."""
        labels = {target.id: target_label_text(target) for target in targets}
        with self._lock:
            old, self._labels = self._labels, labels
            series = {}
            for target_id, kept in self._series.items():
                text = labels.get(target_id)
                if text is None:
                    continue
                if text != old.get(target_id):
                    lines = _render_series(text, kept.measurement, kept.failures, kept.runs)
                    kept = _Series(kept.measurement, kept.failures, kept.runs, lines)  # noqa: PLW2901
                series[target_id] = kept
            self._series = series

    def observe(self, measurement: Measurement) -> None:
        """Make ``measurement`` the latest of its target and count its failure, if any."""
        with self._lock:
            labels = self._labels.get(measurement.target_id)
            if labels is None:
                return
            previous = self._series.get(measurement.target_id)
            failures = Tally(previous.failures if previous else {})
            if measurement.failure is not None:
                failures[measurement.failure.value] += 1
            runs = (previous.runs if previous else 0) + 1
            lines = _render_series(labels, measurement, failures, runs)
            self._series[measurement.target_id] = _Series(measurement, failures, runs, lines)

    def latest(self) -> dict[str, Measurement]:
        """The latest measurement of each configured target that has one."""
        with self._lock:
            return {target_id: s.measurement for target_id, s in self._series.items()}

    def render(self) -> str:
        """The per-target families in the text format, series in target-id order."""
        with self._lock:
            series = [self._series[target_id] for target_id in sorted(self._series)]
        blocks = []
        for index, header in enumerate(_HEADERS):
            blocks.append(header)
            blocks.extend(s.lines[index] for s in series)
        return "".join(blocks)


class SelfMetrics:
    """The agent's own health, in ``registry``. Implements ``scheduler.SchedulerObserver``."""

    def __init__(self, registry: CollectorRegistry, version: str) -> None:
        self.lag = Histogram(
            SCHEDULER_LAG,
            "Delay between a run's scheduled time (jitter included) and its start, in seconds.",
            buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60),
            registry=registry,
        )
        self.skips = Counter(
            SCHEDULER_SKIPPED, "Scheduled runs that did not happen, by reason.", ["reason"], registry=registry
        )
        for reason in SkipReason:
            self.skips.labels(reason)
        self.in_flight = Gauge(PROBES_IN_FLIGHT, "Probes running now.", registry=registry)
        self.targets = Gauge(TARGETS_CONFIGURED, "Targets in the running configuration.", registry=registry)
        self.measurements = Counter(
            MEASUREMENTS, "Measurements taken, by probe kind.", ["kind"], registry=registry
        )
        self.store_errors = Counter(
            STORE_WRITE_ERRORS, "Measurements a sink failed to write, by sink.", ["sink"], registry=registry
        )
        self.reload_ok = Gauge(
            CONFIG_RELOAD_SUCCESSFUL, "1 if the last configuration load succeeded, else 0.", registry=registry
        )
        self.reload_time = Gauge(
            CONFIG_RELOAD_SUCCESS_TIMESTAMP,
            "When the configuration was last loaded successfully, in Unix epoch seconds.",
            registry=registry,
        )
        Info(BUILD_INFO, "netwatch build.", registry=registry).info(
            {"version": version, "python": platform.python_version()}
        )

    def observe_lag(self, seconds: float) -> None:
        self.lag.observe(max(seconds, 0.0))

    def skipped(self, reason: str) -> None:
        self.skips.labels(reason).inc()

    def set_in_flight(self, count: int) -> None:
        self.in_flight.set(count)

    def store_write_error(self, sink: str) -> None:
        """A sink (``jsonl``, ``sqlite``) failed to write one measurement."""
        self.store_errors.labels(sink).inc()

    def config_loaded(self, ok: bool, at_epoch_s: float) -> None:
        """Record a (re)load attempt; the timestamp moves only on success."""
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_time.set(at_epoch_s)


class Metrics:
    """The agent's metrics: ``observe`` every measurement, ``render`` on scrape."""

    def __init__(self, registry: CollectorRegistry, version: str) -> None:
        self.registry = registry
        self.self_metrics = SelfMetrics(registry, version)
        self.targets = TargetMetrics()

    def register(self, collector: Collector) -> None:
        """Add a collector (e.g. the detector's) to the exposition."""
        self.registry.register(collector)

    def set_targets(self, targets: Iterable[Target]) -> None:
        """The configured targets changed (start or reload)."""
        targets = tuple(targets)
        self.targets.set_targets(targets)
        self.self_metrics.targets.set(len(targets))

    def observe(self, measurement: Measurement) -> None:
        """A measurement listener: updates the target's series and the measurement counter."""
        self.self_metrics.measurements.labels(measurement.kind).inc()
        self.targets.observe(measurement)

    def render(self) -> bytes:
        """The full exposition in ``CONTENT_TYPE``: registry collectors first, then per-target series."""
        return generate_latest(self.registry) + self.targets.render().encode()
