"""The notifier's metrics (names in ``netwatch.metrics``), in an injected registry.

Label values: destination names from config, suppression reasons from ``SuppressReason``.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable, Iterable
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge

from netwatch.metrics import (
    NOTIFICATION_BACKLOG,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_SENT,
    NOTIFICATIONS_SUPPRESSED,
)
from netwatch.store import StoreError

log = logging.getLogger(__name__)


class SuppressReason(StrEnum):
    """Why an event or a message was not sent (the ``reason`` label)."""

    MAINTENANCE = "maintenance"  # a maintenance window / silence covered the event
    DESTINATION_REMOVED = "destination_removed"  # its destination left the config before delivery


class NotifyMetrics:
    """Counters of messages sent and failed per destination, events suppressed per reason, and the
    outbox backlog (undelivered rows, read from the store at scrape time; NaN if it cannot be read)."""

    def __init__(self, registry: CollectorRegistry, backlog: Callable[[], int]) -> None:
        self.sent = Counter(
            NOTIFICATIONS_SENT, "Messages delivered, by destination.", ["destination"], registry=registry
        )
        self.failed = Counter(
            NOTIFICATIONS_FAILED,
            "Delivery attempts that failed (each is retried with backoff), by destination.",
            ["destination"],
            registry=registry,
        )
        self.suppressed = Counter(
            NOTIFICATIONS_SUPPRESSED,
            "Outage events or messages deliberately not sent, by reason.",
            ["reason"],
            registry=registry,
        )
        for reason in SuppressReason:
            self.suppressed.labels(reason.value)
        self._backlog = backlog
        gauge = Gauge(
            NOTIFICATION_BACKLOG,
            "Notification outbox rows not yet delivered (events waiting, messages pending or retrying).",
            registry=registry,
        )
        gauge.set_function(self._read_backlog)

    def destinations(self, names: Iterable[str]) -> None:
        """Create the per-destination series at 0, so rates work from the first failure."""
        for name in names:
            self.sent.labels(name)
            self.failed.labels(name)

    def _read_backlog(self) -> float:
        try:
            return float(self._backlog())
        except (StoreError, sqlite3.Error, OSError) as exc:
            log.warning("cannot read the notification backlog: %s", exc)
            return math.nan
