"""Which layer failed, from the member states of a group that is out.

Rules (DESIGN.md "Detection semantics"), in order:
1. targeted interference wins when it dominates the failures of the lost members: bogon answers
   → ``dns_tampering``; untrusted issuer / wrong name → ``tls_interception``; other TLS errors →
   ``tls``; block pages or unexpected statuses → ``http_blocking``;
2. DNS failures dominate: connection failures seen as well → ``blackout``; otherwise ``dns``
   (TCP to known addresses still works, or there is no evidence that it does not);
3. some members of connection-level kinds (http, tcp) still reachable while the group is out →
   ``partial`` (the allow-list regime: a few sites work, most do not);
4. connection failures (tcp_*, http timeouts) dominate: DNS still answers (DNS-kind members up,
   or no DNS failure seen) → ``tcp_ip``; DNS fails as well → ``blackout``.
An HTTP probe failing at TCP proves its name resolved, which is how "DNS kept working while web
traffic timed out" (5 January 2022) reads as ``tcp_ip``.
"""

from __future__ import annotations

from collections.abc import Mapping

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
# Kinds whose success proves a connection to the target (not merely a name lookup).
CONNECTION_KINDS = frozenset({"http", "https", "tcp"})
DNS_KINDS = frozenset({"dns"})


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


def classify(
    families: Mapping[Layer, int], connection_reachable: bool, dns_known: int, dns_down: int
) -> Layer:
    """The layer of a group that is out, from counts over its known members: ``families`` counts
    the failure families (``family``) of the members down (zero counts omitted);
    ``connection_reachable``: some member of a connection kind is up or degraded; ``dns_known`` /
    ``dns_down``: DNS-kind members with a known state / down."""
    if not families:
        return Layer.TCP_IP
    # Ties break towards the more specific, targeted layer (enum order lists those first).
    order = list(Layer)
    dominant = max(families, key=lambda layer: (families[layer], -order.index(layer)))
    if dominant in {Layer.DNS_TAMPERING, Layer.TLS_INTERCEPTION, Layer.TLS, Layer.HTTP_BLOCKING}:
        return dominant
    if dominant is Layer.DNS:
        # Connection failures alongside DNS ones: nothing works, not just the resolvers.
        return Layer.BLACKOUT if families.get(Layer.TCP_IP, 0) > 0 else Layer.DNS
    if connection_reachable:
        return Layer.PARTIAL
    # One dead resolver among several is not "DNS fails": judge DNS by the majority.
    if dns_known:
        dns_failing = dns_down * 2 > dns_known
    else:
        dns_failing = families.get(Layer.DNS, 0) * 2 >= sum(families.values())
    return Layer.BLACKOUT if dns_failing else Layer.TCP_IP
