"""The lab DNS server, asked with dnspython over real loopback sockets."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from netwatch.lab.dns_server import DnsFault, DnsServer

SOA = "ns.nic.kz. hostmaster.nic.kz. 2022010501 3600 600 86400 300"
RECORDS = {
    ("kaspi.kz.", "A"): ["127.0.1.10"],
    ("kaspi.kz.", "AAAA"): ["::1"],
    ("kz", "NS"): ["ns.nic.kz.", "ns2.nic.kz"],
    ("kz.", "SOA"): [SOA],
    ("egov.kz", "A"): ["127.0.1.20", "127.0.1.21"],
}


@pytest.fixture
def server() -> Iterator[DnsServer]:
    with DnsServer(RECORDS, delay_s=0.3) as running:
        yield running


def ask(
    server: DnsServer, name: str, qtype: str, *, tcp: bool = False, timeout: float = 2.0
) -> dns.message.Message:
    request = dns.message.make_query(name, qtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(request, server.address, timeout=timeout, port=server.port)


def answers(response: dns.message.Message) -> list[str]:
    return sorted(rdata.to_text() for rrset in response.answer for rdata in rrset)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize(
    ("name", "qtype", "expected"),
    [
        ("kaspi.kz", "A", ["127.0.1.10"]),
        ("kaspi.kz", "AAAA", ["::1"]),
        ("kz", "NS", ["ns.nic.kz.", "ns2.nic.kz."]),
        ("kz", "SOA", [SOA]),
        ("egov.kz", "A", ["127.0.1.20", "127.0.1.21"]),
    ],
)
def test_answers_every_record_type_on_one_port_over_both_transports(
    server: DnsServer, tcp: bool, name: str, qtype: str, expected: list[str]
) -> None:
    response = ask(server, name, qtype, tcp=tcp)
    assert response.rcode() == dns.rcode.NOERROR
    assert answers(response) == expected


def test_names_are_case_insensitive_with_optional_trailing_dot(server: DnsServer) -> None:
    assert answers(ask(server, "KASPI.Kz.", "A")) == ["127.0.1.10"]
    server.set_records("Halyk.KZ", "A", ["127.0.1.30"])
    assert answers(ask(server, "halyk.kz.", "A")) == ["127.0.1.30"]


def test_unknown_name_is_nxdomain_and_known_name_without_the_type_is_nodata(server: DnsServer) -> None:
    unknown = ask(server, "nowhere.kz", "A")
    assert unknown.rcode() == dns.rcode.NXDOMAIN
    nodata = ask(server, "egov.kz", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR
    assert nodata.answer == []


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize(
    ("fault", "rcode"),
    [
        (DnsFault.SERVFAIL, dns.rcode.SERVFAIL),
        (DnsFault.NXDOMAIN, dns.rcode.NXDOMAIN),
        (DnsFault.REFUSED, dns.rcode.REFUSED),
    ],
)
def test_rcode_faults(server: DnsServer, tcp: bool, fault: DnsFault, rcode: dns.rcode.Rcode) -> None:
    server.set_fault(fault)
    response = ask(server, "kaspi.kz", "A", tcp=tcp)
    assert response.rcode() == rcode
    assert response.answer == []


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_timeout_reads_the_query_and_never_replies(server: DnsServer, tcp: bool) -> None:
    server.set_fault(DnsFault.TIMEOUT)
    with pytest.raises(dns.exception.Timeout):
        ask(server, "kaspi.kz", "A", tcp=tcp, timeout=0.3)
    assert server.queries == 1


def test_truncate_sets_tc_over_udp_and_answers_in_full_over_tcp(server: DnsServer) -> None:
    server.set_fault(DnsFault.TRUNCATE)
    udp = dns.query.udp(dns.message.make_query("egov.kz", "A"), server.address, timeout=2, port=server.port)
    assert udp.flags & dns.flags.TC
    assert udp.answer == []
    assert answers(ask(server, "egov.kz", "A", tcp=True)) == ["127.0.1.20", "127.0.1.21"]


def test_an_answer_too_big_for_udp_is_truncated_there_and_whole_over_tcp(server: DnsServer) -> None:
    many = [f"127.0.2.{i}" for i in range(1, 61)]  # 60 A records: well over 512 bytes
    server.set_records("big.kz", "A", many)
    udp = dns.query.udp(dns.message.make_query("big.kz", "A"), server.address, timeout=2, port=server.port)
    assert udp.flags & dns.flags.TC
    assert len(answers(ask(server, "big.kz", "A", tcp=True))) == 60


def test_bogon_answers_unspecified_addresses_by_default(server: DnsServer) -> None:
    server.set_fault(DnsFault.BOGON)
    assert answers(ask(server, "kaspi.kz", "A")) == ["0.0.0.0"]
    assert answers(ask(server, "kaspi.kz", "AAAA")) == ["::"]
    # Tampering resolvers forge addresses even for names that do not exist...
    assert answers(ask(server, "nowhere.kz", "A")) == ["0.0.0.0"]
    # ... and leave other types alone.
    assert answers(ask(server, "kz", "NS")) == ["ns.nic.kz.", "ns2.nic.kz."]


def test_bogon_uses_the_configured_address_for_its_family() -> None:
    with DnsServer(RECORDS, bogon_address="10.10.34.34") as server:
        server.set_fault(DnsFault.BOGON, "kaspi.kz")
        assert answers(ask(server, "kaspi.kz", "A")) == ["10.10.34.34"]
        assert answers(ask(server, "kaspi.kz", "AAAA")) == ["::"]
    with DnsServer(RECORDS, bogon_address="fd00::34") as server:
        server.set_fault(DnsFault.BOGON, "kaspi.kz")
        assert answers(ask(server, "kaspi.kz", "AAAA")) == ["fd00::34"]
        assert answers(ask(server, "kaspi.kz", "A")) == ["0.0.0.0"]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_garbage_cannot_be_parsed(server: DnsServer, tcp: bool) -> None:
    server.set_fault(DnsFault.GARBAGE)
    with pytest.raises(dns.exception.FormError):
        ask(server, "kaspi.kz", "A", tcp=tcp)


def test_slow_answers_late_without_holding_up_other_queries() -> None:
    with DnsServer(RECORDS, delay_s=0.6) as server, ThreadPoolExecutor(max_workers=2) as pool:
        server.set_fault(DnsFault.SLOW, "kaspi.kz")
        started = time.monotonic()
        slow = pool.submit(ask, server, "kaspi.kz", "A", tcp=True)
        time.sleep(0.05)  # the slow query is pending on the server when the fast one arrives
        fast = pool.submit(ask, server, "egov.kz", "A")
        assert answers(fast.result()) == ["127.0.1.20", "127.0.1.21"]
        fast_done = time.monotonic() - started
        assert answers(slow.result()) == ["127.0.1.10"]
        slow_done = time.monotonic() - started
    # A server that answered in turn would have made the fast query wait for the slow one.
    assert fast_done < 0.5
    assert 0.6 <= slow_done < 1.5


def test_a_fault_for_one_name_wins_over_the_fault_for_all_and_clears(server: DnsServer) -> None:
    server.set_fault(DnsFault.REFUSED)
    server.set_fault(DnsFault.ANSWER, "KASPI.KZ.")
    assert ask(server, "egov.kz", "A").rcode() == dns.rcode.REFUSED
    assert answers(ask(server, "kaspi.kz", "A")) == ["127.0.1.10"]
    server.set_fault(DnsFault.SERVFAIL, "kaspi.kz")
    assert ask(server, "kaspi.kz", "A").rcode() == dns.rcode.SERVFAIL
    server.clear_faults()
    assert answers(ask(server, "egov.kz", "A")) == ["127.0.1.20", "127.0.1.21"]
    assert answers(ask(server, "kaspi.kz", "A")) == ["127.0.1.10"]


def test_set_records_replaces_and_empty_values_remove(server: DnsServer) -> None:
    assert answers(ask(server, "kaspi.kz", "A")) == ["127.0.1.10"]  # now cached by the server
    server.set_records("kaspi.kz", "A", ["127.0.1.11"])
    assert answers(ask(server, "kaspi.kz", "A")) == ["127.0.1.11"]
    server.set_records("kaspi.kz", "A", [])
    assert ask(server, "kaspi.kz", "A").answer == []
    assert ask(server, "kaspi.kz", "A").rcode() == dns.rcode.NOERROR  # AAAA still makes it known
    server.set_records("kaspi.kz", "AAAA", [])
    assert ask(server, "kaspi.kz", "A").rcode() == dns.rcode.NXDOMAIN


def test_bad_record_values_are_rejected_when_set(server: DnsServer) -> None:
    with pytest.raises(dns.exception.SyntaxError):
        server.set_records("kaspi.kz", "A", ["not-an-address"])


def test_pipelined_tcp_queries_on_one_connection_each_get_a_reply(server: DnsServer) -> None:
    first = dns.message.make_query("kaspi.kz", "A")
    second = dns.message.make_query("egov.kz", "A")
    framed = b"".join(struct.pack("!H", len(w)) + w for w in (first.to_wire(), second.to_wire()))
    with socket.create_connection((server.address, server.port), timeout=2) as sock:
        sock.sendall(framed)
        replies = [_read_framed(sock) for _ in range(2)]
    by_id = {reply.id: answers(reply) for reply in replies}
    assert by_id == {first.id: ["127.0.1.10"], second.id: ["127.0.1.20", "127.0.1.21"]}


def _read_framed(sock: socket.socket) -> dns.message.Message:
    def read_exactly(size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            assert chunk, "server closed the connection early"
            data += chunk
        return data

    (size,) = struct.unpack("!H", read_exactly(2))
    return dns.message.from_wire(read_exactly(size))


def test_many_concurrent_queries_are_all_answered(server: DnsServer) -> None:
    def burst(index: int) -> int:
        return sum(
            answers(ask(server, "kaspi.kz", "A", tcp=index % 4 == 0)) == ["127.0.1.10"] for _ in range(50)
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(burst, range(8))) == 400
    assert server.queries == 400


def test_stop_is_prompt_closes_both_sockets_and_leaves_no_thread() -> None:
    server = DnsServer(RECORDS, delay_s=10.0).start()
    port = server.port
    server.set_fault(DnsFault.TIMEOUT, "kaspi.kz")
    server.set_fault(DnsFault.SLOW, "egov.kz")
    hanging = socket.create_connection((server.address, port), timeout=2)  # held open by TIMEOUT
    wire = dns.message.make_query("kaspi.kz", "A").to_wire()
    hanging.sendall(struct.pack("!H", len(wire)) + wire)
    with pytest.raises(dns.exception.Timeout):
        ask(server, "egov.kz", "A", timeout=0.2)  # leaves a late reply pending in the server
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    assert not [t for t in threading.enumerate() if t.name.startswith(f"dns-server-127.0.0.1:{port}")]
    assert hanging.recv(1) == b""  # the server closed its end
    hanging.close()
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):  # both ports are free again
        with socket.socket(socket.AF_INET, kind) as probe:
            # SO_REUSEADDR: the closed connection leaves TIME_WAIT behind, as any server restart sees
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    server.stop()  # idempotent


def test_serves_ipv6_loopback() -> None:
    server = DnsServer(RECORDS, host="::1")
    try:
        server.start()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        assert answers(ask(server, "kaspi.kz", "AAAA")) == ["::1"]
        assert answers(ask(server, "kaspi.kz", "AAAA", tcp=True)) == ["::1"]
    finally:
        server.stop()
