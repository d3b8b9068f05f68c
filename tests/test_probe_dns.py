"""The ``dns`` probe against real lab DNS servers on loopback."""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from netwatch.deadline import Deadline
from netwatch.egress import EgressPolicy
from netwatch.lab.dns_server import DnsFault, DnsServer
from netwatch.model import Failure, Outcome, Target
from probes.dns import Params, probe_dns
from probes.dnsquery import RecordType, ResolverSpec
from probes.env import ProbeEnv, loopback_env

SOA = "ns.nic.kz. hostmaster.nic.kz. 2022010501 3600 600 86400 300"
RECORDS = {
    ("kaspi.kz", "A"): ["127.0.1.10"],
    ("kaspi.kz", "AAAA"): ["::1"],
    ("kz", "NS"): ["ns.nic.kz.", "ns2.nic.kz."],
    ("kz", "SOA"): [SOA],
    ("egov.kz", "A"): ["127.0.1.20"],
}
ENV = loopback_env()


@pytest.fixture
def isp() -> Iterator[DnsServer]:
    with DnsServer(RECORDS) as server:
        yield server


@pytest.fixture
def public() -> Iterator[DnsServer]:
    with DnsServer(RECORDS) as server:
        yield server


def resolver(server: DnsServer, label: str = "") -> ResolverSpec:
    return ResolverSpec(address=server.address, port=server.port, label=label)


def endpoint(server: DnsServer) -> str:
    return f"{server.address}:{server.port}"


def probe(
    *servers: DnsServer,
    name: str = "kaspi.kz",
    qtypes: tuple[RecordType, ...] = ("A",),
    expected: tuple[str, ...] = (),
    tcp: bool = False,
    timeout: float = 2.0,
    env: ProbeEnv = ENV,
) -> Outcome:
    params = Params(
        name=name,
        qtypes=qtypes,
        resolvers=tuple(resolver(server) for server in servers),
        expected=expected,
        tcp=tcp,
    )
    target = Target(id="t", kind="dns", params=params, timeout_s=timeout)
    outcome = probe_dns(target, Deadline.after(timeout), env)
    json.dumps(outcome.evidence)  # evidence must be storable as it is
    return outcome


def queries(outcome: Outcome) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = outcome.evidence["queries"]
    return result


@pytest.mark.parametrize(
    ("name", "qtype", "answers"),
    [
        ("kaspi.kz", "A", ["127.0.1.10"]),
        ("kaspi.kz", "AAAA", ["::1"]),
        ("kz", "NS", ["ns.nic.kz.", "ns2.nic.kz."]),
        ("kz", "SOA", [SOA]),
    ],
)
def test_success_records_answers_rcode_resolver_and_timing(
    isp: DnsServer, name: str, qtype: RecordType, answers: list[str]
) -> None:
    outcome = probe(isp, name=name, qtypes=(qtype,))
    assert outcome.failure is None
    assert not outcome.partial
    assert outcome.phases["resolve"] > 0
    (only,) = queries(outcome)
    assert only["answers"] == answers
    assert only["rcode"] == "NOERROR"
    assert only["resolver"] == endpoint(isp)
    assert only["transport"] == "udp"
    assert outcome.evidence["name"] == name
    assert outcome.evidence["agreed"] is True


def test_every_qtype_is_asked_of_every_resolver_in_order(isp: DnsServer, public: DnsServer) -> None:
    outcome = probe(isp, public, qtypes=("A", "AAAA"))
    assert outcome.failure is None
    assert [(q["resolver"], q["qtype"]) for q in queries(outcome)] == [
        (endpoint(isp), "A"),
        (endpoint(isp), "AAAA"),
        (endpoint(public), "A"),
        (endpoint(public), "AAAA"),
    ]
    assert outcome.evidence["answer_sets"] == {
        "A": [{"answers": ["127.0.1.10"], "resolvers": [endpoint(isp), endpoint(public)]}],
        "AAAA": [{"answers": ["::1"], "resolvers": [endpoint(isp), endpoint(public)]}],
    }


@pytest.mark.parametrize(
    ("fault", "failure"),
    [
        (DnsFault.TIMEOUT, Failure.DNS_TIMEOUT),
        (DnsFault.NXDOMAIN, Failure.DNS_NXDOMAIN),
        (DnsFault.SERVFAIL, Failure.DNS_SERVFAIL),
        (DnsFault.REFUSED, Failure.DNS_REFUSED),
        (DnsFault.GARBAGE, Failure.DNS_ERROR),
    ],
)
def test_server_faults_become_their_failure(isp: DnsServer, fault: DnsFault, failure: Failure) -> None:
    isp.set_fault(fault)
    outcome = probe(isp, timeout=0.5)
    assert outcome.failure is failure
    assert not outcome.partial
    assert queries(outcome)[0]["failure"] == failure.value


