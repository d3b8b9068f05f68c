"""Shared test set-up: the network-safety tripwires guard every test."""

from __future__ import annotations

import pytest
from netsafety import forbid_name_lookups, forbid_non_loopback_traffic

from netwatch.lab.topology import LAB_RANGE


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "lab_range_reachable: the test may connect to the lab range (10.66.0.0/16) from the root "
        "namespace — only to prove the lab's unreachable route stops it",
    )


@pytest.fixture(autouse=True)
def _network_safety(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_name_lookups(monkeypatch)
    also = (LAB_RANGE,) if request.node.get_closest_marker("lab_range_reachable") else ()
    forbid_non_loopback_traffic(monkeypatch, also)
