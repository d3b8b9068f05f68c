"""What every probe needs from the agent's configuration, passed in (never read from globals)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from netwatch.egress import EgressPolicy, IPAddress, IPNetwork


@dataclass(frozen=True, slots=True)
class BlockpageFingerprint:
    """A known block page. It matches a response when every given condition holds.

    ``body_sha256``: hex SHA-256 of the whole (capped) body; ``body_contains``: a substring of the
    body decoded as UTF-8 with replacement; ``status``: the HTTP status; ``header``/``header_contains``:
    a response header name whose value contains the given text (case-insensitive name).
    """

    name: str
    body_sha256: str | None = None
    body_contains: str | None = None
    status: int | None = None
    header: str | None = None
    header_contains: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeEnv:
    """Agent-wide probing settings.

    ``egress``: where probes may connect. ``ca_file``: PEM trust anchors for HTTPS instead of the
    system store (tests and the lab use their own CA). ``blockpage_addresses``: DNS answers that
    point at a known block page. ``bogon_exempt``: private/loopback networks that are legitimate
    answers here (the lab's own range), so they are not reported as ``dns_bogon_answer``.
    """

    egress: EgressPolicy
    ca_file: str | None = None
    blockpage_addresses: frozenset[IPAddress] = frozenset()
    blockpage_fingerprints: tuple[BlockpageFingerprint, ...] = ()
    bogon_exempt: tuple[IPNetwork, ...] = ()
    user_agent: str = "netwatch/0.1 (+https://github.com/netwatch/netwatch)"

    def is_bogon(self, address: str) -> bool:
        """True when a DNS answer cannot be the real address of a public service.

        Unspecified (0.0.0.0, ::), private, loopback, link-local, multicast or reserved addresses,
        and known block-page addresses, unless the address lies in ``bogon_exempt``.
        """
        ip = ipaddress.ip_address(address)
        if ip in self.blockpage_addresses:
            return True
        if any(ip.version == net.version and ip in net for net in self.bogon_exempt):
            return False
        return (
            ip.is_unspecified
            or ip.is_private
            or ip.is_loopback
            or ip.is_link_local
            or ip.is_multicast
            or ip.is_reserved
        )


def loopback_env(ca_file: str | None = None) -> ProbeEnv:
    """The environment of tests, benchmarks and the demo: connect to loopback only, and accept
    loopback answers as legitimate (the stand-in services live there)."""
    loopback = EgressPolicy.loopback()
    return ProbeEnv(egress=loopback, ca_file=ca_file, bogon_exempt=loopback.networks)
