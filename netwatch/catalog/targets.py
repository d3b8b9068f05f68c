"""From a target specification (catalog entry or the config's own) to a validated ``Target``.

A ``TargetSpec`` holds raw probe parameters and where they were written; ``build_target`` fills in
default resolvers, validates the parameters against ``probes.PROBES[kind].params`` and applies
interval and timeout. Nothing here touches the network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from netwatch.catalog.schema import format_duration
from netwatch.config_errors import KeyPath, LineIndex, Problem, format_path, validation_problems
from netwatch.model import Labels, Target
from probes import PROBES
from probes.dnsquery import ResolverSpec


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """A target whose parameters are not validated yet.

    ``file``/``index``/``where`` locate the entry that produced it (``where`` is e.g.
    ``("targets", 2)`` or ``("entries", 4)``); ``params_at`` is the key path its parameters are
    reported under. ``origin`` says in words where it came from (for duplicate-id messages).
    ``interval_s``/``timeout_s`` are seconds, None to use the agent's defaults.
    """

    id: str
    kind: str
    params: Mapping[str, Any]
    labels: Labels
    file: str
    index: LineIndex = field(compare=False, repr=False)
    where: KeyPath
    params_at: KeyPath
    origin: str
    interval_s: float | None = None
    timeout_s: float | None = None
    source: str = ""
    note: str = ""
    verify: bool = False

    def problem(self, path: KeyPath, reason: str) -> Problem:
        """A problem located at ``path`` (absolute within ``file``)."""
        return Problem(self.file, self.index.line(path), format_path(path), reason)


def _is_ip(host: str | None) -> bool:
    try:
        ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return True


def needs_resolvers(kind: str, params: Mapping[str, Any]) -> bool:
    """True when the target must resolve a name and names no resolvers of its own.

    ``dns`` always asks resolvers; ``http`` and ``tcp`` only when their host is a name (and, for
    ``http``, no ``addresses`` are pinned). The machine's own resolver is never a fallback.
    """
    if kind not in PROBES or "resolvers" not in PROBES[kind].params.model_fields:
        return False
    if params.get("resolvers"):
        return False
    if kind == "http":
        url = params.get("url")
        host = urlsplit(url).hostname if isinstance(url, str) else None
        return not params.get("addresses") and not _is_ip(host)
    if kind == "tcp":
        host = params.get("host")
        return not _is_ip(host if isinstance(host, str) else None)
    return True


def build_target(
    spec: TargetSpec,
    resolvers: Sequence[ResolverSpec],
    interval_s: float,
    timeout_s: float,
    timeout_origin: str = "probing.timeout",
) -> tuple[Target | None, list[Problem]]:
    """Validate ``spec`` into a ``Target``; ``(None, problems)`` when it is invalid.

    ``resolvers`` fill in targets that need them and omit them; ``interval_s``/``timeout_s`` apply
    when the spec has none. A timeout longer than the interval is a problem.
    """
    params = dict(spec.params)
    if needs_resolvers(spec.kind, params):
        if not resolvers:
            reason = "this target resolves a name: list resolvers here or configure top-level 'resolvers'"
            return None, [spec.problem((*spec.params_at, "resolvers"), reason)]
        params["resolvers"] = tuple(resolvers)
    model = PROBES[spec.kind].params
    try:
        validated = model.model_validate(params)
    except ValidationError as exc:
        return None, validation_problems(exc, model, spec.index, spec.file, spec.params_at)
    interval = spec.interval_s if spec.interval_s is not None else interval_s
    timeout = spec.timeout_s if spec.timeout_s is not None else timeout_s
    if timeout > interval:
        source = "" if spec.timeout_s is not None else f" (from {timeout_origin})"
        reason = (
            f"timeout {format_duration(timeout)}{source} is longer than the interval "
            f"{format_duration(interval)}"
        )
        return None, [spec.problem((*spec.where, "timeout"), reason)]
    target = Target(spec.id, spec.kind, validated, spec.labels, interval_s=interval, timeout_s=timeout)
    return target, []
