"""The ``tcp`` probe: time a TCP handshake; refused, timeout and unreachable told apart."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from netwatch.deadline import Deadline
from netwatch.model import Outcome, Target
from probes.dnsquery import ResolverSpec
from probes.env import ProbeEnv


class Params(BaseModel):
    """``host``: an IP literal or a name resolved through ``resolvers``; ``port``: TCP port."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    resolvers: tuple[ResolverSpec, ...] = ()


def probe_tcp(target: Target, deadline: Deadline, env: ProbeEnv) -> Outcome:
    raise NotImplementedError
