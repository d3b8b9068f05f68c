"""What ``netwatch demo`` shows: each lab site's latest result per vantage, and the outage tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from netwatch.lab.topology import Topology
from netwatch.model import Measurement, Outage
from netwatch.outage_table import outage_table

PROBE_COLUMNS = (("DNS", "dns"), ("HTTPS", "https"))
Latest = Mapping[tuple[str, str], Measurement]  # (vantage id, target id) -> latest measurement


def result_cell(measurement: Measurement | None) -> Text:
    """``ok 3 ms`` in green, the failure name in red, ``…`` before the first result (or when the
    vantage does not run that probe)."""
    if measurement is None:
        return Text("…", style="dim")
    if measurement.ok:
        return Text(f"ok {measurement.duration_s * 1000:.0f} ms", style="green")
    return Text(measurement.failure.value if measurement.failure else "?", style="bold red")


def sites_table(topology: Topology, vantages: Sequence[str], latest: Latest) -> Table:
    table = Table(title="Lab sites (latest result per vantage and probe)", expand=False)
    for header in ("site", "region", "operator", "network", "role"):
        table.add_column(header)
    for vantage in vantages:
        for header, _ in PROBE_COLUMNS:
            table.add_column(f"{vantage.removeprefix('lab-')} {header}")
    for site in topology.sites:
        net = topology.network(site.network)
        cells = [result_cell(latest.get((vantage, f"{site.host}/{suffix}")))
                 for vantage in vantages for _, suffix in PROBE_COLUMNS]
        table.add_row(site.host, net.region or "-", net.operator or "-", net.network_type.value,
                      site.role.value, *cells)
    return table


def outages_tables(outages: Mapping[str, Sequence[Outage]], now: datetime) -> list[Table]:
    """One ``netwatch outages`` table per vantage, newest first."""
    tables = []
    for vantage, found in outages.items():
        table = outage_table(sorted(found, key=lambda o: o.started_at, reverse=True), now)
        table.title = f"{vantage}: outages (newest first)"
        tables.append(table)
    return tables


def screen(title: str, topology: Topology, latest: Latest, outages: Mapping[str, Sequence[Outage]],
           now: datetime) -> RenderableType:
    """The live frame: ``title``, the sites table (a column pair per vantage of ``outages``), the
    outage tables."""
    return Group(Text(title, style="bold"), sites_table(topology, list(outages), latest),
                 *outages_tables(outages, now))
