"""The egress allowlist: netwatch never connects to an address its operator did not intend.

Checked on every resolved address (and every resolver address) right before a packet is sent.
A denied address becomes a measurement with failure ``egress_denied``; it never raises.
Tests, benchmarks and the demo run with loopback only.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ENV_VAR = "NETWATCH_ALLOWED_NETWORKS"
"""Comma-separated CIDRs; when set, it replaces the config's ``allowed_networks``."""

LOOPBACK = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Allow connections only to addresses inside ``networks`` (an empty policy allows nothing)."""

    networks: tuple[IPNetwork, ...]

    @classmethod
    def from_cidrs(cls, cidrs: Iterable[str]) -> EgressPolicy:
        """Raises ``ValueError`` naming the bad entry."""
        networks = []
        for cidr in cidrs:
            try:
                networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"not a network: {cidr!r} ({exc})") from None
        return cls(tuple(networks))

    @classmethod
    def loopback(cls) -> EgressPolicy:
        return cls.from_cidrs(LOOPBACK)

    @classmethod
    def from_config(cls, cidrs: Iterable[str], environ: dict[str, str] | None = None) -> EgressPolicy:
        """The config's list, unless ``NETWATCH_ALLOWED_NETWORKS`` overrides it."""
        override = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
        if override:
            return cls.from_cidrs(part for part in override.split(",") if part.strip())
        return cls.from_cidrs(cidrs)

    def allows(self, address: str | IPAddress) -> bool:
        """True when ``address`` (an IP literal) lies in an allowed network; False for non-IPs."""
        try:
            ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:a.b.c.d must obey the IPv4 rules, not slip past them
        return any(ip.version == net.version and ip in net for net in self.networks)

    def describe(self) -> str:
        return ", ".join(str(net) for net in self.networks) or "(nothing)"
