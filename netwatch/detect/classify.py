"""Which layer failed, from the member states of a group that is out.

Rules (DESIGN.md "Detection semantics"), in order, over the failure families of the members
down (the most common family dominates; ties: see ``_PRECEDENCE``):
1. targeted interference wins when it dominates: bogon answers → ``dns_tampering``; untrusted
   issuer / wrong name → ``tls_interception``; block pages or unexpected statuses →
   ``http_blocking``; other TLS errors and TLS timeouts → ``tls``, but only when they outnumber
   every other family: a cut that lets TCP handshakes complete and then drops everything (a
   middlebox answering SYNs; the loopback lab) makes HTTPS and plain HTTP time out alike, and
   that is a connection-level cut (rules 3-4), not TLS interference;
2. DNS failures dominate: connection failures seen as well → ``blackout``; otherwise ``dns``
   (TCP to known addresses still works, or there is no evidence that it does not);
3. some member proving a service answers (http; tcp only when no http member is known: a
   completed connect does not show a site works) still reachable while the group is out →
   ``partial`` (the allow-list regime: a few sites work, most do not);
4. connection failures (tcp_*, http timeouts) dominate: DNS still answers (DNS-kind members up,
   or no DNS failure seen) → ``tcp_ip``; DNS fails as well → ``blackout``.
An HTTP probe failing at TCP proves its name resolved, which is how "DNS kept working while web
traffic timed out" (5 January 2022) reads as ``tcp_ip``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from netwatch.model import Failure, Layer

_TAMPERING = {Failure.DNS_BOGON_ANSWER, Failure.DNS_UNEXPECTED_ANSWER}
_INTERCEPTION = {Failure.TLS_UNTRUSTED_CERT, Failure.TLS_HOSTNAME_MISMATCH}
_TLS = {Failure.TLS_HANDSHAKE_ERROR, Failure.TLS_TIMEOUT}
_BLOCKING = {Failure.HTTP_BLOCKPAGE, Failure.HTTP_STATUS}
_DNS = {
    Failure.DNS_TIMEOUT,
    Failure.DNS_NXDOMAIN,
    Failure.DNS_SERVFAIL,
    Failure.DNS_REFUSED,
    Failure.DNS_NO_ANSWER,
    Failure.DNS_ERROR,
}
# Kinds whose success shows the service answered end to end (a full exchange).
EXCHANGE_KINDS = frozenset({"http", "https"})
# Kinds whose success shows only that a TCP handshake completed.
CONNECT_KINDS = frozenset({"tcp"})
DNS_KINDS = frozenset({"dns"})


class Family(Enum):
    """Probe-kind families whose losses a group judges apart: a name lookup, a connection and a
    full exchange fail for different reasons, and a loss of one must not be diluted by another
    still working (on 5 January 2022 DNS kept answering while web traffic timed out; a cut that
    completes TCP handshakes and drops what follows leaves TCP connects working)."""

    DNS = "dns"
    CONNECT = "connect"  # tcp: a handshake
    EXCHANGE = "exchange"  # http, and any other kind that completes a request


def kind_family(kind: str) -> Family:
    if kind in DNS_KINDS:
        return Family.DNS
    return Family.CONNECT if kind in CONNECT_KINDS else Family.EXCHANGE


def family(failure: Failure | None) -> Layer | None:
    """The layer a single failure points at (None: says nothing about the network)."""
    if failure is None or failure in {Failure.EGRESS_DENIED, Failure.INTERNAL_ERROR}:
        return None
    for names, layer in (
        (_TAMPERING, Layer.DNS_TAMPERING),
        (_INTERCEPTION, Layer.TLS_INTERCEPTION),
        (_TLS, Layer.TLS),
        (_BLOCKING, Layer.HTTP_BLOCKING),
        (_DNS, Layer.DNS),
    ):
        if failure in names:
            return layer
    return Layer.TCP_IP


# Ties between failure families break towards positive evidence of targeted interference (a
# bogon, a foreign certificate, a block page prove a censor), then the broader failure: per site,
# plain HTTP and HTTPS timing out alike is a connection-level cut, not TLS interference.
_PRECEDENCE = (
    Layer.DNS_TAMPERING,
    Layer.TLS_INTERCEPTION,
    Layer.HTTP_BLOCKING,
    Layer.DNS,
    Layer.TCP_IP,
    Layer.TLS,
)


def classify(families: Mapping[Layer, int], service_reachable: bool, dns_known: int, dns_down: int) -> Layer:
    """The layer of a group that is out, from counts over its known members: ``families`` counts
    the failure families (``family``) of the members down (zero counts omitted);
    ``service_reachable``: some member proving a service answers (http, or tcp when the group has
    no known http member) is up or degraded; ``dns_known`` / ``dns_down``: DNS-kind members with a
    known state / down."""
    if not families:
        return Layer.TCP_IP
    dominant = max(families, key=lambda layer: (families[layer], -_PRECEDENCE.index(layer)))
    if dominant in {Layer.DNS_TAMPERING, Layer.TLS_INTERCEPTION, Layer.TLS, Layer.HTTP_BLOCKING}:
        return dominant
    if dominant is Layer.DNS:
        # Connection failures alongside DNS ones: nothing works, not just the resolvers.
        return Layer.BLACKOUT if families.get(Layer.TCP_IP, 0) > 0 else Layer.DNS
    if service_reachable:
        return Layer.PARTIAL
    # One dead resolver among several is not "DNS fails": judge DNS by the majority.
    if dns_known:
        dns_failing = dns_down * 2 > dns_known
    else:
        dns_failing = families.get(Layer.DNS, 0) * 2 >= sum(families.values())
    return Layer.BLACKOUT if dns_failing else Layer.TCP_IP
