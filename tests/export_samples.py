"""Stores for the export and API tests: measurements bulk-inserted, outages built by hand."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from store_samples import sample

from netwatch.model import Layer, Measurement, Outage, ScopeType
from netwatch.store import Store, db_path
from netwatch.store import measurements as stored_measurements

NOW = datetime(2026, 1, 1, tzinfo=UTC)
JAN_2022 = datetime(2022, 1, 5, 10, 30, tzinfo=UTC)  # Almaty +06:00 then
JUN_2025 = datetime(2025, 6, 1, 10, 30, tzinfo=UTC)  # Almaty +05:00 since 2024-03-01


def clock() -> datetime:
    return NOW


def new_store(tmp: Path) -> Store:
    return Store(db_path(tmp))


def insert(store: Store, measurements: Iterable[Measurement]) -> None:
    """Bulk insert in one transaction (as the writer thread does, without the queue)."""
    with store.connect() as conn:
        conn.execute("BEGIN IMMEDIATE")
        stored_measurements.insert(conn, measurements)
        conn.execute("COMMIT")


def fill(store: Store, count: int, start: datetime = JAN_2022, step_s: float = 1.0) -> list[Measurement]:
    """``count`` sample measurements ``step_s`` apart from ``start``; returned in time order."""
    items = [sample(n, at=start + timedelta(seconds=n * step_s, microseconds=n % 1000)) for n in range(count)]
    insert(store, items)
    return items


def outage(
    n: int,
    *,
    scope: ScopeType = ScopeType.REGION,
    entity: str = "KZ-75",
    layer: Layer = Layer.BLACKOUT,
    started: datetime = JAN_2022,
    minutes: float | None = 45.0,
    evidence: tuple[str, ...] = (),
) -> Outage:
    """An outage opened at ``started`` (last good 60 s before), ``minutes`` long (None = open)."""
    ended = None if minutes is None else started + timedelta(minutes=minutes)
    return Outage(
        id=f"o-{n:04d}-{scope.value}-{entity}",
        incident_id=f"inc-{n // 2}",
        scope_type=scope,
        entity=entity,
        layer=layer,
        started_at=started,
        start_earliest=started - timedelta(seconds=60),
        ended_at=ended,
        end_earliest=None if ended is None else ended - timedelta(seconds=30),
        severity=0.98 * (minutes or 0),
        fraction=0.98,
        targets_affected=40,
        vantages_affected=2,
        evidence=evidence,
    )


def kazakhstan_2022(store: Store) -> list[Outage]:
    """A handful of outages shaped like January 2022 plus one open in 2025, stored."""
    outages = [
        outage(
            1,
            scope=ScopeType.REGION,
            entity="KZ-47",
            layer=Layer.BLACKOUT,
            started=datetime(2022, 1, 2, 9, 0, tzinfo=UTC),
            minutes=4 * 24 * 60,
        ),
        outage(
            2,
            scope=ScopeType.NETWORK_TYPE,
            entity="mobile",
            layer=Layer.THROTTLING,
            started=datetime(2022, 1, 4, 13, 0, tzinfo=UTC),
            minutes=180,
        ),
        outage(
            3,
            scope=ScopeType.COUNTRY,
            entity="KZ",
            layer=Layer.BLACKOUT,
            started=JAN_2022,
            minutes=45,
            evidence=("m00000000", "m00000001", "gone-from-store"),
        ),
        outage(
            4,
            scope=ScopeType.COUNTRY,
            entity="KZ",
            layer=Layer.PARTIAL,
            started=datetime(2022, 1, 8, 6, 0, tzinfo=UTC),
            minutes=24 * 60,
        ),
        outage(5, scope=ScopeType.ASN, entity="9198", layer=Layer.TCP_IP, started=JUN_2025, minutes=None),
        outage(6, scope=ScopeType.REGION, entity="KZ-75", layer=Layer.DNS, started=JUN_2025, minutes=None),
    ]
    store.record(NOW, outages=outages)
    return outages
