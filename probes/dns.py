"""The ``dns`` probe: ask each of the target's resolvers and compare their answers.

One measurement asks every resolver (an ISP resolver, a public one, the authoritative server ...)
every record type, so a resolver that lies or fails shows up next to the ones that do not.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import time
from collections import Counter
from typing import Any

import dns.exception
import dns.name
from pydantic import BaseModel, ConfigDict, Field, field_validator

from netwatch.deadline import Deadline
from netwatch.model import Failure, Outcome, Target
from probes.dnsquery import QueryResult, RecordType, ResolverSpec, query
from probes.env import ProbeEnv

_ADDRESS_TYPES = frozenset({"A", "AAAA"})


class Params(BaseModel):
    """``name``: the name to query; ``qtypes``: record types asked of every resolver;
    ``resolvers``: who to ask (an ISP resolver, a public one, the authoritative server ...);
    ``expected``: if given, answers outside this set are ``dns_unexpected_answer`` (IPv4
    literals are checked against A answers, IPv6 literals against AAAA, names against NS; a
    record type with no entry of its kind, and SOA, is not checked); ``tcp``: query over TCP from
    the start."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    qtypes: tuple[RecordType, ...] = ("A",)
    resolvers: tuple[ResolverSpec, ...] = Field(min_length=1)
    expected: tuple[str, ...] = ()
    tcp: bool = False

    @field_validator("name")
    @classmethod
    def _must_be_dns_name(cls, value: str) -> str:
        try:
            dns.name.from_text(value)
        except dns.exception.DNSException as exc:
            raise ValueError(f"not a DNS name: {value!r} ({exc})") from None
        return value


def probe_dns(target: Target, deadline: Deadline, env: ProbeEnv) -> Outcome:
    """Ask every resolver of ``target`` for every qtype, within ``deadline``.

    Queries run one after another, resolver by resolver; each gets an equal share of the time
    left (``left / queries still to run``), and time a fast query does not use passes on, so a
    resolver that never answers costs its share and no more, and every query is recorded even
    when the deadline runs out (as ``dns_timeout``).

    A query fails with what ``probes.dnsquery.query`` reports, or, when it got answers, with
    ``dns_bogon_answer`` if an A/AAAA answer is a bogon for ``env`` (tampering; checked first),
    else ``dns_unexpected_answer`` if an answer lies outside ``params.expected``.

    Outcome: any query that saw a bogon → ``dns_bogon_answer`` even if other resolvers answered
    cleanly (tampering by the resolver a subscriber uses is the finding, and it must show in
    ``netwatch_probe_success``, not hide in evidence; ``partial`` then says others were fine);
    otherwise every query ok → success; some ok → success with ``partial=True``; none ok → the
    most common query failure, ties going to the one that came first in resolver order.

    Phases: ``resolve`` = seconds spent on all queries. Evidence: ``name``; ``queries`` (one
    ``QueryResult.to_evidence()`` each, resolver by resolver, qtypes in order); ``agreed``, true when every
    resolver that returned records returned the same set for each qtype (bogon and unexpected
    answers included: that disagreement is the point); ``answer_sets``: per qtype, each distinct
    answer set with the resolvers that gave it.
    """
    params = target.params
    if not isinstance(params, Params):
        raise TypeError(f"dns target {target.id!r} has {type(params).__name__} params, not dns.Params")
    started = time.monotonic()
    plan = [(resolver, qtype) for resolver in params.resolvers for qtype in params.qtypes]
    results: list[QueryResult] = []
    for index, (resolver, qtype) in enumerate(plan):
        now = deadline.clock()
        share = Deadline(now + (deadline.expires_at - now) / (len(plan) - index), deadline.clock)
        result = query(params.name, qtype, resolver, share, env, force_tcp=params.tcp)
        results.append(_judge(result, params.expected, env))
    failures = [result.failure for result in results if result.failure is not None]
    answer_sets = _answer_sets(results)
    tampered = Failure.DNS_BOGON_ANSWER in failures
    return Outcome(
        failure=_overall_failure(failures) if tampered or len(failures) == len(results) else None,
        partial=0 < len(failures) < len(results),
        phases={"resolve": time.monotonic() - started},
        evidence={
            "name": params.name,
            "queries": [result.to_evidence() for result in results],
            "agreed": all(len(sets) <= 1 for sets in answer_sets.values()),
            "answer_sets": answer_sets,
        },
    )


def _judge(result: QueryResult, expected: tuple[str, ...], env: ProbeEnv) -> QueryResult:
    """Turn a query that got answers into a failure when the answers show tampering."""
    if result.failure is not None:
        return result
    if result.qtype in _ADDRESS_TYPES:
        bogons = [answer for answer in result.answers if env.is_bogon(answer)]
        if bogons:
            return dataclasses.replace(
                result, failure=Failure.DNS_BOGON_ANSWER, detail=f"bogon answers: {', '.join(bogons)}"
            )
    allowed = _expected_for(result.qtype, expected)
    if allowed is not None:
        outside = [answer for answer in result.answers if _normalise(answer) not in allowed]
        if outside:
            return dataclasses.replace(
                result,
                failure=Failure.DNS_UNEXPECTED_ANSWER,
                detail=f"answers not expected: {', '.join(outside)}",
            )
    return result


def _expected_for(qtype: str, expected: tuple[str, ...]) -> frozenset[str] | None:
    """The normalised expected values that apply to ``qtype``; None when nothing does."""
    if qtype == "SOA":
        return None
    wanted = {"A": 4, "AAAA": 6}.get(qtype, 0)  # 0: host names, for NS
    values = frozenset(_normalise(value) for value in expected if _ip_version(value) == wanted)
    return values or None


def _ip_version(value: str) -> int:
    try:
        return ipaddress.ip_address(value).version
    except ValueError:
        return 0


def _normalise(value: str) -> str:
    """One spelling per value: compressed IP literals, lower-case absolute names."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value.lower().rstrip(".") + "."


def _overall_failure(failures: list[Failure]) -> Failure:
    if Failure.DNS_BOGON_ANSWER in failures:
        return Failure.DNS_BOGON_ANSWER
    counts = Counter(failures)
    # Counter keeps first-seen order and max() returns the first maximum: ties go to resolver order.
    return max(counts, key=counts.__getitem__)


def _answer_sets(results: list[QueryResult]) -> dict[str, list[dict[str, Any]]]:
    """Per qtype, each distinct answer set and the resolvers that returned it (in order seen)."""
    by_qtype: dict[str, dict[tuple[str, ...], list[str]]] = {}
    for result in results:
        if result.answers:
            sets = by_qtype.setdefault(result.qtype, {})
            sets.setdefault(result.answers, []).append(result.resolver)
    return {
        qtype: [{"answers": list(answers), "resolvers": who} for answers, who in sets.items()]
        for qtype, sets in by_qtype.items()
    }
