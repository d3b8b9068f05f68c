"""``netwatch outages``: outages as a table for people, in UTC and Asia/Almaty time."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from netwatch.model import Outage
from netwatch.timefmt import LOCAL_ZONE_NAME, human_duration, local_text, utc_text

SHORT_ID = 12
"""Characters of an outage id shown; enough to find it with ``/api/v1/outages/{id}`` prefixes."""


def _window(earliest: datetime | None, latest: datetime | None) -> str:
    """``earliest..latest`` as UTC clock times, with the width: the truth lies in between."""
    if latest is None:
        return "open"
    if earliest is None:
        return f"?..{latest.astimezone(UTC):%H:%M:%S}"
    width = human_duration((latest - earliest).total_seconds())
    return f"{earliest.astimezone(UTC):%H:%M:%S}..{latest.astimezone(UTC):%H:%M:%S} ({width})"


def outage_table(outages: Iterable[Outage], now: datetime) -> Table:
    """One row per outage. Duration of an open outage runs to ``now`` and is marked ``+``."""
    table = Table(title="netwatch outages (newest first)", title_justify="left")
    for name in ("id", "scope", "entity", "layer", "start UTC", f"start {LOCAL_ZONE_NAME}", "duration",
                 "start window UTC", "end window UTC", "severity", "targets/vantages"):  # fmt: skip
        table.add_column(name, no_wrap=True)
    for o in outages:
        end = o.ended_at if o.ended_at is not None else now
        duration = human_duration((end - o.started_at).total_seconds()) + ("+" if o.is_open else "")
        table.add_row(
            o.id[:SHORT_ID],
            o.scope_type.value,
            o.entity,
            o.layer.value,
            utc_text(o.started_at),
            local_text(o.started_at),
            duration,
            _window(o.start_earliest, o.started_at),
            _window(o.end_earliest, o.ended_at),
            f"{o.severity:.1f}",
            f"{o.targets_affected}/{o.vantages_affected}",
        )
    return table


def table_console() -> Console:
    """A console for tables: a terminal's own width; otherwise (a pipe, a log file) wide enough that
    no column of the outage table is cut."""
    console = Console()
    return console if console.is_terminal else Console(width=200)
