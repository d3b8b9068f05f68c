"""SQLite store (WAL) under ``Config.data_dir``: raw measurements, outages, transitions and the
notification outbox, with a versioned schema (``PRAGMA user_version``) and ordered migrations.

- ``MeasurementStore``: the ``MeasurementSink``; probe threads enqueue, one writer thread commits.
- ``Store``: thread-safe reads and event writes, each call on its own connection.
"""

from netwatch.store.database import Store
from netwatch.store.events import OutageFilter, OutagePage
from netwatch.store.outbox import Notification, OutboxItem
from netwatch.store.schema import SCHEMA_VERSION, StoreError, db_path
from netwatch.store.writer import MeasurementStore

__all__ = [
    "SCHEMA_VERSION",
    "MeasurementStore",
    "Notification",
    "OutageFilter",
    "OutagePage",
    "OutboxItem",
    "Store",
    "StoreError",
    "db_path",
]
