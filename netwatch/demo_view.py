"""What ``netwatch demo`` shows: the simulated sites' latest results and the outage table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from netwatch.lab.loopback import Site
from netwatch.model import Measurement, Outage
from netwatch.outage_table import outage_table

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


def screen(title: str, sites: Sequence[Site], latest: Mapping[str, Measurement],
           outages: Sequence[Outage], now: datetime) -> RenderableType:
    return Group(Text(title, style="bold"), sites_table(sites, latest), outage_table(outages, now))
