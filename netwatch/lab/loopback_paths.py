"""What a set of active faults does to each path of the loopback lab (pure: no sockets, no time).

The namespace backend drops, delays and redirects packets in routers; the loopback backend has no
routers, so it asks, for every *path* — from a vantage's network to one endpoint (a site's HTTP or
HTTPS port, a resolver, an authoritative server) — what a packet on it would suffer, and its relay
(``netwatch.lab.loopback_relay``) acts that out. Endpoints are named by their lab address and
service port (``("10.66.20.101", 443)``), the same names the namespace backend uses.

A path from vantage network V to endpoint network N crosses the national ``core`` when either end
is domestic, and the international gateway when exactly one is; that decides which faults touch it:

- ``cut``: the path is dead when N (or the endpoint's site) is selected, or V is (by ``networks``);
  ``spare_dns`` spares port 53;
- ``gateway_cut``: dead when it crosses the gateway;
- ``vantage_offline``: every path from that vantage's network is dead;
- ``allow_list``: dead when it crosses the core and the endpoint is not an allowed site (port 53
  spared with ``keep_dns``);
- ``loss`` / ``throttle``: loss probability, added delay and the rate limit of N, where selected;
- ``http_block`` / ``tls_intercept``: for inside clients (domestic access and vantage networks) a
  selected site's connections are steered to the censor (``Steer``);
- ``dns``: not a path matter; ``dns_faults`` lists what each resolver must answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from netwatch.lab.scenario_faults import (
    AllowList,
    Cut,
    DnsTamper,
    Fault,
    GatewayCut,
    HttpBlock,
    Loss,
    Select,
    Throttle,
    TlsIntercept,
    VantageOffline,
)
from netwatch.lab.topology import DOMESTIC, NetKind, Network, Site, Topology

DNS_PORT = 53
HTTP_PORT = 80
HTTPS_PORT = 443

Endpoint = tuple[str, int]
"""A lab address (``10.66.i.h``) and a service port: 53 (DNS, UDP and TCP), 80 or 443."""


class Steer(StrEnum):
    """Where a connection is sent: the real server, or one of the censor's servers."""

    ORIGIN = "origin"
    BLOCKPAGE = "blockpage"  # HTTP to a blocked site: the block page
    RESET = "reset"  # HTTPS to a blocked site: reset
    MITM = "mitm"  # HTTPS to an intercepted site: a rogue-root certificate


@dataclass(frozen=True, slots=True)
class PathState:
    """What the path to one endpoint does now. ``reachable`` False: packets silently dropped.
    ``loss``: probability (0..1) that a packet is lost; ``delay_s``: added one-way delay;
    ``rate_kbit``: the rate limit of ``rate_network`` (shared by every path into it), or None."""

    reachable: bool = True
    loss: float = 0.0
    delay_s: float = 0.0
    rate_kbit: int | None = None
    rate_network: str = ""
    steer: Steer = Steer.ORIGIN


CLEAR = PathState()


def endpoints(topology: Topology) -> dict[Endpoint, tuple[Network, Site | None]]:
    """Every endpoint of ``topology`` with its network and site (None for DNS servers)."""
    found: dict[Endpoint, tuple[Network, Site | None]] = {}
    for net in topology.networks:
        for address in (net.resolver_address, net.authoritative_address):
            if address:
                found[(address, DNS_PORT)] = (net, None)
    for site in topology.sites:
        address = topology.site_address(site)
        for port in (HTTP_PORT, HTTPS_PORT):
            found[(address, port)] = (topology.network(site.network), site)
    return found


