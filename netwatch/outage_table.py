"""``netwatch outages``: outages as a table for people, in UTC and Asia/Almaty time."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from rich.table import Table

from netwatch.export.timefmt import LOCAL_ZONE, LOCAL_ZONE_NAME
from netwatch.model import Outage

SHORT_ID = 12
"""Characters of an outage id shown; enough to find it with ``/api/v1/outages/{id}`` prefixes."""


def human_duration(seconds: float) -> str:
    """``45s``, ``12m``, ``3h05m``, ``4d07h``: coarse, for reading, not for computing."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


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
            f"{o.started_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z",
            o.started_at.astimezone(LOCAL_ZONE).isoformat(sep=" ", timespec="seconds"),
            duration,
            _window(o.start_earliest, o.started_at),
            _window(o.end_earliest, o.ended_at),
            f"{o.severity:.1f}",
            f"{o.targets_affected}/{o.vantages_affected}",
        )
    return table
