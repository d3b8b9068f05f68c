"""Metrics: exact exposition of the per-target families, removal on reload, self metrics."""

from __future__ import annotations

import time
from dataclasses import replace

from agent_samples import LABELS, T0, target
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from netwatch.metrics import OUTAGE_ACTIVE, Metrics, TargetMetrics
from netwatch.model import Failure, Labels, Measurement, Role
from netwatch.scheduler import SkipReason

LABEL_TEXT = (
    'target="kz-news",kind="http",region="KZ-75",asn="9198",operator="Kazakhtelecom",'
    'network_type="fixed",category="news",role="subject"'
)


def measurement(target_id: str = "kz-news", failure: Failure | None = None, **changes: object) -> Measurement:
    base = Measurement(
        id="m1",
        target_id=target_id,
        kind="http",
        vantage_id="v",
        started_at=T0,  # 2022-01-05T10:30:00Z = 1641378600
        duration_s=0.25,
        failure=failure,
        phases={"resolve": 0.01, "connect": 0.02},
        labels=LABELS,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_exposition_of_one_target_is_exact() -> None:
    metrics = TargetMetrics()
    metrics.set_targets([target("kz-news", kind="http")])
    metrics.observe(measurement(failure=Failure.HTTP_TIMEOUT))
    metrics.observe(measurement(failure=Failure.HTTP_TIMEOUT))
    metrics.observe(measurement(failure=Failure.DNS_TIMEOUT, phases={"resolve": 5.0}))
    metrics.observe(measurement(duration_s=0.5))
    assert metrics.render() == (
        "# HELP netwatch_probe_success 1 if the target's latest probe succeeded, else 0.\n"
        "# TYPE netwatch_probe_success gauge\n"
        f"netwatch_probe_success{{{LABEL_TEXT}}} 1.0\n"
        "# HELP netwatch_probe_duration_seconds"
        " Duration of the target's latest probe, in seconds (monotonic).\n"
        "# TYPE netwatch_probe_duration_seconds gauge\n"
        f"netwatch_probe_duration_seconds{{{LABEL_TEXT}}} 0.5\n"
        "# HELP netwatch_probe_phase_seconds"
        " Duration of each phase of the target's latest probe, in seconds.\n"
        "# TYPE netwatch_probe_phase_seconds gauge\n"
        f'netwatch_probe_phase_seconds{{{LABEL_TEXT},phase="connect"}} 0.02\n'
        f'netwatch_probe_phase_seconds{{{LABEL_TEXT},phase="resolve"}} 0.01\n'
        "# HELP netwatch_probe_last_run_timestamp_seconds"
        " Start of the target's latest probe, in Unix epoch seconds.\n"
        "# TYPE netwatch_probe_last_run_timestamp_seconds gauge\n"
        f"netwatch_probe_last_run_timestamp_seconds{{{LABEL_TEXT}}} 1.6413786e+09\n"
        "# HELP netwatch_probe_failures_total"
        " Probes of the target that failed, by failure name, since the agent started.\n"
        "# TYPE netwatch_probe_failures_total counter\n"
        f'netwatch_probe_failures_total{{{LABEL_TEXT},failure="dns_timeout"}} 1.0\n'
        f'netwatch_probe_failures_total{{{LABEL_TEXT},failure="http_timeout"}} 2.0\n'
        "# HELP netwatch_probe_runs_total Probes of the target run since the agent started.\n"
        "# TYPE netwatch_probe_runs_total counter\n"
        f"netwatch_probe_runs_total{{{LABEL_TEXT}}} 4.0\n"
        "# HELP netwatch_probe_dns_answer_hash"
        " Hash (52 bits) of the DNS answers of the target's latest measurement (changes() counts changes).\n"
        "# TYPE netwatch_probe_dns_answer_hash gauge\n"
        "# HELP netwatch_probe_tls_issuer_hash"
        " Hash (52 bits) of the TLS issuer (name and key id) the target's latest measurement saw.\n"
        "# TYPE netwatch_probe_tls_issuer_hash gauge\n"
    )


def test_answer_and_issuer_hashes_follow_the_evidence() -> None:
    metrics = TargetMetrics()
    metrics.set_targets([target("kz-news", kind="http")])

    def hashes(evidence: dict[str, object]) -> dict[str, float]:
        metrics.observe(measurement(evidence=evidence))
        families = text_string_to_metric_families(metrics.render())
        return {f.name: f.samples[0].value for f in families if f.name.endswith("_hash") and f.samples}

    answers = {"answer_sets": {"A": [{"answers": ["203.0.113.5"], "resolvers": ["isp"]}]}}
    tampered = {"answer_sets": {"A": [{"answers": ["0.0.0.0"], "resolvers": ["isp"]}]}}
    first, again, changed = hashes(answers), hashes(answers), hashes(tampered)
    assert first == again
    assert first["netwatch_probe_dns_answer_hash"] != changed["netwatch_probe_dns_answer_hash"]
    assert first["netwatch_probe_dns_answer_hash"] < 2**52  # exact in a float sample
    trusted = {"tls": {"leaf": {"issuer": "O=Lab CA", "issuer_key_id": "aa"}}}
    rogue = {"tls": {"leaf": {"issuer": "O=Qaznet Trust Network", "issuer_key_id": "bb"}}}
    issuer = "netwatch_probe_tls_issuer_hash"
    assert hashes(trusted)[issuer] != hashes(rogue)[issuer]
    assert hashes({}) == {}  # no DNS answers, no TLS: no sample rather than a made-up value


def test_exposition_parses_and_escapes_label_values() -> None:
    metrics = TargetMetrics()
    odd = replace(target("odd"), labels=Labels(operator='A "quoted"\\back\nslash', role=Role.CONTROL))
    metrics.set_targets([odd])
    metrics.observe(measurement("odd", failure=Failure.TCP_RESET, labels=odd.labels))
    families = {f.name: f for f in text_string_to_metric_families(metrics.render())}
    sample = families["netwatch_probe_success"].samples[0]
    assert sample.labels["operator"] == 'A "quoted"\\back\nslash'
    assert sample.labels["role"] == "control"
    assert sample.value == 0.0
    assert families["netwatch_probe_failures"].samples[0].labels["failure"] == "tcp_reset"


def test_removed_target_series_vanish_and_unknown_targets_are_ignored() -> None:
    metrics = TargetMetrics()
    metrics.set_targets([target("a"), target("b")])
    metrics.observe(measurement("a", failure=Failure.TCP_TIMEOUT))
    metrics.observe(measurement("b", failure=Failure.TCP_TIMEOUT))
    metrics.observe(measurement("ghost"))
    assert 'target="b"' in metrics.render()
    assert "ghost" not in metrics.render()
    metrics.set_targets([target("a")])
    text = metrics.render()
    assert 'target="b"' not in text
    assert 'netwatch_probe_failures_total{target="a",kind="fake"' in text
    metrics.observe(measurement("b"))  # a late result of the removed target
    assert 'target="b"' not in metrics.render()
    metrics.set_targets([target("a"), target("b")])  # re-added: its counters start again
    assert 'target="b"' not in metrics.render()
    assert set(metrics.latest()) == {"a"}


def test_relabelled_target_is_rendered_with_its_new_labels() -> None:
    metrics = TargetMetrics()
    metrics.set_targets([target("a")])
    metrics.observe(measurement("a"))
    metrics.set_targets([replace(target("a"), labels=replace(LABELS, region="KZ-71"))])
    assert 'region="KZ-71"' in metrics.render()
    assert 'region="KZ-75"' not in metrics.render()


def test_self_metrics_and_extra_collectors() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, "9.9.9")
    metrics.set_targets([target("a")])
    metrics.observe(measurement("a"))
    own = metrics.self_metrics
    own.skipped(SkipReason.OVERLAP)
    own.observe_lag(0.02)
    own.set_in_flight(3)
    own.store_write_error("jsonl")
    own.config_loaded(True, 1700000000.0)
    own.config_loaded(False, 1700000100.0)

    class Outages:
        def collect(self) -> list[GaugeMetricFamily]:
            family = GaugeMetricFamily(OUTAGE_ACTIVE, "Outage open.", labels=["scope", "entity", "layer"])
            family.add_metric(["region", "KZ-75", "blackout"], 1)
            return [family]

    metrics.register(Outages())
    value = registry.get_sample_value
    assert value("netwatch_scheduler_skipped_runs_total", {"reason": "overlap"}) == 1
    assert value("netwatch_scheduler_skipped_runs_total", {"reason": "late"}) == 0
    assert value("netwatch_scheduler_lag_seconds_count") == 1
    assert value("netwatch_probes_in_flight") == 3
    assert value("netwatch_targets_configured") == 1
    assert value("netwatch_measurements_total", {"kind": "http"}) == 1
    assert value("netwatch_store_write_errors_total", {"sink": "jsonl"}) == 1
    assert value("netwatch_config_last_reload_successful") == 0
    assert value("netwatch_config_last_reload_success_timestamp_seconds") == 1700000000.0
    assert value(
        "netwatch_build_info", {"version": "9.9.9", "python": __import__("platform").python_version()}
    )
    text = metrics.render().decode()
    assert 'netwatch_outage_active{entity="KZ-75",layer="blackout",scope="region"} 1.0\n' in text
    names = [f.name for f in text_string_to_metric_families(text)]
    assert len(names) == len(set(names))  # each family once: registry first, then per-target


def test_render_at_ten_thousand_targets_is_fast() -> None:
    metrics = Metrics(CollectorRegistry(), "0")
    targets = [target(f"t{n:05d}") for n in range(10_000)]
    metrics.set_targets(targets)
    for t in targets:
        metrics.observe(
            measurement(t.id, failure=Failure.TCP_TIMEOUT, phases={"resolve": 0.1, "connect": 0.2})
        )
    best = min(_timed(metrics.render) for _ in range(3))
    assert best < 0.3  # 100 ms is the benchmark's bar on a quiet core; CI shares its cores


def _timed(render: object) -> float:
    began = time.perf_counter()
    render()  # type: ignore[operator]
    return time.perf_counter() - began
