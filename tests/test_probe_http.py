"""The http probe against real lab servers on loopback: every failure it can emit, with its evidence."""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from netsafety import forbid_name_lookups

from netwatch.deadline import Deadline
from netwatch.egress import EgressPolicy
from netwatch.lab.dns_server import DnsFault, DnsServer
from netwatch.lab.pki import Issuer, LabPKI
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
from netwatch.model import Failure, Outcome, Target
from probes.dnsquery import ResolverSpec
from probes.env import BlockpageFingerprint, ProbeEnv, loopback_env
from probes.http import Params, probe_http

MARGIN_S = 0.3  # how far past its deadline a probe may return (scheduling noise on a busy 2-core box)


@pytest.fixture(autouse=True)
def _no_system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_name_lookups(monkeypatch)


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI()


@pytest.fixture(scope="module")
def env(pki: LabPKI, tmp_path_factory: pytest.TempPathFactory) -> ProbeEnv:
    return loopback_env(pki.write_ca_file(tmp_path_factory.mktemp("pki") / "ca.pem"))


@pytest.fixture
def web() -> Iterator[WebServer]:
    with WebServer("127.0.0.1") as server:
        yield server


@pytest.fixture
def tls_web(pki: LabPKI) -> Iterator[WebServer]:
    with WebServer("127.0.0.1", tls=pki.server_context(["bank.kz", "127.0.0.1"])) as server:
        yield server


def probe(env: ProbeEnv, timeout: float = 3.0, **params: Any) -> tuple[Outcome, float]:
    """Run the probe once; the outcome and the wall time it took (monotonic seconds)."""
    target = Target(id="t", kind="http", params=Params(**params))
    started = time.monotonic()
    outcome = probe_http(target, Deadline.after(timeout), env)
    return outcome, time.monotonic() - started


def with_fingerprint(env: ProbeEnv, fingerprint: BlockpageFingerprint) -> ProbeEnv:
    return dataclasses.replace(env, blockpage_fingerprints=(fingerprint,))


def test_plain_http_success_records_phases_and_body(web: WebServer, env: ProbeEnv) -> None:
    outcome, _ = probe(env, url=web.url("/news?x=1"))
    assert outcome.failure is None and not outcome.partial
    assert set(outcome.phases) == {"resolve", "connect", "first_byte", "transfer"}
    evidence = outcome.evidence
    assert evidence["status"] == 200
    assert evidence["connected"] == "127.0.0.1"
    assert evidence["resolve"]["source"] == "literal"
    assert evidence["body_length"] == len(Ok().body)
    assert evidence["body_sha256"] == hashlib.sha256(Ok().body).hexdigest()
    assert evidence["headers"]["server"] == "netwatch-lab"
    assert web.requests == 1


def test_host_header_follows_the_url(web: WebServer, env: ProbeEnv) -> None:
    web.set_behaviour(Status(404))
    web.set_behaviour(Ok(body=b"egov"), host="egov.kz")
    outcome, _ = probe(env, url=f"http://egov.kz:{web.port}/", addresses=("127.0.0.1",))
    assert outcome.failure is None
    assert outcome.evidence["resolve"]["source"] == "pinned"
    assert web.requests_for("egov.kz") == 1


def test_https_success_with_lab_ca(tls_web: WebServer, env: ProbeEnv, pki: LabPKI) -> None:
    outcome, _ = probe(env, url=f"https://bank.kz:{tls_web.port}/", addresses=("127.0.0.1",))
    assert outcome.failure is None
    assert set(outcome.phases) == {"resolve", "connect", "tls", "first_byte", "transfer"}
    tls = outcome.evidence["tls"]
    assert tls["verified"] is True
    assert tls["leaf"]["names"] == ["bank.kz", "127.0.0.1"]
    assert "netwatch lab CA" in tls["issuer"]
    assert len(tls["chain_sha256"]) == 1 and tls["chain_sha256"][0] == tls["leaf"]["sha256"]


def test_http_status(web: WebServer, env: ProbeEnv) -> None:
    web.set_behaviour(Status(503))
    outcome, _ = probe(env, url=web.url())
    assert outcome.failure is Failure.HTTP_STATUS
    assert outcome.evidence["status"] == 503
    web.set_behaviour(Status(404))
    assert probe(env, url=web.url(), expect_status=(404,))[0].failure is None


