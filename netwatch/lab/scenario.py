"""Scenario files: a timeline of abstract faults plus the ground truth a detector should report.

A scenario names things by topology vocabulary (regions, operators, network types, categories,
hosts, vantage ids), never by address, so the namespace and the loopback backends play the same
file. Time is scenario seconds from the start of the run (compressed: probes every
``probe_interval_s``). See ``netwatch/lab/scenarios/*.yaml`` and ``docs`` for examples.

``load_scenario(path)`` parses and validates (unknown keys rejected) and checks every reference
against the topology; any problem raises ``ScenarioError`` naming the file and the key path.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from netwatch.lab.scenario_check import check_scenario
from netwatch.lab.scenario_faults import (
    AllowList,
    Cut,
    DnsTamper,
    Fault,
    GatewayCut,
    HttpBlock,
    Loss,
    Throttle,
    TlsIntercept,
    VantageOffline,
)
from netwatch.lab.topology import Topology
from netwatch.lab.topology_kz import kazakhstan_lab
from netwatch.model import Layer, ScopeType

__all__ = [
    "AllowList",
    "Cut",
    "DnsTamper",
    "Event",
    "Fault",
    "GatewayCut",
    "HttpBlock",
    "Loss",
    "Scenario",
    "ScenarioError",
    "Throttle",
    "TlsIntercept",
    "TruthOutage",
    "VantageOffline",
    "load_scenario",
    "shipped_scenarios",
]

TOPOLOGIES = {"kazakhstan": kazakhstan_lab}


class ScenarioError(ValueError):
    """A scenario file is unreadable, malformed or inconsistent; the message names file and key path."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TruthOutage(_Strict):
    """An outage the detector should report: ``scope``/``entity`` as on ``netwatch.model.Outage``,
    ``layer``, ``start``/``end`` in scenario seconds, ``seen_by``: vantage ids that can observe it
    (empty = every vantage)."""

    scope: ScopeType
    entity: str = Field(min_length=1)
    layer: Layer
    start: float = Field(ge=0)
    end: float
    seen_by: tuple[str, ...] = ()
    note: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> TruthOutage:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class NotReported(_Strict):
    """A scope a correct detector must NOT open an outage for (e.g. the country while only a vantage
    lost its uplink); ``entity`` empty = any entity of that scope."""

    scope: ScopeType
    entity: str = ""


class Scenario(_Strict):
    """One scenario. ``duration_s``: how long the run lasts; ``probe_interval_s``: how often each
    agent probes each target (compressed time); ``faults`` and ``truth`` as described above."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    topology: Literal["kazakhstan"] = "kazakhstan"
    duration_s: float = Field(gt=0)
    probe_interval_s: float = Field(default=2.0, gt=0)
    faults: tuple[Annotated[Fault, Field(discriminator="kind")], ...] = ()
    truth: tuple[TruthOutage, ...] = ()
    not_reported: tuple[NotReported, ...] = ()

    @field_validator("faults")
    @classmethod
    def _unique_ids(cls, faults: tuple[Fault, ...]) -> tuple[Fault, ...]:
        ids = [fault.id for fault in faults if fault.id]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"fault ids must be unique, repeated: {', '.join(duplicates)}")
        return faults

    def fault_id(self, index: int) -> str:
        """The fault's own ``id``, or ``f<index>`` when it has none."""
        return self.faults[index].id or f"f{index}"

    def build_topology(self) -> Topology:
        return TOPOLOGIES[self.topology]()

    def events(self) -> list[Event]:
        """Every apply/clear, in time order (clears first at equal times, so a fault cleared and
        another applied at the same second never overlap). Flapping faults expand into cycles."""
        events: list[Event] = []
        for index, fault in enumerate(self.faults):
            fid = self.fault_id(index)
            until = min(fault.until if fault.until is not None else self.duration_s, self.duration_s)
            if fault.flap is None:
                events += [Event(fault.at, True, fid, fault), Event(until, False, fid, fault)]
                continue
            t = fault.at
            while t < until:
                events.append(Event(t, True, fid, fault))
                t = min(t + fault.flap.down_s, until)
                events.append(Event(t, False, fid, fault))
                t += fault.flap.up_s
        return sorted(events, key=lambda e: (e.at, e.apply))


@dataclass(frozen=True, slots=True)
class Event:
    """``apply`` (True) or clear (False) fault ``fault_id`` at scenario second ``at``."""

    at: float
    apply: bool
    fault_id: str
    fault: Fault


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and cross-check the scenario at ``path``; raises ``ScenarioError``."""
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{source}: cannot read scenario: {exc}") from None
    return parse_scenario(data, str(source))


def parse_scenario(data: object, origin: str = "<scenario>") -> Scenario:
    """Validate already-parsed YAML ``data``; ``origin`` names it in errors."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{origin}: a scenario must be a mapping")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        lines = [f"{origin}: {_key_path(err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ScenarioError("\n".join(lines)) from None
    problems = check_scenario(scenario.faults, scenario.truth, scenario.not_reported,
                              scenario.duration_s, scenario.build_topology(),
                              probe_interval_s=scenario.probe_interval_s)
    if problems:
        raise ScenarioError("\n".join(f"{origin}: {where}: {why}" for where, why in problems))
    return scenario


def shipped_scenarios() -> list[Path]:
    """The scenario files shipped with netwatch, sorted by name."""
    folder = resources.files("netwatch.lab") / "scenarios"
    return sorted(Path(str(item)) for item in folder.iterdir() if item.name.endswith(".yaml"))


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in {kind for kind in _FAULT_KINDS}:
            continue  # pydantic adds the union member's tag; the file has no such key
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


_FAULT_KINDS = {"cut", "gateway_cut", "throttle", "loss", "dns", "http_block", "tls_intercept",
                "allow_list", "vantage_offline"}