def test_unknown_name_is_nxdomain_and_missing_type_is_no_answer(isp: DnsServer) -> None:
    assert probe(isp, name="nowhere.kz").failure is Failure.DNS_NXDOMAIN
    assert probe(isp, name="egov.kz", qtypes=("AAAA",)).failure is Failure.DNS_NO_ANSWER


def test_slow_resolver_within_the_deadline_still_succeeds() -> None:
    with DnsServer(RECORDS, delay_s=0.2) as slow:
        slow.set_fault(DnsFault.SLOW)
        outcome = probe(slow, timeout=2.0)
    assert outcome.failure is None
    assert queries(outcome)[0]["duration_s"] >= 0.2


def test_truncated_udp_answer_is_retried_over_tcp(isp: DnsServer) -> None:
    isp.set_fault(DnsFault.TRUNCATE)
    outcome = probe(isp)
    assert outcome.failure is None
    assert queries(outcome)[0]["transport"] == "tcp"
    assert queries(outcome)[0]["answers"] == ["127.0.1.10"]
    assert isp.queries == 2  # the UDP try, then TCP


def test_tcp_from_the_start_when_asked(isp: DnsServer) -> None:
    outcome = probe(isp, tcp=True)
    assert outcome.failure is None
    assert queries(outcome)[0]["transport"] == "tcp"
    assert isp.queries == 1


@pytest.mark.parametrize("qtype", ["A", "AAAA"])
def test_unspecified_address_is_a_bogon(isp: DnsServer, qtype: RecordType) -> None:
    isp.set_fault(DnsFault.BOGON)
    outcome = probe(isp, qtypes=(qtype,))
    assert outcome.failure is Failure.DNS_BOGON_ANSWER
    assert queries(outcome)[0]["answers"] == (["0.0.0.0"] if qtype == "A" else ["::"])


def test_private_address_is_a_bogon(isp: DnsServer) -> None:
    isp.set_records("kaspi.kz", "A", ["10.1.2.3"])
    outcome = probe(isp)
    assert outcome.failure is Failure.DNS_BOGON_ANSWER
    assert "10.1.2.3" in queries(outcome)[0]["detail"]


def test_loopback_answer_is_a_bogon_unless_exempt(isp: DnsServer) -> None:
    strict = ProbeEnv(egress=EgressPolicy.loopback())  # no bogon_exempt: loopback answers are bogus
    assert probe(isp, env=strict).failure is Failure.DNS_BOGON_ANSWER
    assert probe(isp, env=ENV).failure is None


def test_configured_block_page_address_is_a_bogon_even_inside_an_exempt_range() -> None:
    env = ProbeEnv(
        egress=EgressPolicy.loopback(),
        blockpage_addresses=frozenset({ipaddress.ip_address("127.0.9.9")}),
        bogon_exempt=EgressPolicy.loopback().networks,
    )
    with DnsServer(RECORDS, bogon_address="127.0.9.9") as censor:
        assert probe(censor, env=env).failure is None
        censor.set_fault(DnsFault.BOGON, "kaspi.kz")
        outcome = probe(censor, env=env)
    assert outcome.failure is Failure.DNS_BOGON_ANSWER
    assert queries(outcome)[0]["answers"] == ["127.0.9.9"]


def test_answers_outside_the_expected_set_are_unexpected(isp: DnsServer) -> None:
    assert probe(isp, expected=("127.0.1.10", "::1")).failure is None
    outcome = probe(isp, expected=("127.0.1.99", "::1"))
    assert outcome.failure is Failure.DNS_UNEXPECTED_ANSWER
    assert "127.0.1.10" in queries(outcome)[0]["detail"]
    # IPv6 entries speak for AAAA answers only, names for NS.
    assert probe(isp, qtypes=("AAAA",), expected=("0:0::1", "127.0.1.99")).failure is None
    assert probe(isp, name="kz", qtypes=("NS",), expected=("NS.nic.kz", "ns2.nic.kz.")).failure is None
    ns_outcome = probe(isp, name="kz", qtypes=("NS",), expected=("ns.nic.kz",))
    assert ns_outcome.failure is Failure.DNS_UNEXPECTED_ANSWER


def test_resolver_outside_the_allowlist_is_egress_denied_and_never_asked(isp: DnsServer) -> None:
    env = ProbeEnv(egress=EgressPolicy.from_cidrs(["127.0.0.2/32"]))
    outcome = probe(isp, env=env)
    assert outcome.failure is Failure.EGRESS_DENIED
    assert isp.queries == 0


def test_one_failing_resolver_of_several_is_partial_success(isp: DnsServer, public: DnsServer) -> None:
    isp.set_fault(DnsFault.SERVFAIL)
    outcome = probe(isp, public)
    assert outcome.failure is None
    assert outcome.partial
    assert [q["failure"] for q in queries(outcome)] == ["dns_servfail", None]


