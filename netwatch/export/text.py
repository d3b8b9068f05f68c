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


def lines_text(header: str, chunks: Iterable[Iterable[str]]) -> Iterator[str]:
    """``header``, then each chunk of complete lines (line ends included) joined."""
    yield header
    for chunk in chunks:
        yield "".join(chunk)


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


def dict_json_items(chunks: Iterable[Iterable[dict[str, Any]]]) -> Iterator[list[str]]:
    """Chunks of JSON-ready dicts as compact JSON object texts (UTF-8 kept as is)."""
    for chunk in chunks:
        yield [json.dumps(item, ensure_ascii=False, separators=(",", ":")) for item in chunk]
