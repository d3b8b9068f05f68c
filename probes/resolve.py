"""Turn a host into addresses to connect to, the way every connecting probe must: through named resolvers.

Shared by the ``http`` and ``tcp`` probes. A host that is an IP literal is used as is; pinned
addresses from the target's params are used as given; otherwise the target's resolvers are asked
in order (A, then AAAA) through ``probes.dnsquery.query`` — never the machine's resolver — so a
DNS failure is recorded as ``dns_*`` and never confused with a failure to connect.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from netwatch.deadline import Deadline
from netwatch.model import Failure
from probes.dnsquery import QueryResult, ResolverSpec, query
from probes.env import ProbeEnv


@dataclass(frozen=True, slots=True)
class Resolution:
    """Addresses for a host, or the DNS failure that prevented them.

    ``source`` is ``literal``, ``pinned`` or ``dns``. ``queries`` holds one evidence dict per DNS
    question asked. ``partial`` is set when a later resolver answered after an earlier one failed.
    ``duration_s`` is monotonic seconds spent resolving.
    """

    host: str
    addresses: tuple[str, ...]
    failure: Failure | None
    source: str
    duration_s: float = 0.0
    queries: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    partial: bool = False

    def to_evidence(self) -> dict[str, Any]:
        evidence: dict[str, Any] = {
            "host": self.host,
            "source": self.source,
            "addresses": list(self.addresses),
        }
        if self.queries:
            evidence["queries"] = list(self.queries)
        return evidence


def ip_literal(host: str) -> str | None:
    """The canonical form of ``host`` if it is an IP literal (brackets allowed), else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def resolve_host(
    host: str,
    resolvers: Sequence[ResolverSpec],
    deadline: Deadline,
    env: ProbeEnv,
    pinned: Sequence[str] = (),
) -> Resolution:
    """Addresses to connect to for ``host``; never raises for network trouble.

    Each resolver is asked for A, then AAAA. When A already answered, AAAA gets at most half the
    time left, so a resolver that silently drops AAAA questions cannot eat the budget the
    connection needs. The first resolver that yields addresses wins. Any bogon among its answers
    (``env.is_bogon``) makes the whole answer ``dns_bogon_answer``: a tampering resolver is the
    finding, and its addresses are not connected to. Raises ``ValueError`` when a name must be
    resolved but no resolver is configured (a configuration bug, not a measurement).
    """
    started = time.monotonic()
    literal = ip_literal(host)
    if literal is not None:
        return Resolution(host, (literal,), None, "literal")
    if pinned:
        return Resolution(host, tuple(pinned), None, "pinned")
    if not resolvers:
        raise ValueError(f"host {host!r} is a name but the target has no resolvers and no pinned addresses")

    queries: list[dict[str, Any]] = []
    first_failure: Failure | None = None
    for resolver in resolvers:
        results = _ask(host, resolver, deadline, env)
        queries.extend(result.to_evidence() for result in results)
        addresses = tuple(answer for result in results for answer in result.answers)
        if addresses:
            elapsed = time.monotonic() - started
            partial = first_failure is not None
            if any(env.is_bogon(address) for address in addresses):
                return Resolution(
                    host, addresses, Failure.DNS_BOGON_ANSWER, "dns", elapsed, tuple(queries), partial
                )
            return Resolution(host, addresses, None, "dns", elapsed, tuple(queries), partial)
        if first_failure is None:
            first_failure = results[0].failure
        if deadline.expired:
            break
    failure = first_failure or Failure.DNS_ERROR
    return Resolution(host, (), failure, "dns", time.monotonic() - started, tuple(queries))


def _ask(host: str, resolver: ResolverSpec, deadline: Deadline, env: ProbeEnv) -> list[QueryResult]:
    """A then AAAA from one resolver; AAAA is skipped when A's failure says the resolver is unusable."""
    a = query(host, "A", resolver, deadline, env)
    if a.failure not in (None, Failure.DNS_NO_ANSWER) or deadline.expired:
        return [a]
    budget = deadline if a.failure is not None else Deadline.after(deadline.left() / 2, deadline.clock)
    return [a, query(host, "AAAA", resolver, budget, env)]
