"""A small synthetic Kazakhstan for detector tests: targets, a clock, and measurement rounds.

Faults are plain functions from a target to an outcome, so scenarios stay data. Each target is
probed once per ``INTERVAL`` at its own fixed offset within the round (as a jittered scheduler
would), which is what makes start/end uncertainty windows non-trivial.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from netwatch.detect import Detector, Event, Thresholds
from netwatch.model import Failure, Labels, Measurement, NetworkType, Role

T0 = datetime(2022, 1, 4, 0, 0, tzinfo=UTC)
INTERVAL = 60.0


@dataclass(frozen=True)
class Tgt:
    id: str
    kind: str
    labels: Labels


@dataclass(frozen=True)
class Result:
    failure: Failure | None = None
    duration_s: float = 0.2
    partial: bool = False


OK = Result()
Fault = Callable[[Tgt], Result | None]  # None: this fault does not touch the target


def _subject(tid: str, kind: str, region: str, network: tuple[str, str, NetworkType], cat: str) -> Tgt:
    asn, op, nt = network
    return Tgt(tid, kind, Labels("KZ", region, asn, op, nt, cat, Role.SUBJECT))


def world() -> list[Tgt]:
    """Nine subscriber-network sites (3 regions x Kcell, Beeline, Kazakhtelecom), five hosted
    sites (two news and a bank on the allow-list, two messaging apps), two resolvers, two
    controls abroad."""
    ops = [
        ("29355", "kcell", NetworkType.MOBILE),
        ("21299", "beeline", NetworkType.MOBILE),
        ("9198", "kaztelecom", NetworkType.FIXED),
    ]
    targets = [
        _subject(f"{op}-{region}", "http", region, (asn, op, nt), "telecom")
        for region in ("KZ-75", "KZ-71", "KZ-47")
        for asn, op, nt in ops
    ]
    hosting = ("48716", "pscloud", NetworkType.HOSTING)
    for tid, cat in (
        ("news-1", "news"),
        ("news-2", "news"),
        ("bank-1", "bank"),
        ("msg-1", "messaging"),
        ("msg-2", "messaging"),
    ):
        targets.append(_subject(tid, "http", "KZ-71", hosting, cat))
    targets.append(_subject("resolver-ktc", "dns", "KZ-75", ops[2], "dns-infra"))
    targets.append(_subject("resolver-kcell", "dns", "KZ-71", ops[0], "dns-infra"))
    for tid in ("control-1", "control-2"):
        targets.append(Tgt(tid, "http", Labels(role=Role.CONTROL, category="control")))
    return targets


ALLOW_LIST = {"news-1", "news-2", "bank-1"}

# Per site, how the lab and the catalog probe it: (target id suffix, probe kind).
DNS, HTTP, HTTPS, TCP = ("dns", "dns"), ("http", "http"), ("https", "http"), ("tcp", "tcp")


def abroad(targets: list[Tgt], cat: str) -> list[Tgt]:
    """``targets`` with the sites of category ``cat`` hosted abroad (no country, region, ASN or
    network type: messengers as the lab and the catalog label them)."""
    return [
        Tgt(t.id, t.kind, Labels(category=cat, role=t.labels.role)) if t.labels.category == cat else t
        for t in targets
    ]


def site_world(*probes: tuple[str, str]) -> list[Tgt]:
    """``world()`` with every web site probed several ways: ``<site>/<suffix>`` per probe (a
    DNS question for its name, plain HTTP, HTTPS, a TCP connect), as the lab and the catalog
    do. Resolvers and controls stay single targets."""
    targets: list[Tgt] = []
    for t in world():
        if t.kind == "http" and is_subject(t):
            targets.extend(Tgt(f"{t.id}/{suffix}", kind, t.labels) for suffix, kind in probes)
        else:
            targets.append(t)
    return targets


def site(t: Tgt) -> str:
    return t.id.split("/")[0]


def run(
    phases: Sequence[tuple[float, Sequence[Fault]]],
    until_s: float,
    *,
    vantage: str = "out-1",
    thresholds: Thresholds | None = None,
    detector: Detector | None = None,
    targets: Iterable[Tgt] | None = None,
) -> tuple[Detector, list[Event], list[Measurement]]:
    """Probe every target each INTERVAL from ``vantage`` until ``until_s`` seconds after T0.

    ``phases``: (start second, faults) sorted by start; the first fault answering for a target
    decides its outcome, otherwise the probe succeeds."""
    det = detector or Detector(thresholds or Thresholds())
    tlist = list(targets or world())
    events: list[Event] = []
    measurements: list[Measurement] = []
    rounds = int(until_s // INTERVAL)
    for r in range(rounds):
        for i, tgt in enumerate(tlist):
            offset = r * INTERVAL + (i + 0.5) * INTERVAL / len(tlist)
            active: Sequence[Fault] = []
            for start, faults in phases:
                if start <= offset:
                    active = faults
            result = next((res for f in active if (res := f(tgt)) is not None), OK)
            m = Measurement(
                id=f"{vantage}-{tgt.id}-{r}",
                target_id=tgt.id,
                kind=tgt.kind,
                vantage_id=vantage,
                started_at=T0 + timedelta(seconds=offset),
                duration_s=result.duration_s,
                failure=result.failure,
                partial=result.partial,
                labels=tgt.labels,
            )
            measurements.append(m)
            events.extend(det.observe(m))
    return det, events, measurements


# Faults ---------------------------------------------------------------------------------------


def is_subject(t: Tgt) -> bool:
    return t.labels.role is Role.SUBJECT


def mobile_slow(t: Tgt) -> Result | None:
    return Result(duration_s=8.0) if t.labels.network_type is NetworkType.MOBILE else None


def mobile_throttle(t: Tgt) -> Result | None:
    """256 kbit/s on mobile networks: lookups and connects slow, page loads time out."""
    if t.labels.network_type is not NetworkType.MOBILE:
        return None
    return Result(Failure.HTTP_TIMEOUT, 5.0) if t.kind == "http" else Result(duration_s=3.0)


def mobile_cut(t: Tgt) -> Result | None:
    if t.labels.network_type is not NetworkType.MOBILE:
        return None
    return Result(Failure.DNS_TIMEOUT if t.kind == "dns" else Failure.TCP_TIMEOUT, 5.0)


def national_web_cut(t: Tgt) -> Result | None:
    """5 January 2022: web traffic times out, DNS keeps answering."""
    if not is_subject(t) or t.kind == "dns":
        return None
    return Result(Failure.TCP_TIMEOUT, 5.0)


def allow_list(t: Tgt) -> Result | None:
    if not is_subject(t) or t.kind == "dns" or site(t) in ALLOW_LIST:
        return None
    return Result(Failure.TCP_TIMEOUT, 5.0)


def national_hang(t: Tgt) -> Result | None:
    """A national cut that completes TCP handshakes and then drops everything (a middlebox
    answering SYNs; the loopback lab): connects succeed, HTTPS and plain HTTP time out, DNS
    answers."""
    if not is_subject(t) or t.kind in ("dns", "tcp"):
        return None
    return Result(Failure.TLS_TIMEOUT if t.id.endswith("/https") else Failure.HTTP_TIMEOUT, 5.0)


def hang_allow_list(t: Tgt) -> Result | None:
    return None if site(t) in ALLOW_LIST else national_hang(t)


def national_tls_block(t: Tgt) -> Result | None:
    """Only TLS fails: HTTPS handshakes time out, plain HTTP and DNS work."""
    return Result(Failure.TLS_TIMEOUT, 5.0) if is_subject(t) and t.id.endswith("/https") else None


def region_cut(region: str, timeout_s: float = 5.0) -> Fault:
    """Packets to and from ``region`` dropped: each probe times out after ``timeout_s``."""

    def fault(t: Tgt) -> Result | None:
        if t.labels.region != region:
            return None
        return Result(Failure.DNS_TIMEOUT if t.kind == "dns" else Failure.TCP_TIMEOUT, timeout_s)

    return fault


def category(cat: str, failure: Failure) -> Fault:
    def fault(t: Tgt) -> Result | None:
        return Result(failure, 0.3) if t.labels.category == cat else None

    return fault


def resolver_dead(target_id: str) -> Fault:
    def fault(t: Tgt) -> Result | None:
        return Result(Failure.DNS_TIMEOUT, 5.0) if t.id == target_id else None

    return fault


def uplink_dead(t: Tgt) -> Result | None:
    return Result(Failure.TCP_TIMEOUT if t.kind != "dns" else Failure.DNS_TIMEOUT, 5.0)


def controls_abroad_cut(t: Tgt) -> Result | None:
    return Result(Failure.TCP_TIMEOUT, 5.0) if t.labels.role is Role.CONTROL else None


def probe_of(suffix: str, sites: set[str], failure: Failure) -> Fault:
    """``failure`` on the ``<site>/<suffix>`` probes of ``sites`` only (a censor targeting a
    few sites' TLS or names)."""

    def fault(t: Tgt) -> Result | None:
        return Result(failure, 0.3) if t.id.endswith(f"/{suffix}") and site(t) in sites else None

    return fault


def region_slow(region: str) -> Fault:
    """Sites in ``region`` answer, slowly (first answers after a cut: retransmitted SYNs)."""

    def fault(t: Tgt) -> Result | None:
        return Result(duration_s=8.0) if t.labels.region == region else None

    return fault
