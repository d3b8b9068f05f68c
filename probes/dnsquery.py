"""One DNS question to one named resolver, bounded by the probe's deadline.

Shared by the ``dns`` probe (which compares several resolvers) and by the probes that must
resolve a host first (``http``, ``tcp``): DNS goes through dnspython to the resolver the target
names, never through the machine's configured resolver, so DNS and transport failures stay
separate (as OONI does).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
from pydantic import BaseModel, ConfigDict, Field, field_validator

from netwatch.deadline import Deadline
from netwatch.failures import Failure, Phase, classify, is_network_error
from probes.env import ProbeEnv

RecordType = Literal["A", "AAAA", "NS", "SOA"]

_RCODE_FAILURE = {
    dns.rcode.NXDOMAIN: Failure.DNS_NXDOMAIN,
    dns.rcode.SERVFAIL: Failure.DNS_SERVFAIL,
    dns.rcode.REFUSED: Failure.DNS_REFUSED,
}


class ResolverSpec(BaseModel):
    """A resolver to ask: an IP literal, a port, and a free label shown in evidence
    (``isp``, ``public``, ``authoritative`` ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str
    port: int = Field(default=53, ge=1, le=65535)
    label: str = ""

    @field_validator("address")
    @classmethod
    def _must_be_ip(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(f"resolver address must be an IP address, got {value!r}") from None

    @property
    def endpoint(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class QueryResult:
    """What one resolver said. ``failure`` is None when it answered NOERROR with records of the
    asked type. ``answers`` are presentation-format rdata strings, sorted."""

    resolver: str
    label: str
    qtype: str
    failure: Failure | None
    rcode: str | None = None
    answers: tuple[str, ...] = ()
    transport: str = "udp"
    duration_s: float = 0.0
    detail: str = ""  # human-readable error text for evidence; never a metric label

    def to_evidence(self) -> dict[str, Any]:
        return {
            "resolver": self.resolver,
            "label": self.label,
            "qtype": self.qtype,
            "rcode": self.rcode,
            "answers": list(self.answers),
            "transport": self.transport,
            "duration_s": round(self.duration_s, 6),
            "failure": self.failure.value if self.failure else None,
            **({"detail": self.detail} if self.detail else {}),
        }


@dataclass(slots=True)
class _Attempt:
    transport: str = "udp"
    started: float = field(default_factory=time.monotonic)


def query(
    name: str,
    qtype: RecordType,
    resolver: ResolverSpec,
    deadline: Deadline,
    env: ProbeEnv,
    *,
    force_tcp: bool = False,
) -> QueryResult:
    """Ask ``resolver`` for ``name``/``qtype`` over UDP (TCP if truncated or ``force_tcp``).

    Never raises for network trouble: timeouts, rcodes, refusals and egress denials come back as
    a ``QueryResult`` with ``failure`` set. Bugs propagate.
    """
    attempt = _Attempt()

    def result(failure: Failure | None, **kwargs: Any) -> QueryResult:
        return QueryResult(
            resolver=resolver.endpoint,
            label=resolver.label,
            qtype=qtype,
            failure=failure,
            transport=attempt.transport,
            duration_s=time.monotonic() - attempt.started,
            **kwargs,
        )

    if not env.egress.allows(resolver.address):
        return result(Failure.EGRESS_DENIED, detail=f"resolver {resolver.address} not in allowlist")
    request = dns.message.make_query(name, qtype)
    request.flags |= dns.flags.RD
    try:
        if force_tcp:
            attempt.transport = "tcp"
            response = dns.query.tcp(
                request, resolver.address, timeout=deadline.remaining(), port=resolver.port
            )
        else:
            response = dns.query.udp(
                request, resolver.address, timeout=deadline.remaining(), port=resolver.port
            )
            if response.flags & dns.flags.TC:
                attempt.transport = "tcp"
                response = dns.query.tcp(
                    request, resolver.address, timeout=deadline.remaining(), port=resolver.port
                )
    except Exception as exc:
        if not is_network_error(exc):
            raise
        return result(classify(exc, Phase.DNS), detail=f"{type(exc).__name__}: {exc}")

    rcode = response.rcode()
    rcode_text = dns.rcode.to_text(rcode)
    if rcode != dns.rcode.NOERROR:
        return result(_RCODE_FAILURE.get(rcode, Failure.DNS_ERROR), rcode=rcode_text)
    wanted = dns.rdatatype.from_text(qtype)
    answers = sorted(
        rdata.to_text() for rrset in response.answer if rrset.rdtype == wanted for rdata in rrset
    )
    if not answers:
        return result(Failure.DNS_NO_ANSWER, rcode=rcode_text)
    return result(None, rcode=rcode_text, answers=tuple(answers))
