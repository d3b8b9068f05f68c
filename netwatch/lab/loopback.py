"""The loopback backend: simulated Kazakh sites as real servers on their own 127.x addresses.

Every site gets its own loopback address with a real HTTPS server (certificate from the lab CA,
for the site's name), and one real DNS server answers for all of them, as an operator's resolver
would. Faults are the servers misbehaving on cue: no root, no namespaces, no traffic beyond
127.0.0.0/8. What loopback cannot do is drop packets, so a "cut" site accepts connections and
never answers (probes see timeouts, as behind a silent drop, at the TLS rather than TCP phase).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from netwatch.lab.dns_server import DnsFault, DnsServer
from netwatch.lab.pki import Issuer, LabPKI
from netwatch.lab.web_behaviours import Blockpage, Hang, Ok
from netwatch.lab.web_server import WebServer
from netwatch.model import Labels, Target
from probes import dns as dns_probe
from probes import http as http_probe
from probes.dnsquery import ResolverSpec


@dataclass(frozen=True, slots=True)
class Site:
    """A simulated service: its DNS ``host`` name, the loopback ``address`` it lives on, labels."""

    host: str
    address: str
    labels: Labels


class LoopbackWorld:
    """Start/stop the servers for ``sites`` and make them misbehave.

    ``resolver_address`` is where the shared DNS server listens (ephemeral port). ``workdir``
    receives the lab CA file probes must trust (``ca_file``). Fault methods take effect on the
    next request and are idempotent; ``restore`` undoes every fault of a host.
    """

    def __init__(self, sites: Sequence[Site], workdir: Path, resolver_address: str = "127.0.53.1") -> None:
        self.sites = tuple(sites)
        self._pki = LabPKI()
        self.ca_file = self._pki.write_ca_file(workdir / "lab-ca.pem")
        records = {(f"{site.host}.", "A"): [site.address] for site in self.sites}
        self.dns = DnsServer(records, host=resolver_address)
        self._trusted = {site.host: self._pki.server_context([site.host]) for site in self.sites}
        self._rogue = {site.host: self._pki.server_context([site.host], Issuer.ROGUE) for site in self.sites}
        self._web = {site.host: WebServer(site.address, tls=self._trusted[site.host]) for site in self.sites}

    def __enter__(self) -> LoopbackWorld:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> LoopbackWorld:
        self.dns.start()
        for server in self._web.values():
            server.start()
        return self

    def stop(self) -> None:
        for server in self._web.values():
            server.stop()
        self.dns.stop()

    @property
    def resolver(self) -> ResolverSpec:
        return ResolverSpec(address=self.dns.address, port=self.dns.port, label="operator")

    def url(self, host: str) -> str:
        return self._web[host].url("/", host=host)

    # -- faults -----------------------------------------------------------------------------------

    def cut(self, hosts: Iterable[str]) -> None:
        """Silent-drop stand-in: connections are accepted and never answered."""
        for host in hosts:
            self._web[host].set_behaviour(Hang())

    def block(self, hosts: Iterable[str]) -> None:
        """Serve a block page instead of the site."""
        for host in hosts:
            self._web[host].set_behaviour(Blockpage(), host=host)

    def tamper_dns(self, hosts: Iterable[str]) -> None:
        """The resolver answers 0.0.0.0 for these names."""
        for host in hosts:
            self.dns.set_fault(DnsFault.BOGON, f"{host}.")

    def intercept_tls(self, hosts: Iterable[str]) -> None:
        """Present a certificate from the rogue root (TLS interception)."""
        for host in hosts:
            self._web[host].set_certificate(host, self._rogue[host])

    def restore(self, hosts: Iterable[str]) -> None:
        """Undo every fault of these hosts."""
        for host in hosts:
            web = self._web[host]
            web.clear_behaviours(Ok())
            web.set_certificate(host, self._trusted[host])
            self.dns.set_fault(DnsFault.ANSWER, f"{host}.")

    def restore_all(self) -> None:
        self.restore(site.host for site in self.sites)

    # -- what to probe ----------------------------------------------------------------------------

    def targets(self, interval_s: float, timeout_s: float) -> list[Target]:
        """A ``dns`` and an ``http`` (HTTPS) target per site, through the world's resolver."""
        resolvers = (self.resolver,)
        targets: list[Target] = []
        for site in self.sites:
            probes = (
                ("dns", "dns", dns_probe.Params(name=f"{site.host}.", resolvers=resolvers)),
                ("https", "http", http_probe.Params(url=self.url(site.host), resolvers=resolvers)),
            )
            targets.extend(
                Target(f"{site.host}/{suffix}", kind, params, site.labels, interval_s, timeout_s)
                for suffix, kind, params in probes
            )
        return targets

