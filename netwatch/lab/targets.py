"""What a lab agent probes: targets built from the topology for one vantage, with labels that make
the detector's groups line up with the scenario truth's scopes.

Backend-neutral: addresses come from an ``Addressing`` (the namespace backend uses the topology's
own ``10.66.x.y`` plan; the loopback backend maps the same ids onto 127.x). Per vantage:

- every subject site: ``<host>/dns`` (its A record), ``<host>/http`` and ``<host>/https`` (the
  home page), and for the first site of each network (slot 0) ``<host>/tcp`` (port 443 at the
  site's known address, no DNS: tells "DNS fails" from "TCP fails");
- every resolver of a domestic access network: ``resolver.<network>/dns`` (category
  ``dns-infra``, labelled with that network), so a region or operator has DNS-kind members and
  the detector can tell ``blackout`` from ``tcp_ip``;
- every control site: ``<host>/https`` at its known address (role ``control``, no DNS: a dead
  resolver must not read as a dead uplink).

Name resolution: an inside vantage asks its subscriber resolver (its operator's, in its region
when there is one) for everything, so DNS tampering shows. An outside vantage resolves web names
through the public resolver abroad, and asks each site's DNS question of the zone's authoritative
server: from abroad, that is what says whether the country's own DNS answers.

Labels: ``country`` = ``KZ`` for sites inside, empty abroad (foreign services watched from inside,
like messengers, then belong to their category only); ``region``, ``asn``, ``operator``,
``network_type`` from the site's network; ``category`` and ``role`` from the site.
"""

from __future__ import annotations

from typing import Any, Protocol

from netwatch.lab.topology import NetKind, Network, Site, Topology
from netwatch.model import NetworkType, Position, Role

COUNTRY = "KZ"
DNS_INFRA = "dns-infra"


class Addressing(Protocol):
    """Where a backend put things: ``(address, port)`` pairs for DNS servers, an address per site."""

    def site_address(self, site: Site) -> str:
        """The address ``site`` serves HTTP (80) and HTTPS (443) on."""
        ...

    def resolver(self, network: Network) -> tuple[str, int]:
        """The recursive resolver of ``network`` (only called when ``network.resolver``)."""
        ...

    def authoritative(self, network: Network) -> tuple[str, int]:
        """The authoritative server of ``network`` (only called when ``network.zones``)."""
        ...


class TopologyAddressing:
    """The topology's own address plan (``10.66.<index>.<host>``, DNS on port 53)."""

    def __init__(self, topology: Topology) -> None:
        self._topology = topology

    def site_address(self, site: Site) -> str:
        return self._topology.site_address(site)

    def resolver(self, network: Network) -> tuple[str, int]:
        return _required(network.resolver_address, network, "resolver"), 53

    def authoritative(self, network: Network) -> tuple[str, int]:
        return _required(network.authoritative_address, network, "authoritative server"), 53


def _required(address: str | None, network: Network, what: str) -> str:
    if address is None:
        raise ValueError(f"network {network.id} has no {what}")
    return address


def lab_targets(topology: Topology, vantage_id: str, addressing: Addressing) -> list[dict[str, Any]]:
    """The ``targets:`` list (config-file form: id, kind, params, labels) for ``vantage_id``."""
    vantage_net = topology.network(topology.vantage(vantage_id).network)
    inside = vantage_net.position is Position.INSIDE
    web_resolver = _spec(addressing.resolver(subscriber_resolver(topology, vantage_net)),
                         "isp" if inside else "public")
    targets: list[dict[str, Any]] = []
    for site in topology.sites:
        net = topology.network(site.network)
        address = addressing.site_address(site)
        if site.role is Role.CONTROL:
            targets.append(_target(f"{site.host}/https", "http", _labels(net, site),
                                   url=f"https://{site.host}/", addresses=[address]))
            continue
        labels = _labels(net, site)
        dns_resolver = web_resolver if inside else _authority(topology, addressing, site.host)
        targets += [
            _target(f"{site.host}/dns", "dns", labels, name=f"{site.host}.", resolvers=[dns_resolver]),
            _target(f"{site.host}/http", "http", labels, url=f"http://{site.host}/",
                    resolvers=[web_resolver]),
            _target(f"{site.host}/https", "http", labels, url=f"https://{site.host}/",
                    resolvers=[web_resolver]),
        ]
        if site.slot == 0:
            targets.append(_target(f"{site.host}/tcp", "tcp", labels, host=address, port=443))
    for net in topology.networks:
        if net.kind is NetKind.ACCESS and net.position is Position.INSIDE and net.resolver:
            name = next((s.host for s in topology.sites if s.network == net.id), topology.sites[0].host)
            targets.append(_target(f"resolver.{net.id}/dns", "dns", _labels(net, None),
                                   name=f"{name}.", resolvers=[_spec(addressing.resolver(net), "isp")]))
    return targets


def subscriber_resolver(topology: Topology, vantage_net: Network) -> Network:
    """The network whose resolver the vantage uses: inside, the access network of its operator in
    its region (else of its operator, else any); outside, the first resolver abroad."""
    position = vantage_net.position
    candidates = [n for n in topology.networks if n.resolver and n.position is position]
    if not candidates:
        raise ValueError(f"topology {topology.name}: no resolver {position.value} for {vantage_net.id}")

    def fit(net: Network) -> tuple[bool, bool]:
        return (net.operator != vantage_net.operator, net.region != vantage_net.region)

    return min(candidates, key=fit)  # min is stable: ties keep topology order


def _authority(topology: Topology, addressing: Addressing, host: str) -> dict[str, Any]:
    zone = topology.zone_of(host)
    server = next((n for n in topology.networks if zone in n.zones), None)
    if server is None:
        raise ValueError(f"topology {topology.name}: no authoritative server for {host}")
    return _spec(addressing.authoritative(server), "authoritative")


def _labels(net: Network, site: Site | None) -> dict[str, str]:
    labels = {"role": (site.role if site else Role.SUBJECT).value,
              "category": site.category if site else DNS_INFRA}
    if net.position is Position.INSIDE:
        labels["country"] = COUNTRY
        labels.update(region=net.region, asn=net.asn, operator=net.operator)
        if net.network_type is not NetworkType.UNKNOWN:
            labels["network_type"] = net.network_type.value
    return {key: value for key, value in labels.items() if value}


def _spec(server: tuple[str, int], label: str) -> dict[str, Any]:
    return {"address": server[0], "port": server[1], "label": label}


def _target(target_id: str, kind: str, labels: dict[str, str], **params: Any) -> dict[str, Any]:
    return {"id": target_id, "kind": kind, "params": params, "labels": labels}
