"""The Prometheus rule pack and the Alertmanager config, checked by the real tools.

``promtool`` (Debian package ``prometheus``) checks and unit-tests the rules in ``deploy/prometheus``;
``amtool`` (Debian package ``prometheus-alertmanager``) checks the Alertmanager config, its routing and its
templates. Tests needing a binary skip, saying which, when it is not installed; the static checks below
(every alert tested, every metric defined, every label value in netwatch's vocabulary) always run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from netwatch.model import Failure, Layer, ScopeType

ROOT = Path(__file__).resolve().parent.parent
PROM = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
TEST_FILES = sorted((PROM / "tests").glob("*.yml"))
AM_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
AM_TEMPLATES = ROOT / "deploy" / "alertmanager" / "templates"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
METRICS_SOURCE = ROOT / "netwatch" / "metrics.py"

# Metrics the rules read although no agent exports them yet: requested from the metrics/detector owners.
# The rules work without them (the alert description falls back to when Prometheus first saw the outage).
REQUESTED_METRICS = {"netwatch_outage_start_time_seconds"}
PROMETHEUS_BUILTINS = {"up", "ALERTS_FOR_STATE"}
EXPOSITION_SUFFIXES = ("", "_total", "_bucket", "_sum", "_count", "_created", "_info")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(
            f"{name} is not installed (Debian package "
            f"{'prometheus' if name == 'promtool' else 'prometheus-alertmanager'})"
        )
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{args}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def _rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def _alert_names() -> set[str]:
    return {rule["alert"] for rule in _rules() if "alert" in rule}


# --- the real tools ----------------------------------------------------------------------------------


def test_promtool_check_rules() -> None:
    _run(_tool("promtool"), "check", "rules", *RULE_FILES)


def test_promtool_unit_tests() -> None:
    promtool = _tool("promtool")
    assert TEST_FILES, "no promtool test files"
    result = _run(promtool, "test", "rules", *TEST_FILES)
    assert result.stdout.count("SUCCESS") == len(TEST_FILES), result.stdout


def test_promtool_check_config() -> None:
    result = _run(_tool("promtool"), "check", "config", PROM / "prometheus.yml")
    assert f"{len(RULE_FILES)} rule files found" in result.stdout, result.stdout


def test_amtool_check_config() -> None:
    result = _run(_tool("amtool"), "check-config", AM_CONFIG)
    assert "1 templates" in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (
            {
                "alertname": "NetwatchNationalBlackout",
                "audience": "responders",
                "severity": "critical",
                "scope": "country",
                "watched_country": "KZ",
            },
            "responders-national",
        ),
        (
            {
                "alertname": "NetwatchDnsTampering",
                "audience": "responders",
                "severity": "warning",
                "scope": "country",
                "watched_country": "KZ",
            },
            "responders-national",
        ),
        (
            {
                "alertname": "NetwatchRegionalOutage",
                "audience": "responders",
                "severity": "critical",
                "scope": "region",
            },
            "responders-critical",
        ),
        (
            {
                "alertname": "NetwatchThrottling",
                "audience": "responders",
                "severity": "warning",
                "scope": "network_type",
            },
            "responders-warning",
        ),
        (
            {"alertname": "NetwatchVantageOffline", "audience": "operators", "severity": "warning"},
            "operators",
        ),
        ({"alertname": "NetwatchWatchdog", "audience": "heartbeat", "severity": "none"}, "heartbeat"),
    ],
)
def test_alertmanager_routes(labels: dict[str, str], receiver: str) -> None:
    _run(
        _tool("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={AM_CONFIG}",
        f"--verify.receivers={receiver}",
        *(f"{k}={v}" for k, v in labels.items()),
    )


def test_alertmanager_templates_render(tmp_path: Path) -> None:
    data = {
        "receiver": "responders-national",
        "status": "resolved",
        "externalURL": "http://127.0.0.1:9093",
        "groupLabels": {"alertname": "NetwatchNationalBlackout", "watched_country": "KZ"},
        "commonLabels": {"alertname": "NetwatchNationalBlackout", "entity": "KZ", "scope": "country"},
        "commonAnnotations": {},
        "alerts": [
            {
                "status": "resolved",
                "labels": {
                    "alertname": "NetwatchNationalBlackout",
                    "severity": "critical",
                    "scope": "country",
                    "entity": "KZ",
                    "layer": "blackout",
                    "watched_country": "KZ",
                },
                "annotations": {
                    "summary": "KZ <down>",
                    "description": "d",
                    "runbook_url": "docs/runbooks.md#x",
                },
                "startsAt": "2022-01-05T10:31:00Z",
                "endsAt": "2022-01-05T11:15:00Z",
            }
        ],
    }
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    amtool = _tool("amtool")
    rendered = {
        name: _run(
            amtool,
            "template",
            "render",
            f"--template.glob={AM_TEMPLATES}/*.tmpl",
            f"--template.data={path}",
            f'--template.text={{{{ template "{name}" . }}}}',
        ).stdout
        for name in ("netwatch.subject", "netwatch.text", "netwatch.telegram")
    }
    assert rendered["netwatch.subject"].startswith("[RESOLVED] NetwatchNationalBlackout KZ")
    window = (
        "2022-01-05 10:31:00 UTC = 2022-01-05 15:31:00 Asia/Almaty (UTC+5)",
        "2022-01-05 11:15:00 UTC = 2022-01-05 16:15:00 Asia/Almaty (UTC+5)",
    )
    for name in ("netwatch.text", "netwatch.telegram"):
        assert all(w in rendered[name] for w in window), rendered[name]
    assert "KZ &lt;down&gt;" in rendered["netwatch.telegram"]  # HTML parse mode: escaped


# --- static checks -----------------------------------------------------------------------------------


def test_every_alert_has_firing_and_silent_test_cases() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in TEST_FILES:
        for group in yaml.safe_load(path.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    alerts = _alert_names()
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - {"NetwatchWatchdog"} - silent == set(), "alerts never tested silent or resolved"
    assert firing | silent <= alerts, "tests name alerts that do not exist"


def test_every_alert_is_labelled_and_documented() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 _-]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in (r for r in _rules() if "alert" in r):
        assert rule["labels"]["severity"] in {"critical", "warning", "none"}, rule["alert"]
        assert rule["labels"]["audience"] in {"responders", "operators", "heartbeat"}, rule["alert"]
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url"} <= annotations.keys(), rule["alert"]
        page, _, anchor = annotations["runbook_url"].partition("#")
        assert page == "docs/runbooks.md" and anchor in anchors, (rule["alert"], anchor)


def _defined_metric_names() -> set[str]:
    """Names netwatch/metrics.py defines, as exposed (counters with _total, info with _info, ...)."""
    literals = set(re.findall(r'"(netwatch_[a-z0-9_]+)"', METRICS_SOURCE.read_text()))
    assert literals, f"no metric names found in {METRICS_SOURCE}"
    return {name + suffix for name in literals for suffix in EXPOSITION_SUFFIXES}


def test_every_metric_in_the_rules_is_defined() -> None:
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    text = "\n".join(path.read_text() for path in RULE_FILES)
    used = set(re.findall(r"\b(netwatch[_:][A-Za-z0-9_:]*[A-Za-z0-9])", text))
    used -= {"netwatch-settings", "netwatch_"}
    unknown = used - recorded - _defined_metric_names() - REQUESTED_METRICS
    assert unknown == set(), f"metrics named in the rules but defined nowhere: {sorted(unknown)}"
    assert used >= REQUESTED_METRICS, "a requested metric is no longer used: drop it from REQUESTED_METRICS"
    builtins = set(re.findall(r"\b(up|ALERTS_FOR_STATE)\b(?=[{(\s])", text))
    assert builtins <= PROMETHEUS_BUILTINS


def test_label_values_come_from_netwatch_vocabularies() -> None:
    text = "\n".join(path.read_text() for path in RULE_FILES)
    vocabularies = {
        "scope": {s.value for s in ScopeType},
        "layer": {layer.value for layer in Layer},
        "failure": {f.value for f in Failure},
    }
    for label, allowed in vocabularies.items():
        matchers = re.findall(rf'\b{label}\s*(=~|!=|=)\s*\\?"([^"\\]+)\\?"', text)
        assert matchers, f"no {label} matchers found"
        for _, pattern in matchers:
            values = set(pattern.split("|"))
            assert values <= allowed, f"{label} values outside netwatch's vocabulary: {values - allowed}"
