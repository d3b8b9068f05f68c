"""The tcp probe against real loopback listeners: connected, refused, timeout, unreachable, denied."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from netsafety import forbid_name_lookups

from netwatch.deadline import Deadline
from netwatch.lab.dns_server import DnsFault, DnsServer
from netwatch.model import Failure, Outcome, Target
from probes.dnsquery import ResolverSpec
from probes.env import loopback_env
from probes.tcp import Params, probe_tcp

MARGIN_S = 0.3


@pytest.fixture(autouse=True)
def _no_system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_name_lookups(monkeypatch)


REPO = Path(__file__).resolve().parent.parent


def probe(
    host: str, port: int, timeout: float = 2.0, resolvers: tuple[ResolverSpec, ...] = ()
) -> tuple[Outcome, float]:
    """Run the probe once with a loopback-only egress policy; the outcome and its wall time in seconds."""
    target = Target(id="t", kind="tcp", params=Params(host=host, port=port, resolvers=resolvers))
    started = time.monotonic()
    outcome = probe_tcp(target, Deadline.after(timeout), loopback_env())
    return outcome, time.monotonic() - started


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock
    sock.close()


def free_port() -> int:
    """A port nothing listens on (bound then released; nothing else on this box races for it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connects(listener: socket.socket) -> None:
    outcome, _ = probe("127.0.0.1", listener.getsockname()[1])
    assert outcome.failure is None and not outcome.partial
    assert set(outcome.phases) == {"resolve", "connect"}
    assert outcome.evidence["connected"] == "127.0.0.1"
    conn, _ = listener.accept()  # the handshake really happened
    conn.close()


def test_refused() -> None:
    outcome, _ = probe("127.0.0.1", free_port())
    assert outcome.failure is Failure.TCP_REFUSED
    assert outcome.evidence["connected"] is None


def test_timeout_when_the_accept_queue_is_full() -> None:
    # Linux drops SYNs to a listener whose accept queue is full, so the client's handshake never
    # completes: a real connect timeout on loopback. backlog 0 leaves room for one connection.
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        filler = socket.create_connection(("127.0.0.1", port), timeout=1)
        try:
            outcome, elapsed = probe("127.0.0.1", port, timeout=0.5)
        finally:
            filler.close()
    assert outcome.failure is Failure.TCP_TIMEOUT
    assert 0.45 <= elapsed <= 0.5 + MARGIN_S


def test_unreachable_in_a_namespace_without_network() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to create a network namespace")
    code = (
        "import json; from netwatch.deadline import Deadline; from netwatch.model import Target;"
        "from probes.env import loopback_env; from probes.tcp import Params, probe_tcp;"
        "target = Target('t', 'tcp', Params(host='127.0.0.1', port=80));"
        "o = probe_tcp(target, Deadline.after(2), loopback_env());"
        "print(json.dumps({'failure': o.failure, 'attempts': o.evidence['attempts']}))"
    )
    # A fresh namespace has its loopback interface down: nothing, not even 127.0.0.1, is routable.
    result = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    if result.returncode != 0 and "unshare" in result.stderr:
        pytest.skip(f"cannot create a network namespace here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["failure"] == Failure.TCP_UNREACHABLE
    assert "Network is unreachable" in report["attempts"][0]["detail"]


def test_egress_denied_is_never_attempted() -> None:
    outcome, elapsed = probe("10.20.30.40", 443)
    assert outcome.failure is Failure.EGRESS_DENIED
    assert outcome.evidence["attempts"] == [{"address": "10.20.30.40", "failure": "egress_denied"}]
    assert elapsed < 0.1


def test_resolves_through_the_named_resolver_and_tries_every_address() -> None:
    # 127.0.0.2 refuses, 127.0.0.3 listens: success through the second address is partial.
    with socket.socket() as sock:
        sock.bind(("127.0.0.3", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        records = {("bank.kz.", "A"): ["127.0.0.2", "127.0.0.3"]}
        with DnsServer(records=records) as dns_server:
            spec = ResolverSpec(address=dns_server.address, port=dns_server.port)
            outcome, _ = probe("bank.kz", port, resolvers=(spec,))
            dns_server.set_fault(DnsFault.NXDOMAIN)
            missing, _ = probe("bank.kz", port, resolvers=(spec,))
    assert outcome.failure is None and outcome.partial
    assert [a.get("failure") for a in outcome.evidence["attempts"]] == ["tcp_refused", None]
    assert outcome.evidence["resolve"]["addresses"] == ["127.0.0.2", "127.0.0.3"]
    assert missing.failure is Failure.DNS_NXDOMAIN
    assert "connect" not in missing.phases


def test_time_is_shared_between_addresses() -> None:
    # The first address black-holes (full accept queue); the second must still get its turn.
    with socket.socket() as full, socket.socket() as good:
        full.bind(("127.0.0.4", 0))
        full.listen(0)
        port = full.getsockname()[1]
        good.bind(("127.0.0.5", port))
        good.listen(1)
        filler = socket.create_connection(("127.0.0.4", port), timeout=1)
        records = {("slow.kz.", "A"): ["127.0.0.4", "127.0.0.5"]}
        try:
            with DnsServer(records=records) as dns_server:
                spec = ResolverSpec(address=dns_server.address, port=dns_server.port)
                outcome, elapsed = probe("slow.kz", port, timeout=1.0, resolvers=(spec,))
        finally:
            filler.close()
    assert outcome.failure is None and outcome.partial
    assert [a.get("failure") for a in outcome.evidence["attempts"]] == ["tcp_timeout", None]
    assert elapsed <= 1.0
