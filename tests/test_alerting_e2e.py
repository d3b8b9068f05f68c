"""End to end with real components: a netwatch agent probing loopback lab servers, Debian's Prometheus
with the shipped rules, Debian's Alertmanager with the shipped routes, and a real webhook receiver.

Breaking the lab must bring the national alert to the receiver through Alertmanager, with the
labels and annotations responders rely on, AND netwatch's own notification (English and Russian);
repairing it must resolve both. Skipped (naming the Debian packages) only if Prometheus or
Alertmanager is not installed; CI installs both.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alertstack import NATIONAL, alerting_stack

pytestmark = pytest.mark.timeout(240)
ALERT_TIMEOUT_S = 60.0


def test_fault_reaches_both_paths_and_repair_resolves_both(tmp_path: Path) -> None:
    with alerting_stack(tmp_path) as stack:
        stack.wait_healthy()
        fault_at = stack.lab.break_()

        wait = stack.receiver.wait_for
        wait(lambda _: bool(stack.alert_posts(fault_at, "firing")), ALERT_TIMEOUT_S, "the alert via AM")
        post, alert = stack.alert_posts(fault_at, "firing")[0]
        assert post.path == "/am/responders-national"  # the shipped route for scope="country"
        assert post.body["groupLabels"] == {"alertname": NATIONAL, "watched_country": "KZ"}
        labels = alert["labels"]
        assert {k: labels[k] for k in ("severity", "audience", "scope", "entity", "watched_country")} == {
            "severity": "critical",
            "audience": "responders",
            "scope": "country",
            "entity": "KZ",
            "watched_country": "KZ",
        }
        assert labels["layer"] in {"blackout", "tcp_ip", "dns", "partial"}
        notes = alert["annotations"]
        assert notes["summary"].startswith("KZ: national outage, layer ")
        assert "Started (detector): " in notes["description"]
        assert "Asia/Almaty (UTC+5)" in notes["description"]
        assert "ala-1/inside" in notes["description"]
        assert notes["runbook_url"] == "docs/runbooks.md#netwatchnationalblackout"

        stack.receiver.wait_for(
            lambda _: bool(stack.native_posts(fault_at, "Outage began: country KZ (national)")),
            ALERT_TIMEOUT_S,
            "the native notification",
        )
        native = stack.native_posts(fault_at, "Outage began: country KZ (national)")[0]
        assert native.headers["X-Netwatch-Idempotency-Key"].startswith("nw-")
        assert "Asia/Almaty" in native.body["message"] and "Z · " in native.body["message"]
        wait(lambda _: bool(stack.native_posts(fault_at, "Начало сбоя: страна KZ", "ru")), 10, "Russian")

        repaired_at = stack.lab.repair()
        wait(lambda _: bool(stack.alert_posts(repaired_at, "resolved")), ALERT_TIMEOUT_S, "alert resolved")
        stack.receiver.wait_for(
            lambda _: bool(stack.native_posts(repaired_at, "Outage ended: country KZ (national)")),
            ALERT_TIMEOUT_S,
            "the native 'outage ended' notification",
        )
        ended = stack.native_posts(repaired_at, "Outage ended: country KZ (national)")[0]
        assert "Duration: " in ended.body["message"] and "End: " in ended.body["message"]
        began = stack.native_posts(fault_at, "Outage began: country KZ (national)")
        assert len(began) == 1  # announced once, however many cycles the notifier ran
