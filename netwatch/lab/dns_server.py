"""A real DNS server with fault injection, for tests, the demo and the lab.

It speaks DNS over UDP and TCP (two-byte length prefix, RFC 1035 4.2.2) on the same port, answers
from a small record table, and can be told to misbehave the way a censored network does: time
out, SERVFAIL, NXDOMAIN, REFUSED, truncate, answer bogons, send garbage or answer late (see
``DnsFault``). Faults and records can change while it runs (from any thread) and take effect on
the next query.

One thread runs a selector loop over every socket, so a server costs one thread however many
queries are in flight; late (``SLOW``) replies wait in a timer heap on that same loop instead of
blocking it. What to answer is decided by ``netwatch.lab.dns_zone``.

Bind it to loopback only: it answers anyone who asks.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import ipaddress
import itertools
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from netwatch.lab.dns_tcp import TcpConnection
from netwatch.lab.dns_zone import DnsFault, FaultyZone

__all__ = ["DnsFault", "DnsServer"]

_log = logging.getLogger(__name__)

_UDP_BURST = 64  # datagrams read per wake-up before giving the other sockets a turn
_BIND_ATTEMPTS = 50


class DnsServer:
    """A loopback DNS server. Use as a context manager, or ``start()`` / ``stop()``.

    ``records`` maps ``(name, type)`` to presentation-format values, e.g.
    ``{("kaspi.kz.", "A"): ["127.0.1.10"], ("kz.", "SOA"): ["ns.nic.kz. hostmaster.nic.kz. 1 3600
    600 86400 300"]}``; names are case-insensitive and the trailing dot is optional. A name not in
    the table gets NXDOMAIN; a known name asked for a type it lacks gets NOERROR with no answer.
    ``port=0`` picks a port that is free for both UDP and TCP. ``bogon_address`` is the A answer
    under ``DnsFault.BOGON`` (AAAA gets it too when it is IPv6, else ``::``). ``delay_s`` is the
    lateness, in seconds, of ``DnsFault.SLOW`` replies.
    """

    def __init__(
        self,
        records: Mapping[tuple[str, str], Sequence[str]] = {},
        host: str = "127.0.0.1",
        port: int = 0,
        bogon_address: str = "0.0.0.0",
        delay_s: float = 0.0,
    ) -> None:
        self.address = host
        self.port = port
        self._family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        self._zone = FaultyZone(bogon_address, delay_s)
        self._queries = 0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._wake: socket.socket | None = None  # write a byte here to stop the loop
        for (name, rtype), values in records.items():
            self._zone.set_records(name, rtype, values)

    # -- control (any thread) -------------------------------------------------------------------

    @property
    def queries(self) -> int:
        """Queries received so far, over both transports (parseable or not)."""
        return self._queries

    def set_fault(self, fault: DnsFault, name: str | None = None) -> None:
        """Apply ``fault`` to ``name``, or to every name when ``name`` is None. A fault set for a
        name wins over the every-name fault."""
        self._zone.set_fault(fault, name)

    def clear_faults(self) -> None:
        self._zone.clear_faults()

    def set_records(self, name: str, rtype: str, values: Sequence[str]) -> None:
        """Replace the ``rtype`` records of ``name``; an empty ``values`` removes them. Raises
        ``dns.exception.SyntaxError`` on a bad value."""
        self._zone.set_records(name, rtype, values)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> DnsServer:
        """Bind UDP and TCP on one port and start serving; returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("DnsServer already started")
        udp, tcp = self._bind()
        wake_r, self._wake = socket.socketpair()
        self._thread = threading.Thread(
            target=self._serve,
            args=(udp, tcp, wake_r),
            name=f"dns-server-{self.address}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every socket and join the serving thread. Idempotent."""
        if self._thread is None or self._wake is None:
            return
        with contextlib.suppress(OSError):
            self._wake.send(b"x")
        self._thread.join(timeout=5.0)
        if self._thread.is_alive():
            raise RuntimeError("DNS server thread did not stop within 5 s")
        self._wake.close()
        self._wake = None

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        # With port 0 the kernel picks a free UDP port; TCP may already hold it, so try again.
        for _ in range(_BIND_ATTEMPTS if self.port == 0 else 1):
            udp = socket.socket(self._family, socket.SOCK_DGRAM)
            tcp = socket.socket(self._family, socket.SOCK_STREAM)
            try:
                udp.bind((self.address, self.port))
                port = udp.getsockname()[1]
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((self.address, port))
                tcp.listen(128)
            except OSError:
                udp.close()
                tcp.close()
                if self.port != 0:
                    raise
                continue
            udp.setblocking(False)
            tcp.setblocking(False)
            self.port = port
            return udp, tcp
        raise OSError(f"no port free for both UDP and TCP on {self.address}")

    # -- the serving loop (its own thread) ----------------------------------------------------------

    def _serve(self, udp: socket.socket, tcp: socket.socket, wake: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        connections: set[TcpConnection] = set()
        selector.register(wake, selectors.EVENT_READ, None)
        selector.register(udp, selectors.EVENT_READ, functools.partial(self._on_udp, udp))
        selector.register(
            tcp, selectors.EVENT_READ, functools.partial(self._on_accept, tcp, selector, connections)
        )
        try:
            while True:
                timeout = max(0.0, self._timers[0][0] - time.monotonic()) if self._timers else None
                for key, mask in selector.select(timeout):
                    if key.data is None:
                        return
                    try:
                        key.data(mask)
                    except Exception:
                        # One bad query must not take the server down under every other test.
                        _log.exception("DNS server %s:%d failed on a query", self.address, self.port)
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    heapq.heappop(self._timers)[2]()
        finally:
            for connection in list(connections):  # close() removes it from the set
                connection.close()
            selector.close()
            for sock in (udp, tcp, wake):
                sock.close()

    def _on_udp(self, udp: socket.socket, _mask: int) -> None:
        for _ in range(_UDP_BURST):
            try:
                wire, peer = udp.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # e.g. an ICMP error reported on the socket: not ours to act on
            self._respond(wire, tcp=False, send=functools.partial(_send_udp, udp, peer))

    def _on_accept(
        self,
        listener: socket.socket,
        selector: selectors.BaseSelector,
        connections: set[TcpConnection],
        _mask: int,
    ) -> None:
        try:
            sock, _ = listener.accept()
        except OSError:
            return  # not ready after all, or the client gave up between readiness and accept
        connections.add(TcpConnection(sock, selector, self._on_tcp_message, connections.discard))

    def _on_tcp_message(self, wire: bytes, reply: Callable[[bytes], None]) -> None:
        self._respond(wire, tcp=True, send=reply)

    def _respond(self, wire: bytes, *, tcp: bool, send: Callable[[bytes], None]) -> None:
        self._queries += 1
        if len(wire) < 12:
            return  # not even a header: nothing to answer to
        reply = self._zone.reply(wire, tcp)
        if reply is None:
            return
        data = wire[:2] + reply.tail
        if reply.delay_s > 0:
            due = time.monotonic() + reply.delay_s
            heapq.heappush(self._timers, (due, next(self._timer_seq), lambda: send(data)))
        else:
            send(data)


def _send_udp(udp: socket.socket, peer: tuple[Any, ...], data: bytes) -> None:
    with contextlib.suppress(OSError):  # a full buffer drops the reply, as UDP may
        udp.sendto(data, peer)
