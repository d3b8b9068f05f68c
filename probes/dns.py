"""The ``dns`` probe: ask each of the target's resolvers and compare their answers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from netwatch.deadline import Deadline
from netwatch.model import Outcome, Target
from probes.dnsquery import RecordType, ResolverSpec
from probes.env import ProbeEnv


class Params(BaseModel):
    """``name``: the name to query; ``qtypes``: record types asked of every resolver;
    ``resolvers``: who to ask (an ISP resolver, a public one, the authoritative server ...);
    ``expected``: if given, answers outside this set are ``dns_unexpected_answer``;
    ``tcp``: query over TCP from the start."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    qtypes: tuple[RecordType, ...] = ("A",)
    resolvers: tuple[ResolverSpec, ...] = Field(min_length=1)
    expected: tuple[str, ...] = ()
    tcp: bool = False


def probe_dns(target: Target, deadline: Deadline, env: ProbeEnv) -> Outcome:
    raise NotImplementedError
