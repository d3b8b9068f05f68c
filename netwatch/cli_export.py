"""``netwatch export outages|measurements`` and ``netwatch outages``: wiring for the CLI.

Every bad input (a time without a zone, an unknown layer, a missing database) is a message on
stderr and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from netwatch.config import ConfigError, load_config
from netwatch.export import ExportError, ExportFormat, export_measurements, export_outages
from netwatch.export.rows import count_measurements
from netwatch.model import Layer, ScopeType
from netwatch.outage_table import outage_table, table_console
from netwatch.store import OutageFilter, Store, StoreError, db_path
from netwatch.timefmt import parse_time

export_app = typer.Typer(help="Export outages or measurements (CSV, JSON Lines, JSON, Parquet, CODF).",
                         no_args_is_help=True)  # fmt: skip

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file: its data_dir.")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (instead of --config).")]
SinceOpt = Annotated[str | None, typer.Option(help="From this time (ISO 8601 with zone, or a date = UTC).")]
UntilOpt = Annotated[str | None, typer.Option(help="Up to this time, excluded (default: now).")]
FormatOpt = Annotated[ExportFormat, typer.Option("--format", "-f", help="Output format.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")]


def _now() -> datetime:
    return datetime.now(UTC)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _open_store(config: Path | None, data_dir: Path | None) -> Store:
    if (config is None) == (data_dir is None):
        raise _fail("give exactly one of --config FILE or --data-dir DIR")
    if config is not None:
        try:
            data_dir = load_config(config).data_dir
        except ConfigError as exc:
            raise _fail(str(exc)) from None
    assert data_dir is not None
    path = db_path(data_dir)
    if not path.is_file():
        raise _fail(f"no netwatch database at {path}")
    try:
        return Store(path)
    except StoreError as exc:
        raise _fail(str(exc)) from None


def _time(option: str, value: str | None, default: datetime | None) -> datetime | None:
    if value is None:
        return default
    try:
        return parse_time(value)
    except ValueError as exc:
        raise _fail(f"{option}: {exc}") from None


@contextmanager
def _output(path: Path | None) -> Iterator[IO[bytes]]:
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
    else:
        with path.open("wb") as out:
            yield out


@contextmanager
def _progress(total: int | None, to_stdout: bool) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr, only when stderr is a terminal and the rows are not going
    to that same terminal."""
    if not sys.stderr.isatty() or (to_stdout and sys.stdout.isatty()):
        yield None
        return
    columns = (TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("export", total=total)
        yield lambda n: bar.advance(task, n)


def _export(run: Callable[[IO[bytes], Callable[[int], None] | None], None], total: int | None,
            output: Path | None) -> None:  # fmt: skip
    try:
        with _output(output) as out, _progress(total, output is None) as progress:
            run(out, progress)
    except ExportError as exc:
        raise _fail(str(exc)) from None
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        sys.stderr.close()


@export_app.command("outages")
def export_outages_command(
    *,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    scope: Annotated[ScopeType | None, typer.Option(help="Only this scope type.")] = None,
    entity: Annotated[str | None, typer.Option(help="Only this entity (KZ, KZ-75, 9198...).")] = None,
    layer: Annotated[Layer | None, typer.Option(help="Only this layer.")] = None,
    fmt: FormatOpt = ExportFormat.CSV,
    output: OutputOpt = None,
) -> None:
    """Outages overlapping [--since, --until), newest first. Exit 2 on bad input."""
    where = OutageFilter(since=_time("--since", since, None), until=_time("--until", until, None),
                         scope_type=scope, entity=entity, layer=layer)  # fmt: skip
    store = _open_store(config, data_dir)
    _export(lambda out, progress: export_outages(store, where, fmt, out, now=_now, progress=progress),
            None, output)  # fmt: skip


@export_app.command("measurements")
def export_measurements_command(
    *,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    target: Annotated[list[str] | None, typer.Option(help="Only this target id (repeatable).")] = None,
    fmt: FormatOpt = ExportFormat.CSV,
    output: OutputOpt = None,
) -> None:
    """Raw measurements with --since <= started_at < --until, in time order. Exit 2 on bad input
    (CODF describes outages only)."""
    start = _time("--since", since, datetime.fromtimestamp(0, UTC))
    end = _time("--until", until, datetime.now(UTC))
    assert start is not None and end is not None
    if fmt is ExportFormat.CODF:
        raise _fail("codf describes outages; export measurements as csv, jsonl, json or parquet")
    store = _open_store(config, data_dir)
    total = count_measurements(store, start, end, target) if sys.stderr.isatty() else None

    def run(out: IO[bytes], progress: Callable[[int], None] | None) -> None:
        export_measurements(store, start, end, fmt, out, targets=target, progress=progress)

    _export(run, total, output)


def outages_command(
    *,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only outages still going on.")] = False,
    since: SinceOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many rows.")] = 50,
) -> None:
    """List recent and open outages as a table (UTC and Asia/Almaty), newest first. Exit 2 on bad
    input."""
    where = OutageFilter(since=_time("--since", since, None), open_only=open_only)
    store = _open_store(config, data_dir)
    page = store.outages(where, limit=limit)
    console = table_console()
    if not page.outages:
        console.print("no outages match")
        return
    console.print(outage_table(page.outages, datetime.now(UTC)))
