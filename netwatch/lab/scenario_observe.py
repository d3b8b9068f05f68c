"""What each vantage's probes would see under a set of active faults: a static model for checking a
scenario's ground truth against its faults (``netwatch.lab.scenario_check``), no sockets, no time.

Built on the loopback backend's pure path model (``netwatch.lab.loopback_paths``: which faults
touch the path from a vantage's network to each DNS server and web port, the same rules the
namespace backend renders into nftables) and on the targets each vantage really probes
(``netwatch.lab.targets``: which resolver it asks, which site, which port). Per target, the first
thing that breaks decides the ``Seen`` outcome:

- ``dns``: the server's path dead -> ``DNS_FAIL``; an operator resolver told to answer a fault for
  the name -> ``BOGON`` (mode ``bogon``) or ``DNS_FAIL``;
- ``http`` (web): the lookup as above (pinned control addresses skip it), then the site's port:
  dead or reset -> ``TCP_FAIL``, block page -> ``BLOCKPAGE``, rogue certificate -> ``MITM``;
- ``tcp``: the site's port 443 dead -> ``TCP_FAIL`` (a censor that answers the handshake and
  then resets or intercepts lets the connect succeed);
- any path with added delay, loss or a rate limit and nothing broken -> ``SLOW``.

It does not judge groups (thresholds, baselines, widening): it says which members fail and how.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from netwatch.lab.loopback_paths import CLEAR, DNS_PORT, PathState, Steer, dns_faults, path_states
from netwatch.lab.scenario_faults import Fault
from netwatch.lab.targets import TopologyAddressing, lab_targets
from netwatch.lab.topology import Topology
from netwatch.model import Position, ScopeType


class Seen(StrEnum):
    OK = "ok"
    SLOW = "slow"
    DNS_FAIL = "dns_fail"
    BOGON = "bogon"
    TCP_FAIL = "tcp_fail"
    BLOCKPAGE = "blockpage"
    MITM = "mitm"


@dataclass(frozen=True, slots=True)
class Probe:
    """One target of one vantage and what it would see: ``kind`` (dns, http, tcp), ``labels``."""

    id: str
    kind: str
    labels: dict[str, str]
    seen: Seen

    @property
    def control(self) -> bool:
        return self.labels.get("role") == "control"


def observe(topology: Topology, vantage_id: str, faults: Iterable[Fault]) -> list[Probe]:
    """Every target of ``vantage_id`` with what it would see while ``faults`` are active."""
    active = list(faults)
    vantage_net = topology.vantage(vantage_id).network
    states = path_states(topology, active, vantage_net)
    tampered = dns_faults(topology, active)
    resolvers = {net.resolver_address: net.id for net in topology.networks if net.resolver_address}
    sites = {site.host: topology.site_address(site) for site in topology.sites}

    def lookup(name: str, server: dict[str, Any]) -> Seen:
        address = str(server["address"])
        state = states.get((address, DNS_PORT), CLEAR)
        if not state.reachable:
            return Seen.DNS_FAIL
        for mode, faulty in tampered.get(resolvers.get(address, ""), []):
            if faulty in (None, name):
                return Seen.BOGON if mode == "bogon" else Seen.DNS_FAIL
        return _slow(state)

    def connect(address: str, port: int, web: bool) -> Seen:
        state = states.get((address, port), CLEAR)
        if not state.reachable:
            return Seen.TCP_FAIL
        if web and state.steer is Steer.RESET:
            return Seen.TCP_FAIL
        if web and state.steer is Steer.BLOCKPAGE:
            return Seen.BLOCKPAGE
        if web and state.steer is Steer.MITM:
            return Seen.MITM
        return _slow(state)

    probes = []
    for target in lab_targets(topology, vantage_id, TopologyAddressing(topology)):
        params = target["params"]
        kind = str(target["kind"])
        if kind == "dns":
            seen = lookup(str(params["name"]), params["resolvers"][0])
        elif kind == "tcp":
            seen = connect(str(params["host"]), int(params["port"]), web=False)
        else:
            url = urlsplit(str(params["url"]))
            host = url.hostname or ""
            port = 443 if url.scheme == "https" else 80
            seen = Seen.OK if "addresses" in params else lookup(f"{host}.", params["resolvers"][0])
            if seen in (Seen.OK, Seen.SLOW):
                reached = connect(sites[host], port, web=True)
                seen = reached if reached is not Seen.OK else seen
        probes.append(Probe(str(target["id"]), kind, dict(target["labels"]), seen))
    return probes


def _slow(state: PathState) -> Seen:
    return Seen.SLOW if state.delay_s or state.loss or state.rate_kbit is not None else Seen.OK


def members(probes: Sequence[Probe], scope: ScopeType, entity: str) -> list[Probe]:
    """The probes of the detector's group ``(scope, entity)`` (targets' labels, as the detector
    groups them); for scope ``vantage``, that vantage's controls."""
    if scope is ScopeType.VANTAGE:
        return [p for p in probes if p.control]
    if scope is ScopeType.TARGET:
        return [p for p in probes if not p.control and p.id.split("/")[0] == entity]
    label = {ScopeType.COUNTRY: "country", ScopeType.REGION: "region", ScopeType.ASN: "asn",
             ScopeType.NETWORK_TYPE: "network_type", ScopeType.CATEGORY: "category"}[scope]
    return [p for p in probes if not p.control and p.labels.get(label) == entity]


def position(topology: Topology, vantage_id: str) -> Position:
    return topology.network(topology.vantage(vantage_id).network).position
