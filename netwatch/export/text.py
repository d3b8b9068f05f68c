"""Streamed text encodings: CSV, JSON Lines and a JSON array, one string per chunk of rows.

Each function takes an iterable of chunks and yields one ``str`` per chunk, so a caller writes it
to a file or an HTTP response as it comes and memory never holds more than one chunk.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from netwatch.export.rows import MEASUREMENT_COLUMNS, FlatRow
from netwatch.timefmt import LocalFromUtc

_BOOL = ("false", "true")


def csv_text(header: Sequence[str], chunks: Iterable[Iterable[Sequence[Any]]]) -> Iterator[str]:
    """RFC 4180 CSV (``\\r\\n`` line ends), header first; None is written as an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for chunk in chunks:
        writer.writerows(chunk)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def jsonl_text(chunks: Iterable[Iterable[str]]) -> Iterator[str]:
    """JSON Lines: each item is one JSON object's text, written on its own line."""
    for chunk in chunks:
        text = "\n".join(chunk)
        if text:
            yield text + "\n"


def json_array_text(chunks: Iterable[Iterable[str]]) -> Iterator[str]:
    """One JSON array, streamed: ``[`` first, items separated by ``,\\n``, ``]`` last (``[]`` when
    there are none)."""
    sep = "[\n"
    for chunk in chunks:
        text = ",\n".join(chunk)
        if text:
            yield sep + text
            sep = ",\n"
    yield "[]\n" if sep == "[\n" else "\n]\n"


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def measurement_csv(chunks: Iterable[list[FlatRow]]) -> Iterator[str]:
    """``measurement_rows`` chunks as CSV text in ``MEASUREMENT_COLUMNS`` order, header first.

    Lines are built by hand, the same bytes ``csv.writer`` would produce, because ``writerows``
    was the slowest step of a measurement export: the two JSON columns are always quoted (they
    hold quotes); the other fields are joined as they are unless one holds a delimiter, quote or
    line break, in which case that row goes through ``csv.writer``.
    """
    local = LocalFromUtc()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(MEASUREMENT_COLUMNS)
    yield buffer.getvalue()
    for chunk in chunks:
        lines = []
        for r in chunk:
            simple = (*r[:5], local(r[4]), repr(r[5]), _BOOL[r[6] is None], r[6] or "", _BOOL[r[7]], *r[8:15])
            plain = ",".join([field or "" for field in simple])
            if plain.count(",") == 16 and '"' not in plain and "\n" not in plain and "\r" not in plain:
                lines.append(f"{plain},{_quoted(r[15])},{_quoted(r[16])}\r\n")
            else:
                buffer.seek(0)
                buffer.truncate()
                writer.writerow((*simple, r[15], r[16]))
                lines.append(buffer.getvalue())
        yield "".join(lines)


def measurement_json_items(chunks: Iterable[list[tuple[str, str]]]) -> Iterator[list[str]]:
    """``measurement_bodies`` chunks as JSON object texts: the stored ``Measurement.to_dict`` body
    with ``started_at_local`` added as its last key (no re-encoding)."""
    local = LocalFromUtc()
    for chunk in chunks:
        yield [f'{body[:-1]},"started_at_local":"{local(utc)}"}}' for utc, body in chunk]


def dict_json_items(chunks: Iterable[Iterable[dict[str, Any]]]) -> Iterator[list[str]]:
    """Chunks of JSON-ready dicts as compact JSON object texts (UTF-8 kept as is)."""
    for chunk in chunks:
        yield [json.dumps(item, ensure_ascii=False, separators=(",", ":")) for item in chunk]
