"""Value types shared by every part of netwatch. No I/O, no project imports.

Times: every ``datetime`` here is timezone-aware UTC. Durations are seconds (``float``) measured
on the monotonic clock. Everything is immutable; evidence mappings hold only JSON-serialisable
values so a measurement can be written to JSON Lines or SQLite and read back unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
    (``resolve``, ``connect``, ``tls``, ``first_byte``, ``transfer``) to seconds, in the order run;
    on a failure the last one is the phase that failed, timed up to the failure. ``evidence`` holds
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

    @property
    def finished_at(self) -> datetime:
        """When the probe finished: ``started_at + duration_s`` (the detector's clock reading)."""
        return self.started_at + timedelta(seconds=self.duration_s)

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


# --- Detection value types (owned by netwatch/detect/) ---------------------------------------------


class ScopeType(StrEnum):
    """How wide an outage is. ``entity`` on an ``Outage`` names the member of that scope:

    ``country`` (ISO 3166-1 code, ``KZ``), ``region`` (ISO 3166-2, ``KZ-75``), ``asn`` (decimal AS
    number), ``network_type`` (a ``NetworkType`` value), ``category`` (catalog category), ``target``
    (a target id), ``vantage`` (a vantage id: the instrument itself, never the watched country).
    """

    COUNTRY = "country"
    REGION = "region"
    ASN = "asn"
    NETWORK_TYPE = "network_type"
    CATEGORY = "category"
    TARGET = "target"
    VANTAGE = "vantage"


class Layer(StrEnum):
    """What failed. The first nine describe the watched network; the last two are about reachability
    of the vantage itself and carry their own meaning:

    ``vantage_offline``: the vantage lost its controls (its own uplink is down); scope ``vantage``.
    It is an event about the instrument and never counts as a shutdown of the watched country.
    ``international_cut``: an inside vantage still reaches domestic targets but no control abroad:
    the country was cut from the world while its domestic network kept working; scope ``country``.
    """

    DNS = "dns"  # DNS fails while TCP to known addresses works
    DNS_TAMPERING = "dns_tampering"  # resolvers answer bogons / block-page addresses
    TCP_IP = "tcp_ip"  # connections fail (DNS may still work)
    TLS = "tls"  # TLS handshakes fail
    TLS_INTERCEPTION = "tls_interception"  # an untrusted issuer presents the certificate
    HTTP_BLOCKING = "http_blocking"  # block pages
    THROTTLING = "throttling"  # far slower than the baseline, without loss
    PARTIAL = "partial"  # a few (allow-listed) targets reachable while most are not
    BLACKOUT = "blackout"  # everything fails, DNS included
    VANTAGE_OFFLINE = "vantage_offline"
    INTERNATIONAL_CUT = "international_cut"

    @property
    def about_vantage(self) -> bool:
        """True for layers describing the instrument rather than the watched country."""
        return self is Layer.VANTAGE_OFFLINE


class TargetState(StrEnum):
    """Per (vantage, target, kind) state after hysteresis."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


def _opt_utc(moment: datetime | None) -> str | None:
    return None if moment is None else format_utc(moment)


def _opt_parse(text: str | None) -> datetime | None:
    return None if text is None else parse_utc(text)


@dataclass(frozen=True, slots=True)
class Outage:
    """One outage record: a scope that lost reachability at one layer, from when to when.

    Times are aware UTC. The truth lies in ``[start_earliest, started_at]`` for the start (the last
    good measurement before it, and the first failure observed) and in ``[end_earliest, ended_at]``
    for the end (the last failure observed, and the first good measurement after it).
    ``start_earliest`` is None only when no good measurement preceded the outage. ``ended_at`` and
    ``end_earliest`` are None while the outage is open.

    ``id`` is deterministic (scope, entity, layer, started_at), so replaying the same measurements
    reproduces it. Outages separated by short restoration windows share ``incident_id``: they are
    the episodes of one incident. ``severity`` is share lost x minutes (a 100 % loss for an hour
    is 60.0); ``fraction`` the largest share of the scope's normally reachable targets lost (0..1).
    ``evidence`` holds measurement ids (capped). ``method`` names how it was detected.
    """

    id: str
    incident_id: str
    scope_type: ScopeType
    entity: str
    layer: Layer
    started_at: datetime
    start_earliest: datetime | None
    ended_at: datetime | None = None
    end_earliest: datetime | None = None
    severity: float = 0.0
    fraction: float = 0.0
    targets_affected: int = 0
    vantages_affected: int = 0
    evidence: tuple[str, ...] = ()
    method: str = "netwatch-active-probing"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; times as ISO 8601 UTC with ``Z`` (or None)."""
        return {
            "id": self.id,
            "incident_id": self.incident_id,
            "scope_type": self.scope_type.value,
            "entity": self.entity,
            "layer": self.layer.value,
            "started_at": format_utc(self.started_at),
            "start_earliest": _opt_utc(self.start_earliest),
            "ended_at": _opt_utc(self.ended_at),
            "end_earliest": _opt_utc(self.end_earliest),
            "severity": self.severity,
            "fraction": self.fraction,
            "targets_affected": self.targets_affected,
            "vantages_affected": self.vantages_affected,
            "evidence": list(self.evidence),
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outage:
        """Inverse of ``to_dict``; raises ``KeyError``/``ValueError`` on malformed input."""
        return cls(
            id=data["id"],
            incident_id=data["incident_id"],
            scope_type=ScopeType(data["scope_type"]),
            entity=data["entity"],
            layer=Layer(data["layer"]),
            started_at=parse_utc(data["started_at"]),
            start_earliest=_opt_parse(data.get("start_earliest")),
            ended_at=_opt_parse(data.get("ended_at")),
            end_earliest=_opt_parse(data.get("end_earliest")),
            severity=float(data.get("severity", 0.0)),
            fraction=float(data.get("fraction", 0.0)),
            targets_affected=int(data.get("targets_affected", 0)),
            vantages_affected=int(data.get("vantages_affected", 0)),
            evidence=tuple(data.get("evidence", ())),
            method=str(data.get("method", "netwatch-active-probing")),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """A per (vantage, target, kind) state change after hysteresis.

    ``subject`` is ``"<vantage_id>/<target_id>/<kind>"``. ``at`` (aware UTC) is when the change was
    first observed; ``earliest`` the last measurement in the old state, so the truth lies in
    ``[earliest, at]`` (None when there was no earlier state). ``from_state`` is None for the first
    state a subject reaches. ``reason`` is a failure name, ``"slow"``, ``"partial"`` or ``"ok"``.
    ``measurement_id`` is the measurement that completed the hysteresis.
    """

    at: datetime
    subject: str
    from_state: TargetState | None
    to_state: TargetState
    reason: str
    measurement_id: str
    earliest: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": format_utc(self.at),
            "subject": self.subject,
            "from_state": None if self.from_state is None else self.from_state.value,
            "to_state": self.to_state.value,
            "reason": self.reason,
            "measurement_id": self.measurement_id,
            "earliest": _opt_utc(self.earliest),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transition:
        from_state = data.get("from_state")
        return cls(
            at=parse_utc(data["at"]),
            subject=data["subject"],
            from_state=None if from_state is None else TargetState(from_state),
            to_state=TargetState(data["to_state"]),
            reason=data["reason"],
            measurement_id=data["measurement_id"],
            earliest=_opt_parse(data.get("earliest")),
        )


class OutageChange(StrEnum):
    """What happened to an outage record in an ``OutageEvent``."""

    OPENED = "opened"
    UPDATED = "updated"  # counts, severity, evidence or vantages changed; layer revised early on
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class OutageEvent:
    """An immutable change to an outage: ``outage`` is the record as it stands after the change.

    ``at`` is the detector clock (aware UTC) when it decided; ``reason`` is a short fixed phrase
    (``"threshold crossed"``, ``"layer revised"``, ``"episode ended"``, ``"widened"``...).
    """

    at: datetime
    change: OutageChange
    outage: Outage
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": format_utc(self.at),
            "change": self.change.value,
            "outage": self.outage.to_dict(),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutageEvent:
        return cls(
            at=parse_utc(data["at"]),
            change=OutageChange(data["change"]),
            outage=Outage.from_dict(data["outage"]),
            reason=data["reason"],
        )
