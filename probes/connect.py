"""Open a TCP connection to the first reachable address, with the egress allowlist checked first.

Shared by the ``http`` and ``tcp`` probes. Every address is checked against ``env.egress`` right
before a packet could be sent to it; a denied address is recorded, never contacted.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from netwatch.deadline import Deadline, DeadlineExceeded
from netwatch.failures import Failure, Phase, classify
from probes.env import ProbeEnv


@dataclass(slots=True)
class Connection:
    """The outcome of ``connect_any``.

    On success ``sock`` is a connected blocking socket owned by the caller (who must close it) and
    ``address`` the address it reached; otherwise ``sock`` is None and ``failure`` says why.
    ``attempts`` has one evidence dict per address considered, in order. ``partial`` is set when
    an earlier address failed on the network before a later one connected. ``duration_s`` is
    monotonic seconds spent in connect calls (the ``connect`` phase).
    """

    sock: socket.socket | None
    address: str | None
    failure: Failure | None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0
    partial: bool = False


def connect_any(addresses: Sequence[str], port: int, deadline: Deadline, env: ProbeEnv) -> Connection:
    """Connect to ``addresses`` in order until one accepts; never raises for network trouble.

    The time left is shared evenly among the allowed addresses not yet tried (the last one gets
    all that remains), so one black-holed address cannot starve the next. When every address
    fails, the failure is the first network failure, or ``egress_denied`` if none was allowed.
    """
    result = Connection(None, None, None)
    allowed: list[str] = []
    for address in addresses:
        if env.egress.allows(address):
            allowed.append(address)
        else:
            result.attempts.append({"address": address, "failure": Failure.EGRESS_DENIED.value})
    started = time.monotonic()
    network_failures: list[Failure] = []
    for index, address in enumerate(allowed):
        attempt_started = time.monotonic()
        sock = socket.socket(_family(address), socket.SOCK_STREAM)
        try:
            sock.settimeout(deadline.remaining() / (len(allowed) - index))
            sock.connect((address, port))
        except OSError as exc:  # includes DeadlineExceeded, a TimeoutError
            sock.close()
            failure = classify(exc, Phase.CONNECT)
            network_failures.append(failure)
            result.attempts.append(
                {
                    "address": address,
                    "failure": failure.value,
                    "duration_s": round(time.monotonic() - attempt_started, 6),
                    "detail": f"{type(exc).__name__}: {exc}",
                }
            )
            if isinstance(exc, DeadlineExceeded):
                break
            continue
        result.attempts.append(
            {"address": address, "duration_s": round(time.monotonic() - attempt_started, 6)}
        )
        result.sock, result.address, result.partial = sock, address, bool(network_failures)
        break
    result.duration_s = time.monotonic() - started
    if result.sock is None:
        result.failure = network_failures[0] if network_failures else Failure.EGRESS_DENIED
    return result


def _family(address: str) -> socket.AddressFamily:
    # Only egress-allowed addresses get here, and the policy allows IP literals only (never names,
    # which would need the system resolver).
    return socket.AF_INET6 if ":" in address else socket.AF_INET
