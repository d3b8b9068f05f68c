"""Measurements as CSV lines, built mostly by SQLite: the flat export rows of CSV and Parquet.

Each stored body (``Measurement.to_dict`` JSON) is taken apart in C by SQLite's JSON functions
and the line is assembled there, so Python never parses a body: per row it only adds the local
time (``LocalFromUtc``, string slicing) and the labels, which repeat per target and are rendered
once per distinct labels object. Lines are byte for byte what ``csv.writer`` (RFC 4180, minimal
quoting, ``\\r\\n``) writes for the row of ``rows.MEASUREMENT_COLUMNS``:

- a text field is quoted, with quotes doubled, when it holds a comma, quote, CR or LF; None is an
  empty field;
- ``duration_s`` is the number exactly as stored (Python's ``repr`` of the float);
- ``ok``/``partial`` are ``true``/``false``; ``phases``/``evidence`` are the stored JSON objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime

from netwatch.export import rows
from netwatch.store import Store
from netwatch.timefmt import LocalFromUtc

LABELS = rows.MEASUREMENT_COLUMNS[10:17]
"""The label columns, in ``Labels.as_dict`` order."""

_LABEL_CACHE_SIZE = 4096  # distinct labels objects remembered; labels are per target


def _text(column: str) -> str:
    """SQL for ``column`` (text or NULL) as a CSV field."""
    quote = f"""'"' || replace({column}, '"', '""') || '"'"""
    special = " OR ".join(f"instr({column}, {c})" for c in ("','", "'\"'", "char(10)", "char(13)"))
    return f"CASE WHEN {column} IS NULL THEN '' WHEN {special} THEN {quote} ELSE {column} END"


def _json(column: str) -> str:
    """SQL for ``column`` (a JSON object's text) as a CSV field: quoted unless it holds no quote
    (only ``{}`` has none, and then it has no comma either; JSON text never has a raw CR/LF)."""
    return f"""iif(instr({column}, '"'), '"' || replace({column}, '"', '""') || '"', {column})"""


def _sql() -> tuple[str, str]:
    """(inner, outer) columns for ``rows.chunks``: the inner query takes each body apart (one JSON
    parse per row serves every extract); the outer one yields the line in pieces: head (up to
    ``started_at``), the UTC time, middle (``duration_s`` to ``partial`` and a comma), the labels
    object's JSON, tail (``phases`` on, with the line end).

    The four id fields are joined first and checked once (four commas, no quote, CR or LF): the
    usual row is used as joined, only a rare one is quoted field by field."""
    ids = ("id", "target_id", "kind", "vantage_id")
    joined = " || ',' || ".join(ids)
    quoted = " || ',' || ".join(_text(c) for c in ids)
    plain = (
        "length(head) - length(replace(head, ',', '')) = 4 AND instr(head, '\"') = 0"
        " AND instr(head, char(10)) = 0 AND instr(head, char(13)) = 0"
    )
    inner = (
        f"{joined} || ',' AS head, {', '.join(ids)}, failure,"
        " body ->> '$.started_at' AS utc, body -> '$.duration_s' AS duration,"
        " body ->> '$.partial' AS partial, body -> '$.labels' AS labels,"
        " body -> '$.phases' AS phases, body -> '$.evidence' AS evidence"
    )
    outer = (
        f"iif({plain}, head, {quoted} || ','), utc, ',' || duration || ','"
        f" || iif(failure IS NULL, 'true,,', 'false,' || {_text('failure')} || ',')"
        " || iif(partial, 'true', 'false') || ',',"
        f" labels, ',' || {_json('phases')} || ',' || {_json('evidence')} || char(13) || char(10)"
    )
    return inner, outer


def _cell(value: str | None) -> str:
    """One label as a CSV field, by the rules in the module docstring."""
    if not value:
        return ""
    if "," in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def measurement_lines(
    store: Store,
    since: datetime,
    until: datetime,
    targets: Sequence[str] | None = None,
) -> Iterator[list[str]]:
    """Chunks of CSV lines (each ending ``\\r\\n``, no header) for the measurements with ``since <=
    started_at < until`` (aware UTC), optionally only of ``targets``, in time then insertion
    order. Columns are ``rows.MEASUREMENT_COLUMNS``."""
    local = LocalFromUtc()
    labels_cache: dict[str, str] = {}

    def labels_text(labels: str) -> str:
        if len(labels_cache) >= _LABEL_CACHE_SIZE:
            labels_cache.clear()
        values = json.loads(labels)
        text = ",".join(_cell(values.get(c)) for c in LABELS)
        labels_cache[labels] = text
        return text

    for chunk in rows.chunks(store, *_sql(), since=since, until=until, targets=targets):
        get = labels_cache.get
        yield [
            f"{head}{utc},{local(utc)}{middle}{get(labels) or labels_text(labels)}{tail}"
            for head, utc, middle, labels, tail in chunk
        ]
