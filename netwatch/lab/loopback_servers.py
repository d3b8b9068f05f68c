"""The real servers behind the loopback lab's relay: sites, resolvers, authoritative servers, censor.

Every server listens on an ephemeral port of an *origin* address, ``127.66.<index>.<host>`` (the
topology's ``10.66.<index>.<host>`` moved into loopback); probes never see these, only the relay's
per-vantage addresses (``netwatch.lab.loopback_backend``). Sites are shared by every vantage; DNS
servers exist once per vantage, because their answers carry that vantage's addresses.

The censor (``127.66.0.10``, the namespace backend's censor address) serves a block page over
HTTP, resets HTTPS, and presents rogue-root certificates for every site (TLS interception).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from contextlib import ExitStack

from netwatch.lab.dns_server import DnsFault, DnsServer
from netwatch.lab.loopback_paths import DNS_PORT, HTTP_PORT, HTTPS_PORT, Endpoint, Steer
from netwatch.lab.pki import Issuer, LabPKI
from netwatch.lab.server_host import BIG_BODY, BIG_PATH
from netwatch.lab.topology import CENSOR_ADDRESS, LAB_RANGE, Topology
from netwatch.lab.web_server import Blockpage, Ok, Reset, WebServer

ORIGIN_OCTET = 66
_BINARY = "application/octet-stream"


def move(lab_address: str, second_octet: int) -> str:
    """``10.66.i.h`` -> ``127.<second_octet>.i.h``."""
    if ipaddress.ip_address(lab_address) not in LAB_RANGE:
        raise ValueError(f"{lab_address} is not a lab address")
    _, _, index, host = lab_address.split(".")
    return f"127.{second_octet}.{index}.{host}"


class Origins:
    """Start every server on ``start``; ``stop`` stops them all (idempotent). ``upstream(view,
    endpoint, steer)`` is the ``(address, port)`` a relayed connection goes to: the censor's
    server for ``steer``, else the endpoint's own server (for DNS, ``view``'s instance).
    ``records_for(view)`` gives the DNS records of that view (A records moved to its addresses).
    """

    def __init__(self, topology: Topology, pki: LabPKI, views: Mapping[str, Callable[[str], str]]) -> None:
        self.topology = topology
        self._pki = pki
        self._views = views  # view id -> lab address mover
        self._stack = ExitStack()
        self._servers: dict[tuple[str, Endpoint], tuple[str, int]] = {}  # (view or "", endpoint) -> origin
        self._censor: dict[Steer, tuple[str, int]] = {}
        self.resolvers: dict[str, list[DnsServer]] = {}  # network id -> one resolver per view

    def start(self) -> Origins:
        try:
            self._start_sites()
            self._start_censor()
            for view, mover in self._views.items():
                self._start_dns(view, mover)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stack.close()

    def upstream(self, view: str, endpoint: Endpoint, steer: Steer) -> tuple[str, int]:
        if steer is not Steer.ORIGIN:
            return self._censor[steer]
        return self._servers[("" if endpoint[1] != DNS_PORT else view, endpoint)]

    def set_dns_faults(self, faults: dict[str, list[tuple[str, str | None]]]) -> None:
        """Replace every resolver's faults: per network id, ``(mode, name or None)``."""
        for net_id, servers in self.resolvers.items():
            for server in servers:
                server.clear_faults()
                for mode, name in faults.get(net_id, []):
                    server.set_fault(DnsFault(mode), name)

    def _start_sites(self) -> None:
        for site in self.topology.sites:
            lab_address = self.topology.site_address(site)
            page = Ok(body=f"<html><body><h1>{site.host}</h1><p>netwatch lab site</p></body></html>".encode())
            for port, tls in ((HTTP_PORT, None), (HTTPS_PORT, self._pki.server_context([site.host]))):
                server = WebServer(move(lab_address, ORIGIN_OCTET), tls=tls, default=page)
                server.set_behaviour(Ok(body=BIG_BODY, content_type=_BINARY), path=BIG_PATH)
                self._stack.enter_context(server)
                self._servers[("", (lab_address, port))] = (server.host, server.port)

    def _start_censor(self) -> None:
        address = move(CENSOR_ADDRESS, ORIGIN_OCTET)
        hosts = [site.host for site in self.topology.sites]
        mitm = WebServer(address, tls=self._pki.server_context(hosts[:1], Issuer.ROGUE))
        for host in hosts:
            mitm.set_certificate(host, self._pki.server_context([host], Issuer.ROGUE))
        servers = {Steer.BLOCKPAGE: WebServer(address, default=Blockpage()),
                   Steer.RESET: WebServer(address, default=Reset()), Steer.MITM: mitm}
        for steer, server in servers.items():
            self._stack.enter_context(server)
            self._censor[steer] = (server.host, server.port)

    def _start_dns(self, view: str, mover: Callable[[str], str]) -> None:
        for net in self.topology.networks:
            for lab_address, zones in ((net.resolver_address, None), (net.authoritative_address, net.zones)):
                if lab_address is None:
                    continue
                records = {key: [mover(v) if key[1] == "A" else v for v in values]
                           for key, values in self.topology.records(zones).items()}
                server = self._stack.enter_context(DnsServer(records, host=move(lab_address, ORIGIN_OCTET)))
                self._servers[(view, (lab_address, DNS_PORT))] = (server.address, server.port)
                if zones is None:
                    self.resolvers.setdefault(net.id, []).append(server)

