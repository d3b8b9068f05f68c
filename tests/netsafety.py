"""A tripwire for the network-safety rule: tests must never ask the machine's resolver for a name."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest


def _is_ip(host: object) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port) means "any local address", no lookup
    text = host.decode() if isinstance(host, bytes) else str(host)
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def forbid_name_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every stdlib name lookup of a non-IP host fail the test (IP literals still pass)."""
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        real = getattr(socket, name)

        def guarded(host: object, *args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            if not _is_ip(host):
                raise AssertionError(f"socket.{_name}({host!r}) would use the system resolver")
            return _real(host, *args, **kwargs)

        monkeypatch.setattr(socket, name, guarded)
