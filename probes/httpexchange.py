"""One HTTP request and response over an already connected (and maybe TLS) socket, bounded by the deadline.

``http.client`` does the protocol; it reads through a socket stand-in that sets the timeout to
the deadline's remaining time before every send and every receive, so neither slow headers nor a
drip-fed body can keep the probe past its deadline.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netwatch.deadline import Deadline

_CHUNK = 65536
HEADERS_OF_INTEREST = ("server", "location", "content-type", "content-length", "via")


class _DeadlineReader(io.RawIOBase):
    """Raw reads from ``sock``, each with the socket timeout set to the time left."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(self._deadline.remaining())
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """The part of the socket interface ``http.client`` uses: ``sendall``, ``makefile``, ``close``."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes) -> None:
        # Since Python 3.5 the timeout bounds the whole sendall, not each chunk.
        self._sock.settimeout(self._deadline.remaining())
        self._sock.sendall(data)

    def makefile(self, mode: str, *_: Any, **__: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        # http.client closes the connection as soon as it sees "Connection: close", while the
        # response is still reading from it; the real socket is closed by ``exchange`` instead.
        pass


@dataclass(frozen=True, slots=True)
class Exchange:
    """A response read as far as the limits allow.

    ``headers`` maps lower-case names to values (all of them, for block-page matching);
    ``body`` is at most ``max_body_bytes`` long and ``body_sha256`` its hex digest;
    ``too_large`` says the server had more. Times are monotonic seconds: ``first_byte_s`` from
    sending the request to the parsed status and headers, ``transfer_s`` for the body.
    """

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    body_sha256: str
    too_large: bool
    first_byte_s: float
    transfer_s: float

    def to_evidence(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "headers": {name: self.headers[name] for name in HEADERS_OF_INTEREST if name in self.headers},
            "body_length": len(self.body),
            "body_sha256": self.body_sha256,
            "body_truncated": self.too_large,
        }


def exchange(
    sock: socket.socket,
    *,
    method: str,
    host_header: str,
    path: str,
    headers: Mapping[str, str],
    max_body_bytes: int,
    deadline: Deadline,
) -> Exchange:
    """Send ``method path`` with ``Host: host_header`` and read the response.

    Raises what the socket or ``http.client`` raise (``DeadlineExceeded`` when time runs out);
    the caller classifies it. ``sock`` is closed in every case.
    """
    connection = http.client.HTTPConnection(host_header)
    # Hand http.client our connected socket (it would otherwise connect, and resolve, by itself).
    connection.sock = _DeadlineSocket(sock, deadline)
    try:
        started = time.monotonic()
        connection.request(method, path, headers={"Host": host_header, "Connection": "close", **headers})
        response = connection.getresponse()
        headed = time.monotonic()
        digest = hashlib.sha256()
        parts: list[bytes] = []
        size = 0
        too_large = False
        while True:
            # Ask for one byte beyond the cap so "exactly at the cap" and "more" are told apart.
            chunk = response.read1(min(_CHUNK, max_body_bytes + 1 - size))
            if not chunk:
                break
            if size + len(chunk) > max_body_bytes:
                chunk = chunk[: max_body_bytes - size]
                too_large = True
            digest.update(chunk)
            parts.append(chunk)
            size += len(chunk)
            if too_large:
                break
        return Exchange(
            status=response.status,
            reason=response.reason,
            headers={name.lower(): value for name, value in response.getheaders()},
            body=b"".join(parts),
            body_sha256=digest.hexdigest(),
            too_large=too_large,
            first_byte_s=headed - started,
            transfer_s=time.monotonic() - headed,
        )
    finally:
        connection.close()
        sock.close()
