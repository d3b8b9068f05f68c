"""``netwatch catalog list``: what will be probed, as a table, CSV or JSON.

Rows come from validated ``Target``s (a config) or unvalidated ``TargetSpec``s (a bare catalog);
both expose id, kind, params and labels. Only formatting here.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from netwatch.catalog.targets import TargetSpec
from netwatch.model import Target

COLUMNS = ("id", "kind", "endpoint", "region", "asn", "operator", "network_type", "category", "role")


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def _field(params: Any, name: str) -> Any:
    return params.get(name) if isinstance(params, Mapping) else getattr(params, name, None)


def endpoint(kind: str, params: Any) -> str:
    """What a target reaches: ``name @resolver`` for DNS with explicit resolvers, the URL for HTTP,
    ``host:port`` for TCP."""
    if kind == "http":
        return str(_field(params, "url"))
    if kind == "tcp":
        return f"{_field(params, 'host')}:{_field(params, 'port')}"
    name = str(_field(params, "name"))
    resolvers = _field(params, "resolvers") or ()
    addresses = [str(_field(r, "address")) for r in resolvers]
    return f"{name} @{','.join(addresses)}" if addresses else name


def rows(targets: Iterable[Target | TargetSpec]) -> list[dict[str, str]]:
    """One dict per target with the keys of ``COLUMNS``."""
    result = []
    for target in targets:
        labels = target.labels.as_dict()
        result.append(
            {
                "id": target.id,
                "kind": target.kind,
                "endpoint": endpoint(target.kind, target.params),
                **{key: labels[key] for key in COLUMNS[3:]},
            }
        )
    return result


def render(table: list[dict[str, str]], fmt: Format) -> str:
    """The rows as text in ``fmt``; a table pads columns and ends with a count line."""
    if fmt is Format.JSON:
        return json.dumps(table, indent=2) + "\n"
    if fmt is Format.CSV:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
        return out.getvalue()
    widths = {c: max([len(c), *(len(row[c]) for row in table)]) for c in COLUMNS}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in COLUMNS).rstrip()]
    lines += ["  ".join(row[c].ljust(widths[c]) for c in COLUMNS).rstrip() for row in table]
    lines.append(f"{len(table)} targets")
    return "\n".join(lines) + "\n"
