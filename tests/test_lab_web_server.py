"""The lab web server, exercised with plain stdlib clients over loopback."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from netwatch.lab.pki import ROGUE_ORGANIZATION, Issuer, LabPKI
from netwatch.lab.web_server import (
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
    WebServer,
)


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI()


@pytest.fixture
def server() -> Iterator[WebServer]:
    with WebServer("127.0.0.1") as running:
        yield running


def get(server: WebServer, path: str = "/", host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=3)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def raw_connect(port: int, timeout: float = 3.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def test_ok_by_default_and_counts_requests(server: WebServer) -> None:
    status, headers, body = get(server, host="egov.kz")
    assert (status, body) == (200, Ok().body)
    assert headers["content-length"] == str(len(body))
    assert server.requests == 1
    assert server.connections == 1
    assert server.requests_for("EGOV.kz") == 1
    assert server.url("/x") == f"http://127.0.0.1:{server.port}/x"


def test_behaviour_precedence_host_path_then_host_then_path(server: WebServer) -> None:
    server.set_behaviour(Status(500), path="/p")
    server.set_behaviour(Status(404), host="a.kz")
    server.set_behaviour(Status(201), host="a.kz", path="/p")
    assert get(server, "/p", "a.kz")[0] == 201
    assert get(server, "/other", "a.kz:8080")[0] == 404  # port stripped from Host
    assert get(server, "/p?q=1", "b.kz")[0] == 500  # query ignored for matching
    assert get(server, "/", "b.kz")[0] == 200
    server.set_behaviour(Status(204), host="::1")
    assert get(server, "/", "[::1]:80")[0] == get(server, "/", "[::1]")[0] == 204
    server.clear_behaviours(Status(418))
    assert get(server, "/p", "a.kz")[0] == 418


def test_status_blockpage_and_redirects(server: WebServer) -> None:
    server.set_behaviour(Status(503, b"down"), path="/status")
    server.set_behaviour(Blockpage(status=451), path="/blocked")
    server.set_behaviour(Redirect("http://elsewhere.kz/", 301), path="/moved")
    server.set_behaviour(RedirectLoop(), path="/loop")
    assert get(server, "/status")[0::2] == (503, b"down")
    status, _, body = get(server, "/blocked")
    assert status == 451 and "Доступ".encode() in body
    status, headers, _ = get(server, "/moved")
    assert (status, headers["location"]) == (301, "http://elsewhere.kz/")
    status, headers, _ = get(server, "/loop?n=1")
    assert (status, headers["location"]) == (302, "/loop?n=1")


def test_keep_alive_serves_several_requests_on_one_connection(server: WebServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=3)
    for _ in range(3):
        conn.request("GET", "/")
        assert conn.getresponse().read() == Ok().body
    conn.close()
    assert (server.connections, server.requests) == (1, 3)


def test_malformed_requests_do_not_kill_the_server(server: WebServer) -> None:
    for request in (b"NONSENSE\r\n\r\n", b"GET / HTTP/1.1\r\nContent-Length: many\r\n\r\n"):
        with raw_connect(server.port) as sock:
            sock.sendall(request)
            reply = sock.recv(100)
            assert reply.startswith(b"HTTP/1.1 400") or reply == b""
    assert get(server)[0] == 200


def test_head_has_no_body(server: WebServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=3)
    conn.request("HEAD", "/")
    response = conn.getresponse()
    assert response.status == 200 and response.read() == b""
    conn.close()


def test_reset_sends_rst(server: WebServer) -> None:
    server.set_behaviour(Reset())
    sock = raw_connect(server.port)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(ConnectionResetError):
        sock.recv(100)
    sock.close()


def test_garbage_is_neither_http_nor_tls(server: WebServer) -> None:
    server.set_behaviour(Garbage(b"\x00\x01junk"))
    sock = raw_connect(server.port)
    assert sock.recv(100) == b"\x00\x01junk"
    assert sock.recv(100) == b""
    sock.close()


def test_slow_headers_arrive_after_the_delay(server: WebServer) -> None:
    server.set_behaviour(SlowHeaders(0.3))
    started = time.monotonic()
    assert get(server)[0] == 200
    assert 0.3 <= time.monotonic() - started < 2


def test_drip_and_endless_bodies(server: WebServer) -> None:
    server.set_behaviour(DripBody(0.05), path="/drip")
    server.set_behaviour(EndlessBody(1024), path="/endless")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=3)
    conn.request("GET", "/drip")
    response = conn.getresponse()
    started = time.monotonic()
    assert response.read(4) == b"xxxx"
    assert time.monotonic() - started >= 0.1  # a byte per interval, not all at once
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=3)
    conn.request("GET", "/endless")
    response = conn.getresponse()
    assert response.getheader("content-length") is None
    assert len(response.read(5_000_000)) == 5_000_000
    conn.close()


def test_stop_is_prompt_with_every_kind_of_stuck_connection() -> None:
    server = WebServer("127.0.0.1").start()
    server.set_behaviour(Hang(), path="/hang")
    server.set_behaviour(DripBody(10), path="/drip")
    server.set_behaviour(EndlessBody(), path="/endless")
    server.set_behaviour(SlowHeaders(30), path="/slow")
    clients = []
    for path in ("/hang", "/drip", "/endless", "/slow"):
        sock = raw_connect(server.port)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        clients.append(sock)
    clients.append(raw_connect(server.port))  # idle keep-alive style connection, no request yet
    deadline = time.monotonic() + 3
    while server.requests < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    before = threading.active_count()
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    assert threading.active_count() <= before - 6  # acceptor + five connection threads all joined
    for sock in clients:
        sock.close()


def test_server_wide_hang_holds_before_any_byte(server: WebServer) -> None:
    server.set_behaviour(Hang())
    sock = raw_connect(server.port, timeout=0.3)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(TimeoutError):
        sock.recv(100)
    sock.close()


def test_tls_trusted_rogue_and_wrong_name(pki: LabPKI) -> None:
    context = pki.server_context(["bank.kz"])
    with WebServer("127.0.0.1", tls=context) as server:
        server.set_certificate("intercepted.kz", pki.server_context(["intercepted.kz"], Issuer.ROGUE))
        client = pki.client_context()

        def handshake(name: str) -> ssl.SSLSocket:
            return client.wrap_socket(raw_connect(server.port), server_hostname=name)

        with handshake("bank.kz") as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: bank.kz\r\nConnection: close\r\n\r\n")
            assert tls.recv(100).startswith(b"HTTP/1.1 200 OK")
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
            handshake("intercepted.kz")
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            handshake("other.kz")  # falls back to the bank.kz certificate
        assert server.url() == f"https://127.0.0.1:{server.port}/"
    assert "Qaznet" in ROGUE_ORGANIZATION


def test_tls_hang_for_one_sni_host(pki: LabPKI) -> None:
    with WebServer("127.0.0.1", tls=pki.server_context(["a.kz", "b.kz"])) as server:
        server.set_behaviour(Hang(), host="a.kz")
        client = pki.client_context()
        with pytest.raises(TimeoutError):
            client.wrap_socket(raw_connect(server.port, timeout=0.3), server_hostname="a.kz")
        with client.wrap_socket(raw_connect(server.port), server_hostname="b.kz") as tls:
            assert tls.version() is not None


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 support in this kernel")
    try:
        server = WebServer("::1")
    except OSError as exc:
        pytest.skip(f"::1 unavailable: {exc}")
    with server:
        conn = http.client.HTTPConnection("::1", server.port, timeout=3)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
        assert server.url() == f"http://[::1]:{server.port}/"


def test_hundreds_of_requests_per_second(server: WebServer) -> None:
    started = time.monotonic()
    for _ in range(300):
        assert get(server)[0] == 200
    assert time.monotonic() - started < 3.0  # ~1 ms per fresh connection on an idle machine
