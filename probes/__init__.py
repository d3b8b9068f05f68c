"""Probe kinds. ``PROBES`` is the one literal table from kind name to its function and parameters.

Adding a kind = one module with ``Params`` and ``probe_<kind>(target, deadline, env) -> Outcome``,
one line here, one test file. A probe returns data: it does not raise for network failures (those
are an ``Outcome`` with a ``failure`` from the closed vocabulary); it raises only when it could
not measure at all (a bug), which the runner records as ``internal_error``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from pydantic import BaseModel

from netwatch.deadline import Deadline
from netwatch.model import Outcome, Target
from probes import dns, http, tcp
from probes.env import ProbeEnv

ProbeFunction = Callable[[Target, Deadline, ProbeEnv], Outcome]


class ProbeKind(NamedTuple):
    run: ProbeFunction
    params: type[BaseModel]


PROBES: dict[str, ProbeKind] = {
    "dns": ProbeKind(dns.probe_dns, dns.Params),
    "http": ProbeKind(http.probe_http, http.Params),
    "tcp": ProbeKind(tcp.probe_tcp, tcp.Params),
}
