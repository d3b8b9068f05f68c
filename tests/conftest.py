"""Shared test set-up: the network-safety tripwires guard every test."""

from __future__ import annotations

import pytest
from netsafety import forbid_name_lookups, forbid_non_loopback_traffic


@pytest.fixture(autouse=True)
def _network_safety(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_name_lookups(monkeypatch)
    forbid_non_loopback_traffic(monkeypatch)
