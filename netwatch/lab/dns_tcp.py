"""One DNS-over-TCP client connection inside a selector loop (RFC 1035 4.2.2 / RFC 7766 framing).

Each message travels behind a two-byte big-endian length. The connection is non-blocking: reads
collect whole messages and hand each to the server's handler; writes queue what the kernel will
not take yet and finish when the socket turns writable. Every method runs on the loop's thread.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
from collections.abc import Callable

__all__ = ["MessageHandler", "TcpConnection"]

MessageHandler = Callable[[bytes, Callable[[bytes], None]], None]
"""``handler(wire, reply)``: one received message, and how to send a reply to it (now or later)."""

_READ_SIZE = 65536
_MAX_PENDING = 1 << 20  # a client that never reads must not make the server hoard its replies


class TcpConnection:
    """Registered with ``selector`` on construction; unregisters and calls ``on_close(self)`` once
    when the peer goes away, on a socket error, or on ``close()``."""

    def __init__(
        self,
        sock: socket.socket,
        selector: selectors.BaseSelector,
        handler: MessageHandler,
        on_close: Callable[[TcpConnection], None],
    ) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._selector = selector
        self._handler = handler
        self._on_close = on_close
        self._inbox = bytearray()
        self._outbox = bytearray()
        self._closed = False
        self._want_write = False
        selector.register(sock, selectors.EVENT_READ, self._on_ready)

    def write(self, message: bytes) -> None:
        """Queue ``message`` with its length prefix; dropped if the connection is gone."""
        if self._closed:
            return
        if len(self._outbox) > _MAX_PENDING:
            self.close()
            return
        was_idle = not self._outbox
        self._outbox += struct.pack("!H", len(message)) + message
        if was_idle:
            self._flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(self._sock)
        self._sock.close()
        self._on_close(self)

    def _on_ready(self, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush()
        if mask & selectors.EVENT_READ and not self._closed:
            self._read()

    def _read(self) -> None:
        try:
            data = self._sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not data:
            self.close()
            return
        self._inbox += data
        while len(self._inbox) >= 2 and not self._closed:
            (size,) = struct.unpack_from("!H", self._inbox)
            if len(self._inbox) < 2 + size:
                break
            message = bytes(self._inbox[2 : 2 + size])
            del self._inbox[: 2 + size]
            self._handler(message, self.write)

    def _flush(self) -> None:
        try:
            sent = self._sock.send(self._outbox)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.close()
            return
        del self._outbox[:sent]
        want_write = bool(self._outbox)
        if want_write != self._want_write:  # skip the syscall in the usual all-sent case
            self._want_write = want_write
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want_write else 0)
            self._selector.modify(self._sock, events, self._on_ready)
