"""The whole alerting path on loopback, for ``test_alerting_e2e.py`` and ``bench/alert_latency.py``.

Lab DNS and web servers (127.0.0.2-4) probed by one ``netwatch run`` agent (vantage ``ala-1``,
inside) with native notifications to a local webhook receiver; Debian's Prometheus scraping it with
the shipped rule files (the settings file derived from the shipped one with the country quorum at 1:
one vantage); Debian's Alertmanager with a config derived from ``deploy/alertmanager/alertmanager.yml``
whose receivers all post to the same local receiver and whose timers are short. Paths on the
receiver: ``/am/<receiver name>`` (Alertmanager), ``/native/<language>`` (netwatch's notifier).

``lab.break_()`` stops the web server (TCP and HTTP refused) and makes DNS answer SERVFAIL;
``lab.repair()`` brings both back. Nothing leaves loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from realstack import (
    ROOT,
    Alertmanager,
    NetwatchAgent,
    Prometheus,
    ScrapeTarget,
    agent_config,
    alertmanager_binary,
    deploy_prometheus_config,
    free_port,
    prometheus_binary,
)
from webhook import Received, WebhookReceiver

from netwatch.lab.dns_server import DnsFault, DnsServer
from netwatch.lab.web_server import WebServer

AM_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
AM_TEMPLATES = ROOT / "deploy" / "alertmanager" / "templates"
SETTINGS = ROOT / "deploy" / "prometheus" / "rules" / "netwatch-settings.yml"
NATIONAL = "NetwatchNationalBlackout"


def alertmanager_config(
    receiver_url: str, group_wait: str = "1s", group_interval: str = "1s"
) -> dict[str, Any]:
    """The shipped Alertmanager config with every receiver replaced by one webhook to
    ``<receiver_url>/am/<name>`` (send_resolved), no SMTP, and short timers on every route."""
    config: dict[str, Any] = yaml.safe_load(AM_CONFIG.read_text())
    config["global"] = {"resolve_timeout": "5m"}
    config["templates"] = [str(AM_TEMPLATES / "*.tmpl")]
    config["receivers"] = [
        {
            "name": r["name"],
            "webhook_configs": [{"url": f"{receiver_url}/am/{r['name']}", "send_resolved": True}],
        }
        for r in config["receivers"]
    ]

    def shorten(route: dict[str, Any]) -> None:
        for key, value in (("group_wait", group_wait), ("group_interval", group_interval)):
            if key in route or route is config["route"]:
                route[key] = value
        for child in route.get("routes", ()):
            shorten(child)

    shorten(config["route"])
    return config


def single_vantage_settings(path: Path) -> Path:
    """The shipped settings rule file with the country quorum lowered to 1, written to ``path``."""
    settings: dict[str, Any] = yaml.safe_load(SETTINGS.read_text())
    for rule in settings["groups"][0]["rules"]:
        if rule.get("record") == "netwatch_quorum" and rule["labels"]["scope"] == "country":
            rule["expr"] = "vector(1)"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def lab_targets(dns: DnsServer, web: WebServer, control: WebServer) -> list[dict[str, Any]]:
    """Four KZ subject targets on the lab servers, one control abroad (kept up)."""
    resolver = [{"address": dns.address, "port": dns.port, "label": "isp"}]

    def labels(region: str, asn: int, operator: str, network: str, category: str) -> dict[str, Any]:
        return {"country": "KZ", "region": region, "asn": asn, "operator": operator,
                "network_type": network, "category": category, "role": "subject"}

    return [
        {"id": "egov.kz/dns", "kind": "dns", "params": {"name": "egov.kz", "resolvers": resolver},
         "labels": labels("KZ-71", 9198, "Kazakhtelecom", "fixed", "government")},
        {"id": "egov.kz/http", "kind": "http",
         "params": {"url": f"http://egov.kz:{web.port}/", "resolvers": resolver},
         "labels": labels("KZ-71", 9198, "Kazakhtelecom", "fixed", "government")},
        {"id": "kaspi.kz/tcp", "kind": "tcp", "params": {"host": web.host, "port": web.port},
         "labels": labels("KZ-75", 29355, "Kcell", "mobile", "bank")},
        {"id": "kcell.kz/http", "kind": "http", "params": {"url": f"http://{web.host}:{web.port}/"},
         "labels": labels("KZ-47", 29355, "Kcell", "mobile", "telecom")},
        {"id": "control.example/tcp", "kind": "tcp", "params": {"host": control.host, "port": control.port},
         "labels": {"country": "DE", "network_type": "hosting", "category": "control", "role": "control"}},
    ]


@dataclass
class Lab:
    """The subject servers, breakable and repairable; ``close`` stops the web server."""

    dns: DnsServer
    web: WebServer

    def break_(self) -> float:
        """Break the subject servers; returns the wall clock of the fault."""
        at = time.time()
        self.web.stop()
        self.dns.set_fault(DnsFault.SERVFAIL)
        return at

    def repair(self) -> float:
        """Serve again on the same address; returns the wall clock of the repair."""
        at = time.time()
        self.web = WebServer(self.web.host, self.web.port).start()
        self.dns.clear_faults()
        return at

    def close(self) -> None:
        self.web.stop()


@dataclass
class AlertingStack:
    """A running stack; see the module docstring."""

    receiver: WebhookReceiver
    lab: Lab
    agent: NetwatchAgent
    prom: Prometheus
    am: Alertmanager

    def alert_posts(self, since: float, status: str) -> list[tuple[Received, dict[str, Any]]]:
        """Alertmanager webhook posts after ``since`` holding a national alert with ``status``."""
        return [
            (r, alert)
            for r in self.receiver.received("/am/")
            if r.at >= since
            for alert in r.body.get("alerts", ())
            if alert["labels"].get("alertname") == NATIONAL and alert["status"] == status
        ]

    def native_posts(self, since: float, text: str, language: str = "en") -> list[Received]:
        """Native notifications after ``since`` to ``/native/<language>`` mentioning ``text``."""
        return [
            r
            for r in self.receiver.received(f"/native/{language}")
            if r.at >= since and text in f"{r.body['title']}\n{r.body['message']}"
        ]

    def wait_healthy(self, timeout: float = 60.0) -> None:
        self.prom.wait_for(
            lambda: len(self.prom.query('netwatch_probe_success{role="subject"} == 1')) == 4
            and not self.prom.query(f'ALERTS{{alertname="{NATIONAL}"}}'),
            "every subject target up and no national alert",
            timeout=timeout,
        )


def require_binaries() -> None:
    """Skip (naming the Debian packages) unless Prometheus and Alertmanager are installed."""
    prometheus_binary()
    alertmanager_binary()


@contextmanager
def alerting_stack(
    workdir: Path, *, interval_s: float = 1.0, group_window: str = "0s"
) -> Iterator[AlertingStack]:
    """Start everything (skips if the binaries are missing), stop it all on exit."""
    require_binaries()
    with ExitStack() as es:
        receiver = es.enter_context(WebhookReceiver.running())
        dns = es.enter_context(
            DnsServer({("egov.kz.", "A"): ["127.0.0.3"], ("kaspi.kz.", "A"): ["127.0.0.3"]}, host="127.0.0.2")
        )
        lab = Lab(dns, WebServer("127.0.0.3").start())
        es.callback(lab.close)
        control = es.enter_context(WebServer("127.0.0.4"))
        config = agent_config(
            "ala-1",
            "inside",
            lab_targets(dns, lab.web, control),
            port=free_port(),
            data_dir=workdir / "agent" / "data",
            interval_s=interval_s,
            timeout_s=min(0.8, interval_s * 0.8),
        )
        config["notifications"] = {
            "destinations": [
                {"url": f"json://127.0.0.1:{receiver.port}/native/en", "name": "e2e-en"},
                {"url": f"json://127.0.0.1:{receiver.port}/native/ru", "name": "e2e-ru", "language": "ru"},
            ],
            "group_window": group_window,
            "rate_limit": {"messages": 1000, "period": "1h"},  # many break/repair cycles in a row
        }
        agent = es.enter_context(NetwatchAgent.start(workdir / "agent", config))
        am = es.enter_context(Alertmanager.start(workdir / "am", alertmanager_config(receiver.url)))
        prom_config = deploy_prometheus_config(
            [ScrapeTarget(agent.address, "ala-1", "inside")], alertmanagers=[am.address]
        )
        settings = single_vantage_settings(workdir / "netwatch-settings.yml")
        prom_config["rule_files"] = [
            str(settings) if Path(f).name == SETTINGS.name else f for f in prom_config["rule_files"]
        ]
        prom = es.enter_context(Prometheus.start(workdir / "prom", prom_config))
        yield AlertingStack(receiver, lab, agent, prom, am)
