"""How netwatch writes times: UTC, and local time in the watched country's zone, from the IANA database.

Never a fixed offset: Kazakhstan moved from +06:00 to +05:00 on 2024-03-01, so a January 2022 time
in ``Asia/Almaty`` shows ``+06:00`` and a 2025 time ``+05:00``; ``zoneinfo`` (system tzdata, else
the ``tzdata`` package) knows both. Exports, the API, the CLI tables and the demo all format here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

LOCAL_ZONE_NAME = "Asia/Almaty"
LOCAL_ZONE = ZoneInfo(LOCAL_ZONE_NAME)


def local_iso(moment: datetime) -> str:
    """``moment`` (aware) in ``Asia/Almaty`` as ISO 8601 with microseconds and the offset then in
    force, e.g. ``2022-01-05T16:30:00.000000+06:00``."""
    return moment.astimezone(LOCAL_ZONE).isoformat(timespec="microseconds")


def opt_local_iso(moment: datetime | None) -> str | None:
    return None if moment is None else local_iso(moment)


class LocalFromUtc:
    """Converts ``format_utc`` strings (``YYYY-MM-DDTHH:MM:SS.ffffffZ``) to ``local_iso`` strings
    at string speed, for exports of millions of rows.

    Offsets since 1924 are whole minutes, so seconds and microseconds are the same in UTC and local
    time: only the minute prefix and the offset need the zone database. The last minute seen is
    remembered (rows arrive in time order), so memory stays constant. Offsets with seconds (local
    mean time before 1924) take the slow, exact path.
    """

    def __init__(self) -> None:
        self._minute = ""
        self._prefix = ""
        self._suffix = ""
        self._exact = False

    def __call__(self, utc: str) -> str:
        minute = utc[:16]
        if minute != self._minute:
            local = datetime.fromisoformat(minute + ":00+00:00").astimezone(LOCAL_ZONE)
            offset = local.utcoffset() or timedelta(0)
            self._minute = minute
            self._exact = offset.total_seconds() % 60 == 0
            self._prefix = local.strftime("%Y-%m-%dT%H:%M:")
            self._suffix = local.isoformat()[19:]
        if not self._exact:
            return local_iso(datetime.fromisoformat(utc.replace("Z", "+00:00")))
        return self._prefix + utc[17:26] + self._suffix


def parse_time(text: str) -> datetime:
    """A user-supplied time: ISO 8601 with ``Z`` or an offset (``2022-01-05T10:30:00Z``), or a bare
    date (``2022-01-05``, read as midnight UTC). Returns aware UTC; ``ValueError`` with a message
    naming the accepted forms otherwise (naive date-times are ambiguous and refused)."""
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(
            f"invalid time {text!r}: use ISO 8601 with a zone (2022-01-05T10:30:00Z, "
            "2022-01-05T16:30+06:00) or a date (2022-01-05, midnight UTC)"
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"invalid time {text!r}: out of range") from None


def utc_text(moment: datetime) -> str:
    """``2022-01-05 10:30:00Z``: seconds precision, for tables."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z"


def local_text(moment: datetime) -> str:
    """``2022-01-05 16:30:00+06:00`` in ``Asia/Almaty``: seconds precision, for tables."""
    return moment.astimezone(LOCAL_ZONE).isoformat(sep=" ", timespec="seconds")


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
