"""Measurements as CSV lines and JSON object texts, assembled by SQLite from the stored columns.

Python adds per row only what SQLite cannot write exactly: the local time (``LocalFromUtc``,
string slicing) and ``duration_s`` (``repr``: SQLite renders a REAL with 15 digits, not the
shortest exact form). Rows whose short text columns need no escaping (the stored ``plain`` flag,
nearly all of them) are formatted verbatim in one ``format()`` call; the others take the
per-field escaping path.

CSV lines are byte for byte what ``csv.writer`` (RFC 4180, minimal quoting, ``\\r\\n``) writes for
the row of ``rows.MEASUREMENT_COLUMNS``: a text field is quoted, quotes doubled, when it holds a
comma, quote, CR or LF; None is an empty field; ``ok``/``partial`` are ``true``/``false``;
``phases``/``evidence`` are the stored JSON objects (quoted unless ``{}``, the only object text
without a quote). JSON objects are ``Measurement.to_dict`` with ``started_at_local`` added last.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from netwatch.export.rows import LABELS, chunks
from netwatch.store import Store
from netwatch.timefmt import LocalFromUtc

_IDS = ("id", "target_id", "kind", "vantage_id")
_CRLF = "char(13, 10)"


def _csv_field(column: str) -> str:
    """SQL for ``column`` (text or NULL) as a CSV field, quoted when it must be."""
    special = " OR ".join(f"instr({column}, {c})" for c in ("','", "'\"'", "char(10)", "char(13)"))
    quoted = f"""'"' || replace({column}, '"', '""') || '"'"""
    return f"CASE WHEN {column} IS NULL THEN '' WHEN {special} THEN {quoted} ELSE {column} END"


def _csv_json(column: str) -> str:
    return f"""iif({column} = '{{}}', {column}, format('"%w"', {column}))"""


def _csv_sql() -> str:
    """Columns head (ids and a comma), UTC text, duration_s, tail (a comma, ``ok`` to
    ``evidence``, CRLF)."""
    ok, partial = "iif(failure IS NULL, 'true', 'false')", "iif(partial, 'true', 'false')"
    fields = f"{'%s,' * 10}"  # ok, failure, partial, the labels
    objects = f"{_csv_json('phases')}, {_csv_json('evidence')}"
    # Plain rows: text verbatim; the usual one has both objects non-empty, quoted by %w in the
    # same format() call ({} has no quote and stays bare).
    plain_values = f"{ok}, failure, {partial}, {', '.join(LABELS)}"
    plain_tail = (
        f"iif(phases = '{{}}' OR evidence = '{{}}', format(',{fields}%s,%s' || {_CRLF}, {plain_values},"
        f""" {objects}), format(',{fields}"%w","%w"' || {_CRLF}, {plain_values}, phases, evidence))"""
    )
    quoted_values = f"{ok}, {_csv_field('failure')}, {partial}, {', '.join(map(_csv_field, LABELS))}"
    quoted_tail = f"format(',{fields}%s,%s' || {_CRLF}, {quoted_values}, {objects})"
    plain_head = f"format('{'%s,' * 4}', {', '.join(_IDS)})"
    quoted_head = f"format('{'%s,' * 4}', {', '.join(map(_csv_field, _IDS))})"
    head, tail = f"iif(plain, {plain_head}, {quoted_head})", f"iif(plain, {plain_tail}, {quoted_tail})"
    return f"{head}, started_at_text, duration_s, {tail}"


def _json_object_sql(plain: bool) -> tuple[str, str]:
    """(head, tail) SQL of a JSON object: for plain rows text columns go verbatim between quotes,
    for the others through ``json_quote`` (which adds the quotes)."""
    slot = '"%s"' if plain else "%s"

    def value(column: str) -> str:
        return column if plain else f"json_quote({column})"

    ids = ",".join(f'"{k}":{slot}' for k in _IDS)
    id_values = ", ".join(map(value, _IDS))
    head = f"""format('{{{ids},"started_at":"%s","duration_s":', {id_values}, started_at_text)"""
    failure = f"format('{slot}', failure)" if plain else value("failure")
    labels = ",".join(f'"{k}":{slot}' for k in LABELS)
    tail = (
        f"""format(',"failure":%s,"partial":%s,"phases":%s,"evidence":%s,"labels":{{{labels}}}',"""
        f" iif(failure IS NULL, 'null', {failure}), iif(partial, 'true', 'false'), phases, evidence,"
        f" {', '.join(map(value, LABELS))})"
    )
    return head, tail


def _json_sql() -> str:
    """Columns head (the object's text up to ``"duration_s":``), duration_s, tail (from
    ``,"failure"`` to the labels' closing brace), UTC text."""
    fast_head, fast_tail = _json_object_sql(plain=True)
    slow_head, slow_tail = _json_object_sql(plain=False)
    head, tail = f"iif(plain, {fast_head}, {slow_head})", f"iif(plain, {fast_tail}, {slow_tail})"
    return f"{head}, duration_s, {tail}, started_at_text"


_CSV, _JSON = _csv_sql(), _json_sql()


def measurement_csv_lines(
    store: Store, since: datetime, until: datetime, targets: Sequence[str] | None = None
) -> Iterator[list[str]]:
    """Chunks of CSV lines (each ending ``\\r\\n``, no header) of ``rows.MEASUREMENT_COLUMNS`` for
    the measurements with ``since <= started_at < until`` (aware UTC), optionally only of
    ``targets``, in time then insertion order."""
    local = LocalFromUtc()
    for chunk in chunks(store, _CSV, since=since, until=until, targets=targets):
        yield [f"{head}{utc},{local(utc)},{duration!r}{tail}" for head, utc, duration, tail, _, _ in chunk]


def measurement_json(
    store: Store, since: datetime, until: datetime, targets: Sequence[str] | None = None
) -> Iterator[list[str]]:
    """Chunks of JSON object texts (``Measurement.to_dict`` plus ``started_at_local``), for the
    measurements selected as by ``measurement_csv_lines``."""
    local = LocalFromUtc()
    for chunk in chunks(store, _JSON, since=since, until=until, targets=targets):
        yield [
            f'{head}{duration!r}{tail},"started_at_local":"{local(utc)}"}}'
            for head, duration, tail, utc, _, _ in chunk
        ]
