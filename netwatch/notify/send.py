"""Delivery of one rendered message to one destination through Apprise.

The only module that talks to Apprise. Apprise keeps nothing on disk here (memory storage mode)
and does not retry by itself: retries belong to the outbox (``Store.mark_failed`` with backoff).
The idempotency key goes into the message text (every channel) and, for the generic HTTP
channels (``json://``, ``form://``, ``xml://``), into an ``X-Netwatch-Idempotency-Key`` header.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import apprise

from netwatch.notify.render import Message
from netwatch.notify.settings import Destination

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "X-Netwatch-Idempotency-Key"

Sender = Callable[[Destination, Message, str], str | None]
"""``send(destination, message, idempotency_key)``: None when delivered, else why not (for
operators' logs; never a metric label)."""


class _Capture(logging.Handler):
    """Collects Apprise's own explanation of a failure (HTTP status, connection refused ...)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def send_apprise(destination: Destination, message: Message, key: str) -> str | None:
    """Send ``message`` to ``destination`` once (Apprise's own retries off); see ``Sender``."""
    asset = apprise.AppriseAsset(storage_mode=apprise.PersistentStoreMode.MEMORY)
    plugin = apprise.Apprise.instantiate(destination.url, asset=asset)
    if plugin is None:  # validated at config load; only a changed Apprise could get here
        return "Apprise no longer accepts this URL"
    headers = getattr(plugin, "headers", None)
    if isinstance(headers, dict):
        headers[IDEMPOTENCY_HEADER] = key
    capture = _Capture()
    apprise_log = logging.getLogger("apprise")
    apprise_log.addHandler(capture)
    try:
        ok = plugin.notify(body=message.body, title=message.title, notify_type=message.severity.value)
    except Exception as exc:  # a plugin bug must not kill the notifier; the row is retried
        log.exception("Apprise failed on destination %s", destination.name)
        return f"{type(exc).__name__}: {exc}"
    finally:
        apprise_log.removeHandler(capture)
    if ok:
        return None
    return "; ".join(capture.lines[-3:]) or "Apprise reported a failed delivery"
