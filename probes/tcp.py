"""The ``tcp`` probe: time a TCP handshake; refused, timeout and unreachable told apart."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from netwatch.deadline import Deadline
from netwatch.model import Outcome, Target
from probes.connect import connect_any
from probes.dnsquery import ResolverSpec
from probes.env import ProbeEnv
from probes.resolve import resolve_host


class Params(BaseModel):
    """``host``: an IP literal or a name resolved through ``resolvers``; ``port``: TCP port."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    resolvers: tuple[ResolverSpec, ...] = ()


def probe_tcp(target: Target, deadline: Deadline, env: ProbeEnv) -> Outcome:
    """Resolve ``host`` (see ``probes.resolve``), then connect to its addresses in turn and close.

    Phases (seconds): ``resolve``, ``connect``. Evidence: ``resolve``, ``port``, ``attempts`` (one
    per address, with its failure), ``connected`` (the address that accepted, or None).
    """
    params: Params = target.params
    resolution = resolve_host(params.host, params.resolvers, deadline, env)
    phases = {"resolve": resolution.duration_s}
    evidence: dict[str, Any] = {"resolve": resolution.to_evidence(), "port": params.port, "connected": None}
    if resolution.failure is not None:
        return Outcome(resolution.failure, phases, evidence, resolution.partial)
    connection = connect_any(resolution.addresses, params.port, deadline, env)
    phases["connect"] = connection.duration_s
    evidence.update(attempts=connection.attempts, connected=connection.address)
    if connection.sock is not None:
        connection.sock.close()
    return Outcome(connection.failure, phases, evidence, resolution.partial or connection.partial)