def test_disagreement_between_resolvers_is_visible(isp: DnsServer, public: DnsServer) -> None:
    isp.set_fault(DnsFault.BOGON, "kaspi.kz")  # the ISP resolver tampers, the public one does not
    outcome = probe(isp, public)
    # Tampering by one resolver fails the measurement; partial says another resolver was fine.
    assert outcome.failure is Failure.DNS_BOGON_ANSWER
    assert outcome.partial
    assert outcome.evidence["agreed"] is False
    assert outcome.evidence["answer_sets"] == {
        "A": [
            {"answers": ["0.0.0.0"], "resolvers": [endpoint(isp)]},
            {"answers": ["127.0.1.10"], "resolvers": [endpoint(public)]},
        ]
    }


def test_a_failed_resolver_does_not_count_as_disagreeing(isp: DnsServer, public: DnsServer) -> None:
    isp.set_fault(DnsFault.NXDOMAIN)
    outcome = probe(isp, public)
    assert outcome.evidence["agreed"] is True
    assert outcome.evidence["answer_sets"] == {
        "A": [{"answers": ["127.0.1.10"], "resolvers": [endpoint(public)]}]
    }


def test_all_failing_reports_the_most_common_failure(isp: DnsServer, public: DnsServer) -> None:
    with DnsServer(RECORDS) as third:
        isp.set_fault(DnsFault.REFUSED)
        public.set_fault(DnsFault.SERVFAIL)
        third.set_fault(DnsFault.SERVFAIL)
        assert probe(isp, public, third).failure is Failure.DNS_SERVFAIL


def test_all_failing_ties_go_to_resolver_order(isp: DnsServer, public: DnsServer) -> None:
    isp.set_fault(DnsFault.REFUSED)
    public.set_fault(DnsFault.NXDOMAIN)
    assert probe(isp, public).failure is Failure.DNS_REFUSED
    assert probe(public, isp).failure is Failure.DNS_NXDOMAIN


def test_all_failing_with_any_bogon_is_tampering(isp: DnsServer, public: DnsServer) -> None:
    with DnsServer(RECORDS) as third:
        isp.set_fault(DnsFault.REFUSED)
        public.set_fault(DnsFault.REFUSED)
        third.set_fault(DnsFault.BOGON)
        outcome = probe(isp, public, third)
    assert outcome.failure is Failure.DNS_BOGON_ANSWER
    assert not outcome.partial


def test_a_dead_resolver_does_not_starve_the_others(isp: DnsServer, public: DnsServer) -> None:
    with DnsServer(RECORDS) as dead:
        dead.set_fault(DnsFault.TIMEOUT)
        started = time.monotonic()
        outcome = probe(dead, isp, public, qtypes=("A", "AAAA"), timeout=1.2)
        elapsed = time.monotonic() - started
    assert outcome.failure is None
    assert outcome.partial
    results = queries(outcome)
    assert [q["failure"] for q in results] == ["dns_timeout"] * 2 + [None] * 4
    # Each of the dead resolver's two queries got about its fair share: 1.2 s / 6, then ~1.0 s / 5.
    assert all(0.15 <= q["duration_s"] <= 0.35 for q in results[:2])
    assert elapsed < 1.2


def test_the_whole_probe_finishes_within_its_deadline_when_every_resolver_is_dead() -> None:
    with DnsServer(RECORDS) as one, DnsServer(RECORDS) as two:
        one.set_fault(DnsFault.TIMEOUT)
        two.set_fault(DnsFault.TIMEOUT)
        started = time.monotonic()
        outcome = probe(one, two, qtypes=("A", "AAAA", "NS"), timeout=0.6)
        elapsed = time.monotonic() - started
    assert outcome.failure is Failure.DNS_TIMEOUT
    assert len(queries(outcome)) == 6
    assert 0.55 <= elapsed <= 0.6 + 0.5


def test_an_expired_deadline_records_every_query_as_a_timeout(isp: DnsServer) -> None:
    params = Params(name="kaspi.kz", qtypes=("A", "AAAA"), resolvers=(resolver(isp),))
    target = Target(id="t", kind="dns", params=params)
    outcome = probe_dns(target, Deadline.after(-1.0), ENV)
    assert outcome.failure is Failure.DNS_TIMEOUT
    assert [q["failure"] for q in queries(outcome)] == ["dns_timeout", "dns_timeout"]
    assert isp.queries == 0


def test_params_of_another_kind_are_a_bug_not_a_measurement() -> None:
    with pytest.raises(TypeError, match=r"dns\.Params"):
        probe_dns(Target(id="t", kind="dns", params={"name": "kaspi.kz"}), Deadline.after(1.0), ENV)


def test_params_reject_a_name_that_is_not_a_dns_name() -> None:
    with pytest.raises(ValidationError, match="not a DNS name"):
        Params(name="a" * 64 + ".kz", resolvers=(ResolverSpec(address="127.0.0.1"),))
