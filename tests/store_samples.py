"""Measurements for the store tests: realistic shape (~500 B of JSON), deterministic content."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from netwatch.model import Failure, Labels, Measurement, NetworkType

EPOCH = datetime(2022, 1, 5, 10, 30, tzinfo=UTC)


def sample(
    n: int, *, prefix: str = "m", at: datetime | None = None, target: str | None = None
) -> Measurement:
    """The ``n``-th sample measurement: id ``{prefix}{n:08d}``, one second apart from ``EPOCH``
    plus a microsecond fraction so exact round-trip of times is exercised."""
    started = at if at is not None else EPOCH + timedelta(seconds=n, microseconds=n % 999_983)
    failed = n % 3 == 0
    return Measurement(
        id=f"{prefix}{n:08d}",
        target_id=target if target is not None else f"kz-target-{n % 17}",
        kind="http",
        vantage_id="almaty-1",
        started_at=started,
        duration_s=0.123456 + n % 7,
        failure=Failure.HTTP_TIMEOUT if failed else None,
        phases={"resolve": 0.012, "connect": 0.034, "tls": 0.056, "first_byte": 0.078},
        evidence={
            "resolver": "192.0.2.53",
            "answers": ["203.0.113.10", "203.0.113.11"],
            "rcode": "NOERROR",
            "status": None if failed else 200,
            "headers": {"server": "nginx", "content-type": "text/html; charset=utf-8"},
            "cert_sha256": ["5f1c0e7b8d2a4e6f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607"],
            "body_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "body_length": 5120 + n,
            "connected": "203.0.113.10:443",
        },
        partial=n % 5 == 0,
        labels=Labels(
            country="KZ",
            region="KZ-75",
            asn="9198",
            operator="Kazakhtelecom",
            network_type=NetworkType.FIXED,
            category="news",
        ),
    )
