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

from netwatch.export.rows import MEASUREMENT_COLUMNS
from netwatch.timefmt import LocalFromUtc


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


def measurement_csv(chunks: Iterable[list[str]]) -> Iterator[str]:
    """``lines.measurement_lines`` chunks as CSV text: the ``MEASUREMENT_COLUMNS`` header, then
    one string per chunk."""
    yield ",".join(MEASUREMENT_COLUMNS) + "\r\n"
    for chunk in chunks:
        yield "".join(chunk)


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
