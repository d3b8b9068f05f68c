"""A real threaded HTTP/HTTPS server on a loopback address whose behaviour is switched at run time.

Tests, the demo and the lab use it to make stand-in sites misbehave on cue::

    with WebServer("127.0.0.1", tls=pki.server_context(["egov.kz"])) as server:
        server.set_behaviour(Blockpage(), host="egov.kz")
        server.set_behaviour(DripBody(interval=0.5), path="/news")

Behaviours are chosen per request by the Host header (without port) and the path (without query),
most specific first: (host, path), (host, any path), (any host, path), the server-wide default.

``Hang``, ``Reset`` and ``Garbage`` set server-wide act on every connection as soon as it is
accepted, before TLS and before any request (the host is not known yet). Set per host on a TLS
server, ``Hang`` holds the handshake once the client's SNI names that host; otherwise they act
when the request arrives.

One thread per connection; ``stop()`` shuts every open socket down so no thread stays blocked.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import ipaddress
import select
import socket
import ssl
import struct
import threading
from collections import Counter
from dataclasses import dataclass
from types import TracebackType

from netwatch.lab.web_behaviours import (
    CONNECTION_LEVEL,
    DEFAULT_BLOCKPAGE,
    Behaviour,
    Blockpage,
    DripBody,
    EndlessBody,
    Garbage,
    Hang,
    Ok,
    Redirect,
    RedirectLoop,
    Reset,
    SlowHeaders,
    Status,
    render_headers,
    render_response,
)

__all__ = [
    "DEFAULT_BLOCKPAGE",
    "Behaviour",
    "Blockpage",
    "DripBody",
    "EndlessBody",
    "Garbage",
    "Hang",
    "Ok",
    "Redirect",
    "RedirectLoop",
    "Reset",
    "SlowHeaders",
    "Status",
    "WebServer",
]

_MAX_LINE = 65536
_LINGER_RST = struct.pack("ii", 1, 0)


@dataclass(frozen=True, slots=True)
class _Request:
    target: bytes  # path and query as sent
    head: bool
    keep_alive: bool
    rfile: io.BufferedIOBase  # the connection's reader, positioned after this request


class _Conn:
    """The socket of one connection; replaced by its TLS wrapper once wrapped."""

    __slots__ = ("sock",)

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock


class WebServer:
    """HTTP (``tls=None``) or HTTPS server on ``host`` (an IP literal), ``port`` 0 = ephemeral.

    With ``tls``, the server takes the context over (it installs its SNI callback) to pick
    per-host certificates set with ``set_certificate``. Counters: ``connections`` accepted,
    ``requests`` parsed, ``requests_for(host)``. All methods are thread-safe.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        default: Behaviour | None = None,
    ) -> None:
        self.host = str(ipaddress.ip_address(host))
        self._tls = tls
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, port))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._rules: dict[tuple[str | None, str | None], Behaviour] = {(None, None): default or Ok()}
        self._certs: dict[str, ssl.SSLContext] = {}
        self._open: set[_Conn] = set()
        self._threads: set[threading.Thread] = set()
        self._by_host: Counter[str] = Counter()
        self.connections = 0
        self.requests = 0
        if tls is not None:
            tls.sni_callback = self._on_sni
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"web:{self.port}", daemon=True)

    @property
    def scheme(self) -> str:
        return "http" if self._tls is None else "https"

    def url(self, path: str = "/", host: str | None = None) -> str:
        """``scheme://host:port/path``; ``host`` defaults to the listening address."""
        name = host or self.host
        if ":" in name:
            name = f"[{name}]"
        return f"{self.scheme}://{name}:{self.port}{path}"

    def set_behaviour(self, behaviour: Behaviour, host: str | None = None, path: str | None = None) -> None:
        """Behave so for requests to ``host`` (any if None) at ``path`` (any if None)."""
        with self._lock:
            self._rules[(host.lower() if host else None, path)] = behaviour

    def clear_behaviours(self, default: Behaviour | None = None) -> None:
        """Forget every per-host and per-path behaviour; ``default`` (or ``Ok()``) becomes server-wide."""
        with self._lock:
            self._rules = {(None, None): default or Ok()}

    def set_certificate(self, host: str, context: ssl.SSLContext) -> None:
        """Present ``context``'s certificate when the client's SNI is ``host`` (TLS servers only)."""
        with self._lock:
            self._certs[host.lower()] = context

    def requests_for(self, host: str) -> int:
        with self._lock:
            return self._by_host[host.lower()]

    def start(self) -> WebServer:
        self._listener.listen(128)
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting, shut every open connection down and join all threads (returns promptly)."""
        with self._lock:
            self._stop_event.set()
            socks = [conn.sock for conn in self._open]
        _shutdown(self._listener)  # wakes the blocked accept()
        for sock in socks:
            _shutdown(sock)
        if self._acceptor.is_alive():
            self._acceptor.join()
        self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join()

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _behaviour(self, host: str | None, path: str | None) -> Behaviour:
        with self._lock:
            for key in ((host, path), (host, None), (None, path)):
                if key in self._rules:
                    return self._rules[key]
            return self._rules[(None, None)]

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # listener shut down by stop()
            conn = _Conn(sock)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                if self._stop_event.is_set():
                    sock.close()
                    return
                self.connections += 1
                self._open.add(conn)
                self._threads.add(thread)
            thread.start()

    def _serve(self, conn: _Conn) -> None:
        try:
            first = self._behaviour(None, None)
            if isinstance(first, CONNECTION_LEVEL):
                self._act(conn.sock, first)
                return
            if self._tls is not None:
                with self._lock:
                    if self._stop_event.is_set():
                        return
                    conn.sock = self._tls.wrap_socket(
                        conn.sock, server_side=True, do_handshake_on_connect=False
                    )
                conn.sock.do_handshake()
            self._handle_requests(conn.sock)
        except (OSError, ValueError, http.client.HTTPException):
            pass  # the client went away, sent garbage, or stop() shut the socket
        finally:
            conn.sock.close()
            with self._lock:
                self._open.discard(conn)
                self._threads.discard(threading.current_thread())

    def _on_sni(
        self, sock: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> int | None:
        if server_name is None:
            return None
        name = server_name.lower()
        with self._lock:
            context = self._certs.get(name)
        if context is not None:
            sock.context = context
        if isinstance(self._behaviour(name, None), Hang) and isinstance(sock, ssl.SSLSocket):
            # Readable once the client gives up or stop() shuts the socket down.
            select.select([sock.fileno()], [], [])
            return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
        return None

    def _handle_requests(self, sock: socket.socket) -> None:
        rfile = sock.makefile("rb")
        try:
            while not self._stop_event.is_set():
                line = rfile.readline(_MAX_LINE)
                if not line:
                    return
                parts = line.split()
                if len(parts) != 3:
                    sock.sendall(render_response(400, b"bad request line", close=True))
                    return
                method, target, version = parts
                headers = http.client.parse_headers(rfile)
                length = int(headers.get("Content-Length") or 0)
                if length:
                    rfile.read(length)
                host = _host_of(headers.get("Host") or "")
                with self._lock:
                    self.requests += 1
                    self._by_host[host or ""] += 1
                behaviour = self._behaviour(host, target.split(b"?", 1)[0].decode("latin-1"))
                keep_alive = version == b"HTTP/1.1" and headers.get("Connection", "").lower() != "close"
                request = _Request(target, method == b"HEAD", keep_alive, rfile)
                if not self._respond(sock, behaviour, request):
                    return
        finally:
            rfile.close()

    def _respond(self, sock: socket.socket, behaviour: Behaviour, request: _Request) -> bool:
        """Answer one request; True when the connection may serve another."""
        close, head = not request.keep_alive, request.head
        match behaviour:
            case Ok(status, body, content_type, extra):
                response = render_response(status, body, content_type, extra, close=close, head=head)
            case Status(code, body):
                response = render_response(code, body, close=close, head=head)
            case Blockpage(body, status):
                response = render_response(status, body, close=close, head=head)
            case Redirect(to, code):
                response = render_response(code, b"", extra=(("Location", to),), close=close, head=head)
            case RedirectLoop(code):
                location = request.target.decode("latin-1")
                response = render_response(code, b"", extra=(("Location", location),), close=close, head=head)
            case SlowHeaders(delay):
                if self._stop_event.wait(delay):
                    return False
                response = render_response(200, Ok().body, close=close, head=head)
            case DripBody(interval):
                sock.sendall(render_headers(200, None, "text/plain", (), close=True))
                while not head and not self._stop_event.wait(interval):
                    sock.sendall(b"x")
                return False
            case EndlessBody(chunk_size):
                sock.sendall(render_headers(200, None, "application/octet-stream", (), close=True))
                chunk = b"\0" * chunk_size
                while not head and not self._stop_event.is_set():
                    sock.sendall(chunk)
                return False
            case Hang() | Reset() | Garbage():
                self._act(sock, behaviour, request.rfile)
                return False
        sock.sendall(response)
        return request.keep_alive

    def _act(self, sock: socket.socket, behaviour: Behaviour, rfile: io.BufferedIOBase | None = None) -> None:
        """Connection-level behaviours: hold, reset or garble, then let the caller close."""
        if isinstance(behaviour, Reset):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        elif isinstance(behaviour, Garbage):
            sock.sendall(behaviour.data)
        elif isinstance(behaviour, Hang):
            # Read and drop until the client leaves; stop() shuts the socket down to end this.
            read = rfile.read1 if rfile is not None else sock.recv
            while read(4096) and not self._stop_event.is_set():
                pass


def _host_of(header: str) -> str | None:
    """The host of a ``Host`` header, lower-case, without port or IPv6 brackets; None if empty."""
    if header.startswith("["):
        return header[1:].partition("]")[0].lower() or None
    return header.partition(":")[0].lower() or None


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed or never connected
        # The base-class method: SSLSocket.shutdown would also drop the TLS object under a thread using it.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