def test_blockpage_takes_precedence_over_status(web: WebServer, env: ProbeEnv) -> None:
    blocking_env = with_fingerprint(
        env, BlockpageFingerprint(name="kz-mic", body_contains="competent authority")
    )
    web.set_behaviour(Blockpage(status=403))
    outcome, _ = probe(blocking_env, url=web.url())
    assert outcome.failure is Failure.HTTP_BLOCKPAGE
    assert outcome.evidence["blockpage"] == "kz-mic"
    assert outcome.evidence["status"] == 403


def test_blockpage_seen_in_a_redirect_is_not_followed(web: WebServer, env: ProbeEnv) -> None:
    fingerprint = BlockpageFingerprint(name="warning", header="Location", header_contains="blocked.kz")
    blocking_env = with_fingerprint(env, fingerprint)
    web.set_behaviour(Redirect("http://BLOCKED.kz/warning"))
    outcome, _ = probe(blocking_env, url=web.url())
    assert outcome.failure is Failure.HTTP_BLOCKPAGE
    assert web.requests == 1


def test_redirects_are_followed_and_recorded(web: WebServer, env: ProbeEnv) -> None:
    web.set_behaviour(Redirect("/step2"), path="/")
    web.set_behaviour(Redirect(web.url("/final")), path="/step2")
    outcome, _ = probe(env, url=web.url())
    assert outcome.failure is None
    assert outcome.evidence["url"] == web.url("/final")
    assert [hop["status"] for hop in outcome.evidence["redirects"]] == [302, 302]
    assert web.requests == 3


def test_redirect_to_a_host_nobody_can_resolve_is_not_followed(web: WebServer, env: ProbeEnv) -> None:
    web.set_behaviour(Redirect("http://elsewhere.kz/"), host="site.kz")
    outcome, _ = probe(env, url=f"http://site.kz:{web.port}/", addresses=("127.0.0.1",))
    assert outcome.failure is Failure.HTTP_STATUS
    assert outcome.evidence["status"] == 302
    assert "elsewhere.kz" in outcome.evidence["redirect_not_followed"]


def test_redirect_loop_is_too_many_redirects(web: WebServer, env: ProbeEnv) -> None:
    web.set_behaviour(RedirectLoop())
    outcome, _ = probe(env, url=web.url("/loop"), max_redirects=3)
    assert outcome.failure is Failure.HTTP_TOO_MANY_REDIRECTS
    assert len(outcome.evidence["redirects"]) == 3
    assert web.requests == 4


def test_endless_body_is_too_large(web: WebServer, env: ProbeEnv) -> None:
    web.set_behaviour(EndlessBody())
    outcome, _ = probe(env, url=web.url(), max_body_bytes=100_000)
    assert outcome.failure is Failure.HTTP_BODY_TOO_LARGE
    assert outcome.evidence["body_length"] == 100_000
    assert outcome.evidence["body_sha256"] == hashlib.sha256(b"\0" * 100_000).hexdigest()
    assert outcome.evidence["body_truncated"] is True


def test_body_exactly_at_the_cap_is_fine(web: WebServer, env: ProbeEnv) -> None:
    web.set_behaviour(Ok(body=b"a" * 1000))
    assert probe(env, url=web.url(), max_body_bytes=1000)[0].failure is None
    assert probe(env, url=web.url(), max_body_bytes=999)[0].failure is Failure.HTTP_BODY_TOO_LARGE


@pytest.mark.parametrize("behaviour", [DripBody(0.05), SlowHeaders(5)], ids=["drip-body", "slow-headers"])
def test_slow_servers_time_out_at_the_deadline(
    web: WebServer, env: ProbeEnv, behaviour: DripBody | SlowHeaders
) -> None:
    web.set_behaviour(behaviour)
    outcome, elapsed = probe(env, timeout=0.8, url=web.url())
    assert outcome.failure is Failure.HTTP_TIMEOUT
    assert 0.8 - 0.05 <= elapsed <= 0.8 + MARGIN_S
    # The phase that failed is the last one, timed up to the failure (the detector dates the
    # failure from its start).
    assert list(outcome.phases) == ["resolve", "connect", "first_byte"]
    assert 0.8 - 0.05 <= sum(outcome.phases.values()) <= elapsed