def path_states(topology: Topology, faults: Iterable[Fault],
                vantage_network: str) -> dict[Endpoint, PathState]:
    """The state of every path from ``vantage_network``, for the active ``faults`` (in the order
    they were applied: where two faults steer one connection, the first wins, as the first DNAT
    rule does). Endpoints untouched by every fault are left out (they are ``CLEAR``)."""
    active = list(faults)
    vantage = topology.network(vantage_network)
    states: dict[Endpoint, PathState] = {}
    for endpoint, (net, site) in endpoints(topology).items():
        state = _state(topology, active, vantage, (net, site, endpoint[1]))
        if state != CLEAR:
            states[endpoint] = state
    return states


def dns_faults(topology: Topology, faults: Iterable[Fault]) -> dict[str, list[tuple[str, str | None]]]:
    """Per network id, the resolver's faults: ``(mode, "name." or None for every name)``."""
    wanted: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for fault in faults:
        if not isinstance(fault, DnsTamper):
            continue
        in_category = [s.host for s in topology.sites if s.category in fault.names.categories]
        names: list[str | None] = [f"{host}." for host in [*fault.names.hosts, *in_category]]
        for net in topology.select_networks(fault.resolvers.selector()):
            if net.resolver:
                wanted[net.id] += [(fault.mode, name) for name in names or [None]]
    return dict(wanted)


def _state(topology: Topology, faults: list[Fault], vantage: Network,
           where: tuple[Network, Site | None, int]) -> PathState:
    net, site, port = where
    reachable, loss, delay_s, rate, steer = True, 0.0, 0.0, None, Steer.ORIGIN
    inside_vantage = _domestic(vantage)
    crosses_core = inside_vantage or _domestic(net)
    client = inside_vantage and vantage.kind in (NetKind.ACCESS, NetKind.VANTAGE)
    for fault in faults:
        match fault:
            case Cut(target=target, spare_dns=spare_dns):
                if _hits(topology, target, vantage, net, site) and not (spare_dns and port == DNS_PORT):
                    reachable = False
            case GatewayCut():
                if inside_vantage != _domestic(net):
                    reachable = False
            case VantageOffline(vantage=vantage_id):
                if topology.vantage(vantage_id).network == vantage.id:
                    reachable = False
            case AllowList(allow=allow, keep_dns=keep_dns):
                allowed = site is not None and site.host in allow
                if crosses_core and not allowed and not (keep_dns and port == DNS_PORT):
                    reachable = False
            case Loss(target=target, percent=percent):
                if _hits(topology, target, vantage, net, site):
                    loss = 1 - (1 - loss) * (1 - percent / 100)
            case Throttle(target=target, rate_kbit=rate_kbit, delay_ms=delay_ms, loss_pct=loss_pct):
                if _hits(topology, target, vantage, net, site):
                    loss = 1 - (1 - loss) * (1 - (loss_pct or 0) / 100)
                    delay_s += (delay_ms or 0) / 1000
                    if rate_kbit is not None:
                        rate = rate_kbit if rate is None else min(rate, rate_kbit)
            case HttpBlock(sites=sites):
                if client and steer is Steer.ORIGIN and _site_hit(topology, sites, site):
                    steer = Steer.BLOCKPAGE if port == HTTP_PORT else Steer.RESET
            case TlsIntercept(sites=sites):
                hit = port == HTTPS_PORT and _site_hit(topology, sites, site)
                if client and steer is Steer.ORIGIN and hit:
                    steer = Steer.MITM
    return PathState(reachable, loss, delay_s, rate, net.id if rate is not None else "", steer)


def _hits(topology: Topology, target: Select, vantage: Network, net: Network, site: Site | None) -> bool:
    """Does a network-level fault on ``target`` touch the path from ``vantage`` to this endpoint?"""
    selector = target.selector()
    if selector.by_site:
        return _site_hit(topology, target, site)
    chosen = {n.id for n in topology.select_networks(selector)}
    return net.id in chosen or vantage.id in chosen


def _site_hit(topology: Topology, target: Select, site: Site | None) -> bool:
    return site is not None and site in topology.select_sites(target.selector())


def _domestic(net: Network) -> bool:
    return net.subnet.subnet_of(DOMESTIC)

