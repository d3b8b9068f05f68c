"""What ``netwatch demo`` shows: a table of the simulated sites' latest results and the outages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from netwatch.lab.loopback import Site
from netwatch.model import Measurement, Outage
from netwatch.timefmt import duration_text, local_text, utc_text

PROBE_COLUMNS = (("DNS", "dns"), ("HTTPS", "https"))


def result_cell(measurement: Measurement | None) -> Text:
    """``ok 3 ms`` in green, the failure name in red, ``…`` before the first result."""
    if measurement is None:
        return Text("…", style="dim")
    if measurement.ok:
        return Text(f"ok {measurement.duration_s * 1000:.0f} ms", style="green")
    return Text(measurement.failure.value if measurement.failure else "?", style="bold red")


def sites_table(sites: Sequence[Site], latest: Mapping[str, Measurement]) -> Table:
    table = Table(title="Simulated sites (latest result per probe)", expand=False)
    for header in ("site", "region", "operator", "network", "role"):
        table.add_column(header)
    for header, _ in PROBE_COLUMNS:
        table.add_column(header)
    for site in sites:
        labels = site.labels
        cells = [result_cell(latest.get(f"{site.host}/{suffix}")) for _, suffix in PROBE_COLUMNS]
        table.add_row(
            site.host, labels.region or "-", labels.operator or "-", labels.network_type.value,
            labels.role.value, *cells,
        )
    return table


def outages_table(outages: Sequence[Outage], now: datetime) -> Table:
    """Open and closed outages: scope, layer, start in UTC and Asia/Almaty, duration, uncertainty."""
    table = Table(title="Outages (netwatch detector)", expand=False)
    for header in ("scope", "entity", "layer", "start (UTC)", "start (Asia/Almaty)", "duration",
                   "start uncertainty", "state"):
        table.add_column(header)
    for outage in outages:
        end = outage.ended_at or now
        uncertainty = (
            duration_text((outage.started_at - outage.start_earliest).total_seconds())
            if outage.start_earliest else "unknown"
        )
        table.add_row(
            outage.scope_type.value, outage.entity, outage.layer.value, utc_text(outage.started_at),
            local_text(outage.started_at), duration_text((end - outage.started_at).total_seconds()),
            uncertainty, Text("open", style="bold red") if outage.is_open else Text("closed", style="green"),
        )
    if not outages:
        table.add_row("-", "none yet", "", "", "", "", "", "")
    return table


def screen(title: str, sites: Sequence[Site], latest: Mapping[str, Measurement],
           outages: Sequence[Outage], now: datetime) -> RenderableType:
    return Group(Text(title, style="bold"), sites_table(sites, latest), outages_table(outages, now))