def test_rogue_root_is_untrusted_and_its_issuer_is_recorded(
    pki: LabPKI, env: ProbeEnv, tls_web: WebServer
) -> None:
    tls_web.set_certificate("kaspi.kz", pki.server_context(["kaspi.kz"], Issuer.ROGUE))
    outcome, _ = probe(env, url=f"https://kaspi.kz:{tls_web.port}/", addresses=("127.0.0.1",))
    assert outcome.failure is Failure.TLS_UNTRUSTED_CERT
    tls = outcome.evidence["tls"]
    assert tls["verified"] is False
    assert "Qaznet Trust Network" in tls["issuer"]
    rogue_root = x509.load_pem_x509_certificate(pki.rogue.cert_pem.bytes())
    ski = rogue_root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert tls["leaf"]["issuer_key_id"] == ski.digest.hex()
    assert tls["leaf"]["names"] == ["kaspi.kz"]
    assert tls_web.requests == 0  # nothing was sent over an unverified connection


def test_wrong_hostname(env: ProbeEnv, tls_web: WebServer) -> None:
    outcome, _ = probe(env, url=f"https://news.kz:{tls_web.port}/", addresses=("127.0.0.1",))
    assert outcome.failure is Failure.TLS_HOSTNAME_MISMATCH
    assert outcome.evidence["tls"]["leaf"]["names"] == ["bank.kz", "127.0.0.1"]


def test_verify_tls_off_accepts_the_rogue_root_but_records_it(pki: LabPKI, env: ProbeEnv) -> None:
    with WebServer("127.0.0.1", tls=pki.server_context(["kaspi.kz"], Issuer.ROGUE)) as server:
        url = f"https://kaspi.kz:{server.port}/"
        outcome, _ = probe(env, url=url, addresses=("127.0.0.1",), verify_tls=False)
    assert outcome.failure is None
    assert "Qaznet" in outcome.evidence["tls"]["issuer"]


def test_garbage_instead_of_tls_is_a_handshake_error(web: WebServer, env: ProbeEnv) -> None:
    web.set_behaviour(Garbage(b"HTTP/1.1 400 Bad Request\r\n\r\n"))
    outcome, _ = probe(env, url=f"https://127.0.0.1:{web.port}/")
    assert outcome.failure is Failure.TLS_HANDSHAKE_ERROR
    assert "SSL" in outcome.evidence["detail"]


def test_hang_on_a_tls_port_is_a_tls_timeout(tls_web: WebServer, env: ProbeEnv) -> None:
    tls_web.set_behaviour(Hang())
    outcome, elapsed = probe(env, timeout=0.5, url=tls_web.url())
    assert outcome.failure is Failure.TLS_TIMEOUT
    assert elapsed <= 0.5 + MARGIN_S


def test_reset_after_the_request(web: WebServer, env: ProbeEnv) -> None:
    web.set_behaviour(Reset(), path="/")
    outcome, _ = probe(env, url=web.url())
    assert outcome.failure is Failure.TCP_RESET
    assert web.requests == 1


@pytest.mark.parametrize(
    "reply", [b"", b"\x00 not http \xff\r\n\r\n"], ids=["hang-up-without-reply", "not-http"]
)
def test_a_reply_that_is_not_http_is_a_protocol_error(web: WebServer, env: ProbeEnv, reply: bytes) -> None:
    web.set_behaviour(Garbage(reply), path="/")  # per path: sent after the request was read
    outcome, _ = probe(env, url=web.url())
    assert outcome.failure is Failure.HTTP_PROTOCOL_ERROR
    assert outcome.evidence["connected"] == "127.0.0.1"


def test_guard_catches_name_lookups() -> None:
    with pytest.raises(AssertionError, match="system resolver"):
        socket.getaddrinfo("example.kz", 80)


def test_refused(env: ProbeEnv) -> None:
    server = WebServer("127.0.0.1")  # bound but never listening: the kernel refuses
    outcome, _ = probe(env, url=server.url())
    server.stop()
    assert outcome.failure is Failure.TCP_REFUSED


def test_later_address_succeeds_partially(env: ProbeEnv) -> None:
    with WebServer("127.0.0.3") as server:
        outcome, _ = probe(env, url=f"http://site.kz:{server.port}/", addresses=("127.0.0.2", "127.0.0.3"))
    assert outcome.failure is None and outcome.partial
    assert [a.get("failure") for a in outcome.evidence["attempts"]] == ["tcp_refused", None]
    assert outcome.evidence["connected"] == "127.0.0.3"


