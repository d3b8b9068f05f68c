"""Import a Citizen Lab / OONI test list (CSV) supplied by the user into catalog entries.

The lists (github.com/citizenlab/test-lists) are CC BY-NC-SA 4.0, so netwatch does not ship them:
the user points at their own copy. Columns: ``url, category_code, category_description,
date_added, source, notes``. Each URL becomes one ``http`` target ``<host><path>/http``; its
``category`` label comes from ``category_code`` (through ``category_map``, else lower-cased), its
``country`` from the caller or the file name (``kz.csv`` → ``KZ``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from netwatch.catalog import Catalog, catalog_from_data, catalog_to_data
from netwatch.config_errors import ConfigError, LineIndex, Problem

COLUMNS = ("url", "category_code", "category_description", "date_added", "source", "notes")
DEFAULT_CATEGORY_MAP: Mapping[str, str] = {"GOVT": "government", "COMT": "messaging", "NEWS": "news"}
"""Citizen Lab codes whose netwatch category differs from the lower-cased code."""


def _category(code: str, category_map: Mapping[str, str]) -> str:
    mapped = category_map.get(code) or DEFAULT_CATEGORY_MAP.get(code) or code
    return re.sub(r"[^a-z0-9]+", "-", mapped.lower()).strip("-")


def _entry_id(url: str) -> str:
    parts = urlsplit(url)
    raw = (parts.hostname or "") + parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")
    return re.sub(r"[^A-Za-z0-9._:/@+-]", "_", raw)


def _country(path: Path, country: str | None) -> str:
    if country:
        return country.upper()
    if re.fullmatch(r"[A-Za-z]{2}", path.stem):
        return path.stem.upper()
    reason = "cannot tell the country from the file name: give --country or the 'country' key"
    raise ConfigError([Problem(str(path), None, "", reason)])


def read_entries(
    path: Path, country: str | None = None, category_map: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Catalog entries (dicts in the catalog-file format) for every row of the CSV at ``path``.

    Raises ``ConfigError`` with ``FILE:LINE: column: reason`` for every bad row, an unreadable
    file, a missing column or a duplicate URL.
    """
    file = str(path)
    code_map = category_map or {}
    label_country = _country(path, country)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(file, None, "", f"cannot read test list: {exc}")]) from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    missing = [column for column in COLUMNS if column not in (header or [])]
    if header is None or missing:
        raise ConfigError([Problem(file, 1, "header", f"missing columns: {', '.join(missing)}")])
    problems: list[Problem] = []
    entries: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(Problem(file, line, "", f"expected {len(header)} columns, got {len(row)}"))
            continue
        record = dict(zip(header, (cell.strip() for cell in row), strict=True))
        url, code = record["url"], record["category_code"]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(Problem(file, line, "url", f"not an http(s) URL: {url!r}"))
            continue
        if not re.fullmatch(r"[A-Z0-9_]+", code):
            problems.append(Problem(file, line, "category_code", f"expected a code like NEWS, got {code!r}"))
            continue
        entry_id = _entry_id(url)
        if entry_id in first_line:
            reason = f"duplicate of the URL at line {first_line[entry_id]} (target id '{entry_id}/http')"
            problems.append(Problem(file, line, "url", reason))
            continue
        first_line[entry_id] = line
        added = f", added {record['date_added']}" if record["date_added"] else ""
        by = f", source: {record['source']}" if record["source"] else ""
        entries.append(
            {
                "id": entry_id,
                "host": parts.hostname,
                "probes": ["http"],
                "params": {"http": {"url": url}},
                "labels": {"country": label_country, "category": _category(code, code_map)},
                "source": f"Citizen Lab test list {path.name}{added}{by}",
                "note": record["notes"],
            }
        )
    if problems:
        raise ConfigError(problems)
    return entries


def load_citizenlab(
    path: Path, country: str | None = None, category_map: Mapping[str, str] | None = None
) -> Catalog:
    """The test list at ``path`` as a ``Catalog`` named ``citizenlab-<stem>``."""
    data = citizenlab_catalog_data(path, country, category_map)
    return catalog_from_data(data, str(path), LineIndex(None))


def citizenlab_catalog_data(
    path: Path, country: str | None = None, category_map: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The test list as catalog-file data, ready to dump as YAML (``catalog import-citizenlab``)."""
    entries = read_entries(path, country, category_map)
    name = re.sub(r"[^a-z0-9_-]+", "-", f"citizenlab-{path.stem}".lower())
    description = f"Imported from the Citizen Lab test list {path.name} (CC BY-NC-SA 4.0)."
    return catalog_to_data(name, description, entries)
