"""The lab's topology as data: networks, the sites and DNS servers they host, and the vantages.

Backend-neutral: the namespace backend turns a ``Topology`` into namespaces and veth links, the
loopback backend into 127.x addresses; both use the same ids, so scenario files name the same
things on either. ``netwatch.lab.topology_kz`` holds the default (simulated Kazakhstan).

Address plan (IPv4, inside ``LAB_RANGE`` only, which exists nowhere but in the lab):
network ``index`` i owns ``10.66.i.0/24``; its router-side address is ``.1``, its own ``.2``, its
resolver ``.53``, its authoritative server ``.54`` and its sites ``.100`` upwards. Indexes below
128 are domestic (behind the national core), 128 and up are abroad (behind the ``world`` router).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from netwatch.model import NetworkType, Position, Role

LAB_RANGE = ipaddress.IPv4Network("10.66.0.0/16")
DOMESTIC = ipaddress.IPv4Network("10.66.0.0/17")
ABROAD = ipaddress.IPv4Network("10.66.128.0/17")
RESOLVER_HOST = 53
AUTHORITATIVE_HOST = 54
FIRST_SITE_HOST = 100
CENSOR_ADDRESS = "10.66.0.10"  # on the core router's loopback: where censored connections are steered


class NetKind(StrEnum):
    """What a network is for. ``access`` networks carry subscribers (and their operator's resolver);
    ``hosting`` is a data centre; ``outside`` networks sit abroad; ``vantage`` networks hold one agent."""

    ACCESS = "access"
    HOSTING = "hosting"
    OUTSIDE = "outside"
    VANTAGE = "vantage"


@dataclass(frozen=True, slots=True)
class Network:
    """One network. ``region`` is ISO 3166-2 (``""`` = national or abroad); ``asn`` decimal text.
    ``resolver``: runs the resolver its subscribers use; ``zones``: zones it is authoritative for."""

    id: str
    index: int
    kind: NetKind
    region: str = ""
    operator: str = ""
    asn: str = ""
    network_type: NetworkType = NetworkType.UNKNOWN
    resolver: bool = False
    zones: tuple[str, ...] = ()

    @property
    def position(self) -> Position:
        return Position.INSIDE if self.index < 128 else Position.OUTSIDE

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"10.66.{self.index}.0/24")

    def host(self, n: int) -> str:
        """The address ``10.66.<index>.<n>``."""
        return str(self.subnet.network_address + n)

    @property
    def gateway(self) -> str:
        return self.host(1)

    @property
    def own_address(self) -> str:
        return self.host(2)

    @property
    def resolver_address(self) -> str | None:
        return self.host(RESOLVER_HOST) if self.resolver else None

    @property
    def authoritative_address(self) -> str | None:
        return self.host(AUTHORITATIVE_HOST) if self.zones else None


@dataclass(frozen=True, slots=True)
class Site:
    """A web site with its own address (so faults can pick it out by address) serving HTTP on 80 and
    HTTPS on 443 with a lab-CA certificate. ``slot`` places it at ``.100 + slot`` in its network."""

    host: str
    network: str
    slot: int
    category: str
    role: Role = Role.SUBJECT


@dataclass(frozen=True, slots=True)
class VantagePoint:
    """Where an agent runs: the vantage ``id`` and the ``network`` (of kind ``vantage``) it sits in."""

    id: str
    network: str


@dataclass(frozen=True, slots=True)
class Selector:
    """Picks networks and sites. Each field is a list of accepted values (empty = any); a network
    matches when it matches every non-empty field. Site fields (``hosts``, ``categories``) narrow
    the match to the sites of the matched networks. Vantage networks are only picked by ``networks``.
    """

    networks: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    asns: tuple[str, ...] = ()
    network_types: tuple[NetworkType, ...] = ()
    positions: tuple[Position, ...] = (Position.INSIDE,)
    hosts: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def by_site(self) -> bool:
        return bool(self.hosts or self.categories)


@dataclass(frozen=True, slots=True)
class Topology:
    """Networks, sites and vantages; validated on construction (ids unique, references exist)."""

    name: str
    networks: tuple[Network, ...]
    sites: tuple[Site, ...]
    vantages: tuple[VantagePoint, ...]
    _by_id: Mapping[str, Network] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id = {net.id: net for net in self.networks}
        if len(by_id) != len(self.networks) or len({n.index for n in self.networks}) != len(self.networks):
            raise ValueError(f"topology {self.name}: network ids and indexes must be unique")
        for net in self.networks:
            if not 1 <= net.index <= 253 or net.index in (126, 254):  # 126/254: router links
                raise ValueError(f"topology {self.name}: network {net.id} has a reserved index {net.index}")
        hosts = [site.host for site in self.sites]
        if len(set(hosts)) != len(hosts):
            raise ValueError(f"topology {self.name}: site host names must be unique")
        placed = {(site.network, site.slot) for site in self.sites}
        if len(placed) != len(self.sites):
            raise ValueError(f"topology {self.name}: two sites share an address")
        for site in self.sites:
            if site.network not in by_id or not 0 <= site.slot < 100:
                raise ValueError(f"topology {self.name}: site {site.host} has a bad network or slot")
        for vantage in self.vantages:
            if by_id.get(vantage.network) is None or by_id[vantage.network].kind != NetKind.VANTAGE:
                raise ValueError(f"topology {self.name}: vantage {vantage.id} needs a vantage network")
        object.__setattr__(self, "_by_id", by_id)

    def network(self, network_id: str) -> Network:
        return self._by_id[network_id]

    def site(self, host: str) -> Site:
        for site in self.sites:
            if site.host == host:
                return site
        raise KeyError(host)

    def site_address(self, site: Site) -> str:
        return self.network(site.network).host(FIRST_SITE_HOST + site.slot)

    def vantage(self, vantage_id: str) -> VantagePoint:
        for vantage in self.vantages:
            if vantage.id == vantage_id:
                return vantage
        raise KeyError(vantage_id)

    # -- vocabularies, for validating scenarios --------------------------------------------------

    def regions(self) -> set[str]:
        return {net.region for net in self.networks if net.region}

    def operators(self) -> set[str]:
        return {net.operator for net in self.networks if net.operator}

    def asns(self) -> set[str]:
        return {net.asn for net in self.networks if net.asn}

    def categories(self) -> set[str]:
        return {site.category for site in self.sites}

    # -- selection ---------------------------------------------------------------------------------

    def select_networks(self, selector: Selector) -> list[Network]:
        """The networks ``selector`` matches, in topology order."""
        chosen = []
        for net in self.networks:
            if selector.networks:
                if net.id not in selector.networks:
                    continue
            elif net.kind == NetKind.VANTAGE or net.position not in selector.positions:
                continue
            if _matches(selector.regions, net.region) and _matches(selector.operators, net.operator) \
                    and _matches(selector.asns, net.asn) \
                    and _matches(selector.network_types, net.network_type):
                chosen.append(net)
        return chosen

    def select_sites(self, selector: Selector) -> list[Site]:
        """The sites of the selected networks that match ``hosts`` and ``categories``."""
        nets = {net.id for net in self.select_networks(selector)}
        return [
            site for site in self.sites
            if site.network in nets and _matches(selector.hosts, site.host)
            and _matches(selector.categories, site.category)
        ]

    def select_prefixes(self, selector: Selector) -> list[str]:
        """Addresses (``a.b.c.d/32``) of the selected sites when the selector names sites, else the
        subnets of the selected networks: what a packet filter matches on."""
        if selector.by_site:
            return [f"{self.site_address(site)}/32" for site in self.select_sites(selector)]
        return [str(net.subnet) for net in self.select_networks(selector)]

    # -- DNS -----------------------------------------------------------------------------------------

    def records(self, zones: Iterable[str] | None = None) -> dict[tuple[str, str], list[str]]:
        """DNS records (``{(name., type): [values]}``) of every site and name server, or only of
        names under ``zones``. Resolvers serve them all, as if every answer were cached."""
        records: dict[tuple[str, str], list[str]] = {}
        for site in self.sites:
            records[(f"{site.host}.", "A")] = [self.site_address(site)]
        for net in self.networks:
            for zone in net.zones:
                ns_name = f"ns1.{net.id}.{zone}".rstrip(".") + "."
                records[(ns_name, "A")] = [net.host(AUTHORITATIVE_HOST)]
                records[(f"{zone}.".lstrip("."), "NS")] = [ns_name]
                records[(f"{zone}.", "SOA")] = [f"{ns_name} hostmaster.{zone}. 1 3600 600 86400 300"]
        if zones is None:
            return records
        suffixes = tuple(f".{zone}." for zone in zones)
        return {key: value for key, value in records.items()
                if key[0].endswith(suffixes) or key[0] in {f"{zone}." for zone in zones}}

    def zone_of(self, host: str) -> str | None:
        """The served zone ``host`` falls under (the longest match), if any."""
        served = [zone for net in self.networks for zone in net.zones]
        matches = [zone for zone in served if host == zone or host.endswith(f".{zone}")]
        return max(matches, key=len) if matches else None


def _matches(accepted: tuple[object, ...], value: object) -> bool:
    return not accepted or value in accepted
