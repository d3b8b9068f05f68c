"""Cross-checks of a parsed scenario against its topology: every name a fault or a truth entry uses
must exist, every selector must select something, and every truth window must lie in the run.

Returns problems as ``(key path, reason)`` pairs; ``netwatch.lab.scenario`` adds the file name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from netwatch.lab.scenario_faults import (
    AllowList,
    Cut,
    DnsTamper,
    Fault,
    HttpBlock,
    Loss,
    Select,
    Throttle,
    TlsIntercept,
    VantageOffline,
)
from netwatch.lab.topology import NetKind, Topology
from netwatch.model import ScopeType

Problem = tuple[str, str]
COUNTRY = "KZ"


class _Truth(Protocol):
    @property
    def scope(self) -> ScopeType: ...
    @property
    def entity(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def seen_by(self) -> tuple[str, ...]: ...


class _NotReported(Protocol):
    @property
    def scope(self) -> ScopeType: ...
    @property
    def entity(self) -> str: ...


def check_scenario(
    faults: Sequence[Fault],
    truth: Sequence[_Truth],
    not_reported: Sequence[_NotReported],
    duration_s: float,
    topology: Topology,
) -> list[Problem]:
    problems: list[Problem] = []
    for index, fault in enumerate(faults):
        where = f"faults[{index}]"
        if fault.at >= duration_s:
            problems.append((f"{where}.at", f"{fault.at} is not before the end of the run ({duration_s})"))
        problems += _check_fault(where, fault, topology)
    vantages = {v.id for v in topology.vantages}
    for index, outage in enumerate(truth):
        where = f"truth[{index}]"
        if outage.end > duration_s:
            problems.append((f"{where}.end", f"{outage.end} is after the end of the run ({duration_s})"))
        problems += _check_entity(f"{where}.entity", outage.scope, outage.entity, topology)
        problems += [(f"{where}.seen_by", f"no vantage {v!r}") for v in outage.seen_by if v not in vantages]
    for index, item in enumerate(not_reported):
        if item.entity:
            problems += _check_entity(f"not_reported[{index}].entity", item.scope, item.entity, topology)
    return problems


def _check_fault(where: str, fault: Fault, topology: Topology) -> list[Problem]:
    match fault:
        case Cut(target=target) | Throttle(target=target) | Loss(target=target):
            return _check_select(f"{where}.target", target, topology)
        case DnsTamper(resolvers=resolvers, names=names):
            problems = _check_select(f"{where}.resolvers", resolvers, topology)
            if not any(net.resolver for net in topology.select_networks(resolvers.selector())):
                problems.append((f"{where}.resolvers", "selects no network with a resolver"))
            problems += _unknown(f"{where}.names.hosts", names.hosts, {s.host for s in topology.sites})
            return problems + _unknown(f"{where}.names.categories", names.categories, topology.categories())
        case HttpBlock(sites=sites) | TlsIntercept(sites=sites):
            problems = _check_select(f"{where}.sites", sites, topology)
            if not topology.select_sites(sites.selector()):
                problems.append((f"{where}.sites", "selects no site"))
            return problems
        case AllowList(allow=allow):
            return _unknown(f"{where}.allow", allow, {s.host for s in topology.sites})
        case VantageOffline(vantage=vantage):
            return _unknown(f"{where}.vantage", (vantage,), {v.id for v in topology.vantages}, scalar=True)
    return []


def _check_select(where: str, select: Select, topology: Topology) -> list[Problem]:
    problems = _unknown(f"{where}.networks", select.networks, {n.id for n in topology.networks})
    problems += _unknown(f"{where}.regions", select.regions, topology.regions())
    problems += _unknown(f"{where}.operators", select.operators, topology.operators())
    problems += _unknown(f"{where}.asns", select.asns, topology.asns())
    problems += _unknown(f"{where}.hosts", select.hosts, {s.host for s in topology.sites})
    problems += _unknown(f"{where}.categories", select.categories, topology.categories())
    if not problems and not topology.select_prefixes(select.selector()):
        problems.append((where, "selects nothing in the topology"))
    return problems


def _check_entity(where: str, scope: ScopeType, entity: str, topology: Topology) -> list[Problem]:
    known: set[str]
    match scope:
        case ScopeType.COUNTRY:
            known = {COUNTRY}
        case ScopeType.REGION:
            known = topology.regions()
        case ScopeType.ASN:
            known = topology.asns()
        case ScopeType.NETWORK_TYPE:
            known = {n.network_type.value for n in topology.networks if n.kind != NetKind.VANTAGE}
        case ScopeType.CATEGORY:
            known = topology.categories()
        case ScopeType.TARGET:
            known = {s.host for s in topology.sites}
        case ScopeType.VANTAGE:
            known = {v.id for v in topology.vantages}
    return _unknown(where, (entity,), known, scalar=True)


def _unknown(where: str, values: Sequence[object], known: set[str], scalar: bool = False) -> list[Problem]:
    """Problems for ``values`` not in ``known``; list items are named ``where[i]``, a scalar ``where``."""
    return [
        (where if scalar else f"{where}[{i}]",
         f"unknown {value!r} (known: {', '.join(sorted(known))})")
        for i, value in enumerate(values)
        if str(value) not in known
    ]
