"""Cross-checks of a parsed scenario against its topology: every name a fault or a truth entry uses
must exist, every selector must select something, and every truth window must lie in the run.

Ground-truth checks (the truth must follow from the faults, not from what a detector happens to
say; ``netwatch.lab.scenario_observe`` models what each vantage's probes see):

- **stage length**: every truth window, and every gap between two windows of the same scope and
  entity, lasts at least ``MIN_STAGE_INTERVALS`` probe intervals - shorter is below what a
  detector with hysteresis (down after 2 failures, up after 2 successes, plus the probe in
  flight at each boundary) can resolve;
- **observable**: just after each truth starts, every vantage it names (``seen_by``, or all) has a
  member of that group failing, and is not cut off from all its controls (a vantage that is has
  its verdicts frozen: it can only report ``vantage_offline`` or ``international_cut``);
- **layer**: the truth's layer matches what those members see (DESIGN.md "Detection semantics"):
  ``tcp_ip`` needs connections failing while most DNS-kind members still answer, ``blackout``
  most DNS-kind members failing too, ``partial`` a web member still answering; ``dns_tampering``,
  ``http_blocking``, ``tls_interception``, ``throttling`` need bogons, block pages, rogue
  certificates, slowness; ``international_cut`` an inside vantage with every control failing and
  some domestic target answering; ``vantage_offline`` every control failing and, inside, no
  domestic target answering (else it is an international cut);
- **not_reported** never names a truth's scope and entity, and a scenario expecting no outage
  (empty truth) that lists ``not_reported`` lists every subject scope.

Flapping faults are left out of the model: they stand for blips below any outage threshold.

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
from netwatch.lab.scenario_observe import Probe, Seen, members, observe, position
from netwatch.lab.topology import NetKind, Topology
from netwatch.model import Layer, Position, ScopeType

Problem = tuple[str, str]
COUNTRY = "KZ"
MIN_STAGE_INTERVALS = 5
"""The shortest stage (truth window, or gap between two of one group) a scenario may ask a detector
to resolve, in probe intervals: down_after (2) + up_after (2) consecutive probes, plus one for the
probe in flight when a fault starts or ends (a probe sent just before a cut clears still fails)."""
SUBJECT_SCOPES = frozenset(ScopeType) - {ScopeType.VANTAGE}


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
    @property
    def layer(self) -> Layer: ...


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
    *,
    probe_interval_s: float = 2.0,
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
    if problems:
        return problems  # the ground-truth checks below assume every name resolves
    problems += check_stages(truth, probe_interval_s)
    problems += check_not_reported(truth, not_reported)
    for index, outage in enumerate(truth):
        problems += check_observable(f"truth[{index}]", outage, faults, topology,
                                     duration_s=duration_s, probe_interval_s=probe_interval_s)
    return problems


def check_stages(truth: Sequence[_Truth], probe_interval_s: float) -> list[Problem]:
    """Truth windows and the gaps between windows of one (scope, entity) seen by a common vantage
    must each last ``MIN_STAGE_INTERVALS`` probe intervals (a gap of 0 is a change of layer)."""
    shortest = MIN_STAGE_INTERVALS * probe_interval_s
    problems: list[Problem] = []
    for index, outage in enumerate(truth):
        if outage.end - outage.start < shortest:
            problems.append((f"truth[{index}]", f"lasts {outage.end - outage.start:g} s, under "
                             f"{MIN_STAGE_INTERVALS} probe intervals ({shortest:g} s)"))
        for other_index, other in enumerate(truth):
            shared = not outage.seen_by or not other.seen_by or set(outage.seen_by) & set(other.seen_by)
            gap = other.start - outage.end
            if (other.scope, other.entity) == (outage.scope, outage.entity) and shared and 0 < gap < shortest:
                problems.append((f"truth[{other_index}]", f"starts {gap:g} s after truth[{index}] ends: a "
                                 f"restoration under {MIN_STAGE_INTERVALS} probe intervals ({shortest:g} s)"))
    return problems


def check_not_reported(truth: Sequence[_Truth], not_reported: Sequence[_NotReported]) -> list[Problem]:
    problems: list[Problem] = []
    for index, item in enumerate(not_reported):
        for outage in truth:
            if item.scope is outage.scope and item.entity in ("", outage.entity):
                problems.append((f"not_reported[{index}]", f"names {outage.scope.value}={outage.entity}, "
                                 "which the truth expects"))
                break
    if not truth and not_reported:
        missing = SUBJECT_SCOPES - {item.scope for item in not_reported if not item.entity}
        if missing:
            problems.append(("not_reported", "no outage is expected, so every subject scope belongs "
                             f"here; missing: {', '.join(sorted(s.value for s in missing))}"))
    return problems


def check_observable(where: str, outage: _Truth, faults: Sequence[Fault], topology: Topology, *,
                     duration_s: float, probe_interval_s: float) -> list[Problem]:
    """Just after ``outage`` starts, can each vantage it names see it, at its layer?"""
    moment = min(outage.start + probe_interval_s / 2, (outage.start + outage.end) / 2)
    active = sorted((f for f in faults if f.flap is None and f.at <= moment
                     < (f.until if f.until is not None else duration_s)), key=lambda f: f.at)
    problems: list[Problem] = []
    for vantage in outage.seen_by or tuple(v.id for v in topology.vantages):
        probes = observe(topology, vantage, active)
        why = _layer_problem(outage, vantage, position(topology, vantage), probes)
        if why:
            problems.append((f"{where}.seen_by" if outage.seen_by else where,
                             f"{outage.scope.value}={outage.entity} {outage.layer.value} at {moment:g} s: "
                             f"{vantage} {why}"))
    return problems


_WORKS = (Seen.OK, Seen.SLOW)


def _layer_problem(outage: _Truth, vantage: str, where: Position, probes: list[Probe]) -> str | None:
    controls = [p for p in probes if p.control]
    gated = bool(controls) and all(p.seen not in _WORKS for p in controls)
    domestic_ok = sum(p.seen in _WORKS for p in probes if not p.control and p.labels.get("country"))
    layer = outage.layer
    if layer is Layer.VANTAGE_OFFLINE:
        if outage.scope is not ScopeType.VANTAGE or outage.entity != vantage:
            return "can only report itself offline (scope vantage, entity its id)"
        if not gated:
            return "still reaches a control abroad: it is not offline"
        if where is Position.INSIDE and domestic_ok:
            return f"still reaches {domestic_ok} domestic targets: that is an international cut"
        return None
    if layer is Layer.INTERNATIONAL_CUT:
        if where is not Position.INSIDE or not gated or not domestic_ok:
            return "is not an inside vantage reaching domestic targets but no control abroad"
        return None
    if gated:
        return ("loses every control here: its verdicts are frozen (vantage_offline or "
                "international_cut), so it cannot report this; leave it out of seen_by")
    group = members(probes, outage.scope, outage.entity)
    seen = {p.seen for p in group}
    if not seen - {Seen.OK}:
        return f"sees every one of its {len(group)} targets in that group work"
    needs = {Layer.THROTTLING: Seen.SLOW, Layer.DNS_TAMPERING: Seen.BOGON,
             Layer.HTTP_BLOCKING: Seen.BLOCKPAGE, Layer.TLS_INTERCEPTION: Seen.MITM}
    if layer in needs:
        return None if needs[layer] in seen else f"sees no {needs[layer].value} probe in that group"
    if layer in (Layer.TCP_IP, Layer.BLACKOUT, Layer.PARTIAL, Layer.DNS):
        expected = _connection_layer(group)
        return None if expected is layer else f"would see {expected.value if expected else 'no cut'}"
    return None


def _connection_layer(group: list[Probe]) -> Layer | None:
    """DESIGN.md's layer for failures that are not targeted interference: DNS fails but
    connections work -> dns; connections fail -> partial while a web member still answers,
    blackout when most DNS-kind members fail too, else tcp_ip."""
    dns = [p for p in group if p.kind == "dns"]
    dns_down = sum(p.seen is Seen.DNS_FAIL for p in dns)
    if not any(p.seen is Seen.TCP_FAIL for p in group):
        return Layer.DNS if dns_down else None
    if any(p.kind == "http" and p.seen in _WORKS for p in group):
        return Layer.PARTIAL
    return Layer.BLACKOUT if dns_down * 2 > len(dns) else Layer.TCP_IP


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
