"""How netwatch shows times to people: UTC and the watched country's zone, from the IANA database.

Never a hard-coded offset: Kazakhstan moved to a single UTC+5 zone on 2024-03-01, so a January 2022
time in ``Asia/Almaty`` is UTC+6 and a 2025 time UTC+5; zoneinfo knows both.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

WATCHED_ZONE = ZoneInfo("Asia/Almaty")


def utc_text(moment: datetime) -> str:
    """``2022-01-05 10:30:00Z`` (seconds precision, for tables)."""
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%SZ")


def local_text(moment: datetime, zone: ZoneInfo = WATCHED_ZONE) -> str:
    """``2022-01-05 16:30:00+06:00`` in ``zone`` (default ``Asia/Almaty``)."""
    return moment.astimezone(zone).isoformat(sep=" ", timespec="seconds")


def duration_text(seconds: float) -> str:
    """``1h02m05s`` / ``3m05s`` / ``42s``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
