"""Value types shared by every part of netwatch. No I/O, no project imports.

Times: every ``datetime`` here is timezone-aware UTC. Durations are seconds (``float``) measured
on the monotonic clock. Everything is immutable; evidence mappings hold only JSON-serialisable
values so a measurement can be written to JSON Lines or SQLite and read back unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Failure(StrEnum):
    """The closed failure vocabulary: every failed measurement names exactly one of these.

    Extend deliberately (and add a test that produces the new name); never use free text.
    Metric label values come from here, so the set must stay small and bounded.
    """

    DNS_TIMEOUT = "dns_timeout"
    DNS_NXDOMAIN = "dns_nxdomain"
    DNS_SERVFAIL = "dns_servfail"
    DNS_REFUSED = "dns_refused"
    DNS_NO_ANSWER = "dns_no_answer"  # NOERROR but no record of the asked type (NODATA)
    DNS_BOGON_ANSWER = "dns_bogon_answer"  # 0.0.0.0, private, loopback or a known block-page address
    DNS_UNEXPECTED_ANSWER = "dns_unexpected_answer"  # answers outside the target's expected set
    DNS_ERROR = "dns_error"  # malformed reply, other rcodes, socket errors talking to the resolver
    TCP_REFUSED = "tcp_refused"
    TCP_TIMEOUT = "tcp_timeout"
    TCP_UNREACHABLE = "tcp_unreachable"
    TCP_RESET = "tcp_reset"  # connection reset after it was established (a middlebox RST)
    TLS_HANDSHAKE_ERROR = "tls_handshake_error"
    TLS_UNTRUSTED_CERT = "tls_untrusted_cert"
    TLS_HOSTNAME_MISMATCH = "tls_hostname_mismatch"
    TLS_TIMEOUT = "tls_timeout"
    HTTP_TIMEOUT = "http_timeout"
    HTTP_STATUS = "http_status"
    HTTP_BLOCKPAGE = "http_blockpage"
    HTTP_BODY_TOO_LARGE = "http_body_too_large"
    HTTP_TOO_MANY_REDIRECTS = "http_too_many_redirects"
    HTTP_PROTOCOL_ERROR = "http_protocol_error"
    EGRESS_DENIED = "egress_denied"
    INTERNAL_ERROR = "internal_error"


class Role(StrEnum):
    """Why a target is probed.

    ``subject`` is what we watch; ``control`` tells whether the vantage itself is online.
    """

    SUBJECT = "subject"
    CONTROL = "control"


class Position(StrEnum):
    """Where a vantage sits relative to the watched country."""

    INSIDE = "inside"
    OUTSIDE = "outside"


class NetworkType(StrEnum):
    MOBILE = "mobile"
    FIXED = "fixed"
    HOSTING = "hosting"
    IXP = "ixp"
    STATE = "state"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Labels:
    """Descriptive labels of a target; every value comes from config, never from the network.

    ``region`` is an ISO 3166-2 code (``KZ-75``) or ``""`` when the target is national;
    ``asn`` is the origin AS number as a decimal string, ``""`` when unknown.
    """

    country: str = ""
    region: str = ""
    asn: str = ""
    operator: str = ""
    network_type: NetworkType = NetworkType.UNKNOWN
    category: str = ""
    role: Role = Role.SUBJECT

    def as_dict(self) -> dict[str, str]:
        return {
            "country": self.country,
            "region": self.region,
            "asn": self.asn,
            "operator": self.operator,
            "network_type": self.network_type.value,
            "category": self.category,
            "role": self.role.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> Labels:
        return cls(
            country=data.get("country", ""),
            region=data.get("region", ""),
            asn=data.get("asn", ""),
            operator=data.get("operator", ""),
            network_type=NetworkType(data.get("network_type", NetworkType.UNKNOWN.value)),
            category=data.get("category", ""),
            role=Role(data.get("role", Role.SUBJECT.value)),
        )


@dataclass(frozen=True, slots=True)
class Target:
    """One thing to probe with one probe kind.

    ``params`` is the kind's own frozen parameter object (``probes.<kind>.Params``), validated at
    config load. ``interval_s`` is the probe period in seconds; ``timeout_s`` the probe's total
    deadline in seconds (every phase included). ``id`` is unique per agent and is the ``target``
    metric label.
    """

    id: str
    kind: str
    params: Any
    labels: Labels = field(default_factory=Labels)
    interval_s: float = 60.0
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Vantage:
    """The running agent: ``id`` names it in stored measurements and exports."""

    id: str
    position: Position


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a probe measured. ``failure is None`` means success.

    ``partial`` is set when the probe succeeded through some of several resolvers or addresses while
    others failed (the detector reads it as "degraded"). ``phases`` maps a phase name
    (``resolve``, ``connect``, ``tls``, ``first_byte``, ``transfer``) to seconds. ``evidence`` holds
    JSON-serialisable facts: answers, rcodes, resolver used, status, certificate fingerprints, body
    hash, addresses connected to.
    """

    failure: Failure | None
    phases: Mapping[str, float] = field(default_factory=dict)
    evidence: Mapping[str, Any] = field(default_factory=dict)
    partial: bool = False

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True, slots=True)
class Measurement:
    """The runner's envelope around an ``Outcome``: the raw evidence everything else derives from.

    ``id`` is unique and stable (used as an evidence reference). ``started_at`` is aware UTC;
    ``duration_s`` is monotonic seconds. ``labels`` is a snapshot of the target's labels when it was
    probed, so a stored history stays self-describing after the catalog changes.
    """

    id: str
    target_id: str
    kind: str
    vantage_id: str
    started_at: datetime
    duration_s: float
    failure: Failure | None
    phases: Mapping[str, float] = field(default_factory=dict)
    evidence: Mapping[str, Any] = field(default_factory=dict)
    partial: bool = False
    labels: Labels = field(default_factory=Labels)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``started_at`` as ISO 8601 UTC with a ``Z`` suffix."""
        return {
            "id": self.id,
            "target_id": self.target_id,
            "kind": self.kind,
            "vantage_id": self.vantage_id,
            "started_at": format_utc(self.started_at),
            "duration_s": self.duration_s,
            "failure": self.failure.value if self.failure else None,
            "partial": self.partial,
            "phases": dict(self.phases),
            "evidence": dict(self.evidence),
            "labels": self.labels.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """Inverse of ``to_dict``; raises ``KeyError``/``ValueError`` on malformed input."""
        failure = data["failure"]
        return cls(
            id=data["id"],
            target_id=data["target_id"],
            kind=data["kind"],
            vantage_id=data["vantage_id"],
            started_at=parse_utc(data["started_at"]),
            duration_s=float(data["duration_s"]),
            failure=Failure(failure) if failure else None,
            partial=bool(data.get("partial", False)),
            phases=dict(data.get("phases", {})),
            evidence=dict(data.get("evidence", {})),
            labels=Labels.from_dict(data.get("labels", {})),
        )


def format_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix and microseconds, e.g. ``2022-01-05T10:30:00.000000Z``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: netwatch stores aware UTC times only")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    """Parse an ISO 8601 time with an explicit offset or ``Z`` into an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time without a zone: {text!r}")
    return moment.astimezone(UTC)