def test_egress_denied_sends_nothing(web: WebServer) -> None:
    ipv6_only = ProbeEnv(egress=EgressPolicy.from_cidrs(["::1/128"]))
    outcome, _ = probe(ipv6_only, url=web.url())
    assert outcome.failure is Failure.EGRESS_DENIED
    assert web.connections == 0
    outcome, elapsed = probe(loopback_env(), url="http://gov.kz/", addresses=("10.1.2.3", "203.0.113.9"))
    assert outcome.failure is Failure.EGRESS_DENIED
    assert outcome.evidence["connected"] is None
    assert [a["address"] for a in outcome.evidence["attempts"]] == ["10.1.2.3", "203.0.113.9"]
    assert all(set(a) == {"address", "failure"} for a in outcome.evidence["attempts"])  # no attempt made
    assert "connect" in outcome.phases and elapsed < 0.1


def test_a_name_without_resolvers_is_a_configuration_error(env: ProbeEnv) -> None:
    with pytest.raises(ValueError, match="no resolvers"):
        probe(env, url="http://gov.kz/")


# --- resolution through the lab DNS server -------------------------------------------------------


@pytest.fixture
def dns_server(web: WebServer) -> Iterator[DnsServer]:
    records = {
        ("site.kz.", "A"): ["127.0.0.1"],
        ("other.kz.", "A"): ["127.0.0.1"],
        ("v6.kz.", "AAAA"): ["::1"],
    }
    with DnsServer(records=records) as server:
        yield server


def resolver(server: DnsServer, label: str = "isp") -> ResolverSpec:
    return ResolverSpec(address=server.address, port=server.port, label=label)


def test_resolves_through_the_named_resolver(web: WebServer, env: ProbeEnv, dns_server: DnsServer) -> None:
    web.set_behaviour(Redirect(f"http://other.kz:{web.port}/"), host="site.kz")
    outcome, _ = probe(env, url=f"http://site.kz:{web.port}/", resolvers=(resolver(dns_server),))
    assert outcome.failure is None
    assert outcome.evidence["resolve"]["host"] == "other.kz"  # the redirect's new host was resolved too
    assert outcome.evidence["resolve"]["queries"][0]["answers"] == ["127.0.0.1"]
    assert (web.requests_for("site.kz"), web.requests_for("other.kz")) == (1, 1)
    assert outcome.phases["resolve"] > 0


@pytest.mark.parametrize(
    ("fault", "failure"),
    [
        (DnsFault.NXDOMAIN, Failure.DNS_NXDOMAIN),
        (DnsFault.SERVFAIL, Failure.DNS_SERVFAIL),
        (DnsFault.REFUSED, Failure.DNS_REFUSED),
        (DnsFault.BOGON, Failure.DNS_BOGON_ANSWER),
        (DnsFault.TIMEOUT, Failure.DNS_TIMEOUT),
    ],
)
def test_dns_failures_surface_as_dns(
    web: WebServer, env: ProbeEnv, dns_server: DnsServer, fault: DnsFault, failure: Failure
) -> None:
    dns_server.set_fault(fault, "site.kz.")
    url = f"http://site.kz:{web.port}/"
    outcome, elapsed = probe(env, timeout=0.6, url=url, resolvers=(resolver(dns_server),))
    assert outcome.failure is failure
    assert web.connections == 0  # DNS failures never reach the web server
    assert elapsed <= 0.6 + MARGIN_S


def test_second_resolver_rescues_the_first(web: WebServer, env: ProbeEnv, dns_server: DnsServer) -> None:
    with DnsServer() as refusing:
        refusing.set_fault(DnsFault.REFUSED)
        resolvers = (resolver(refusing, "isp"), resolver(dns_server, "public"))
        outcome, _ = probe(env, url=f"http://site.kz:{web.port}/", resolvers=resolvers)
    assert outcome.failure is None and outcome.partial
    failures = [query["failure"] for query in outcome.evidence["resolve"]["queries"]]
    assert failures == ["dns_refused", None, "dns_no_answer"]  # refused A; then A, and AAAA (none)


def test_aaaa_only_host(env: ProbeEnv, dns_server: DnsServer) -> None:
    try:
        server = WebServer("::1")
    except OSError as exc:
        pytest.skip(f"::1 unavailable: {exc}")
    with server:
        outcome, _ = probe(env, url=f"http://v6.kz:{server.port}/", resolvers=(resolver(dns_server),))
    assert outcome.failure is None
    assert outcome.evidence["connected"] == "::1"
