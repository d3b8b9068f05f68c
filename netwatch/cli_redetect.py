"""``netwatch redetect``: replay stored measurements through a fresh detector (``netwatch.replay``).

Exit codes: 0 done; 2 bad options, config or threshold override; 1 the store cannot be read or
written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import ValidationError

from netwatch.config import ConfigError, load_config
from netwatch.detect import Thresholds
from netwatch.model import Outage, Vantage, format_utc, parse_utc
from netwatch.replay import replay
from netwatch.store import Store, StoreError, db_path

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"netwatch redetect: {message}", err=True)
    return typer.Exit(code)


def _time(option: str, text: str | None, default: datetime) -> datetime:
    if text is None:
        return default
    try:
        return parse_utc(text)
    except ValueError:
        raise _fail(
            f"{option}: expected an ISO 8601 time with a zone (2022-01-05T10:30:00Z), got {text!r}"
        ) from None


def thresholds_with(base: Thresholds, overrides: Sequence[str]) -> Thresholds:
    """``base`` with ``key=value`` overrides (values parsed as YAML scalars); ``ValueError`` names
    the first bad one as ``--set key: reason``."""
    values = base.model_dump()
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: expected key=value")
        values[key.strip()] = yaml.safe_load(text)
    try:
        return Thresholds.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "thresholds"
        raise ValueError(f"--set {where}: {first['msg']}") from None


def outage_lines(outages: Sequence[Outage]) -> str:
    """A plain table: one outage per line, times in UTC, the uncertainty windows as bounds."""
    rows = [("ID", "SCOPE", "ENTITY", "LAYER", "START (EARLIEST..AT)", "END (EARLIEST..AT)", "TARGETS")]
    for o in outages:
        start = f"{_opt(o.start_earliest)}..{format_utc(o.started_at)}"
        end = "open" if o.ended_at is None else f"{_opt(o.end_earliest)}..{format_utc(o.ended_at)}"
        rows.append((o.id, o.scope_type.value, o.entity, o.layer.value, start, end, str(o.targets_affected)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in rows
    )


def _opt(moment: datetime | None) -> str:
    return "?" if moment is None else format_utc(moment)


def redetect_command(
    *,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config file: its data_dir, thresholds and vantage.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Data directory (default thresholds, no vantage positions)."),
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO 8601; default: the start.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO 8601, exclusive; default: now.")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Threshold override key=value (repeatable).")
    ] = None,
    write: Annotated[bool, typer.Option("--write", help="Upsert the outages into the store.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print outages as JSON Lines.")] = False,
) -> None:
    """Replay stored measurements (time order) through a fresh detector and print the outages.

    Uses the same rule as the live agent (netwatch.replay), so the same data and thresholds give
    the same outage records, ids included. --write upserts them (idempotent; no notifications).
    """
    if (config is None) == (data_dir is None):
        raise _fail("give exactly one of --config or --data-dir")
    base, vantages = Thresholds(), list[Vantage]()
    if config is not None:
        try:
            loaded = load_config(config)
        except ConfigError as exc:
            raise _fail(f"invalid config:\n{exc}") from None
        base, vantages, data_dir = loaded.detection, [loaded.vantage], loaded.data_dir
    assert data_dir is not None
    try:
        thresholds = thresholds_with(base, overrides or [])
    except ValueError as exc:
        raise _fail(str(exc)) from None
    start = _time("--since", since, _EPOCH)
    end = _time("--until", until, datetime.now(UTC))
    path = db_path(data_dir)
    if not path.is_file():
        raise _fail(f"no store at {path}", 1)
    try:
        store = Store(path)
        result = replay(store.measurements(start, end), thresholds, vantages)
        if write:
            store.record(datetime.now(UTC), outages=result.outages)
    except (StoreError, sqlite3.Error, OSError) as exc:
        raise _fail(str(exc), 1) from None
    if as_json:
        typer.echo("".join(json.dumps(o.to_dict()) + "\n" for o in result.outages), nl=False)
    else:
        typer.echo(outage_lines(result.outages), nl=False)
    note = f"; wrote them to {path}" if write else ""
    typer.echo(f"{result.measurements} measurements replayed, {len(result.outages)} outages{note}", err=True)
