"""Tripwires for the network-safety rule, applied to every test by ``conftest.py``.

Tests may send traffic only to loopback (127.0.0.0/8, ::1) — namespaces a test builds are driven
through subprocesses, which these in-process guards do not see — and must never ask the machine's
resolver for a name. A violation fails the test with the offending call, before any packet leaves.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _is_ip(host: object) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port) means "any local address", no lookup
    text = host.decode() if isinstance(host, bytes) else str(host)
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _is_allowed(address: object, also: tuple[IPNetwork, ...]) -> bool:
    """True for AF_UNIX paths and (host, port...) tuples whose host is a loopback literal or lies
    in one of the ``also`` networks."""
    if not isinstance(address, tuple):
        return True  # AF_UNIX path or abstract socket name: local by construction
    host = address[0]
    text = host.decode() if isinstance(host, bytes) else str(host)
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or any(ip.version == net.version and ip in net for net in also)


def forbid_name_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every stdlib name lookup of a non-IP host fail the test (IP literals still pass)."""
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        real = getattr(socket, name)

        def guarded(host: object, *args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            if not _is_ip(host):
                raise AssertionError(f"socket.{_name}({host!r}) would use the system resolver")
            return _real(host, *args, **kwargs)

        monkeypatch.setattr(socket, name, guarded)


def forbid_non_loopback_traffic(monkeypatch: pytest.MonkeyPatch, also: tuple[IPNetwork, ...] = ()) -> None:
    """Make connect/sendto to any address outside loopback (and ``also``) fail the test before a
    packet leaves. ``also`` is for a test that checks the lab's own leak guard from the root
    namespace: its range is routed ``unreachable`` there while the lab is up."""
    for name in ("connect", "connect_ex"):
        real = getattr(socket.socket, name)

        def guarded(sock: socket.socket, address: Any, _real: Any = real, _name: str = name) -> Any:
            if not _is_allowed(address, also):
                raise AssertionError(f"socket.{_name}({address!r}): tests may only reach loopback")
            return _real(sock, address)

        monkeypatch.setattr(socket.socket, name, guarded)
    real_sendto = socket.socket.sendto

    def guarded_sendto(sock: socket.socket, data: Any, *args: Any) -> Any:
        address = args[-1]
        if not _is_allowed(address, also):
            raise AssertionError(f"socket.sendto(..., {address!r}): tests may only reach loopback")
        return real_sendto(sock, data, *args)

    monkeypatch.setattr(socket.socket, "sendto", guarded_sendto)
