"""The ``netwatch`` command. Wiring only: each command parses its options and calls one function
that lives in the module owning that job."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from netwatch.app import configure_logging, run_agent
from netwatch.catalog import builtin_names, load_builtin
from netwatch.catalog.citizenlab import citizenlab_catalog_data
from netwatch.catalog.listing import Format, render, rows
from netwatch.cli_export import export_app, outages_command
from netwatch.cli_lab import lab_app
from netwatch.cli_notify import notify_app
from netwatch.cli_redetect import redetect_command
from netwatch.config import ConfigError, load_config
from probes import PROBES

app = typer.Typer(
    name="netwatch",
    help="Internet-shutdown monitor: probes, Prometheus metrics, outage detection with evidence.",
    no_args_is_help=True,
    add_completion=False,
)
catalog_app = typer.Typer(help="Built-in target catalogs and importers.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(export_app, name="export")
app.add_typer(lab_app, name="lab")
app.add_typer(notify_app, name="notify")
app.command("outages")(outages_command)
app.command("redetect")(redetect_command)


@app.command("check-config")
def check_config_command(file: Annotated[Path, typer.Argument(help="Config file (YAML).")]) -> None:
    """Validate a config file without running anything (and without network traffic).

    Prints a summary and exits 0, or prints every problem (FILE:LINE: key.path: reason) to stderr
    and exits 2.
    """
    try:
        config = load_config(file)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(config.summary())


@catalog_app.command("list")
def catalog_list_command(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="List what this config will probe.")
    ] = None,
    catalog: Annotated[
        str | None, typer.Option("--catalog", help=f"Only this catalog ({', '.join(builtin_names())}).")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.TABLE,
) -> None:
    """Show what will be probed: id, kind, endpoint and labels of every target.

    With --config, the config's targets (catalogs and its own); otherwise the built-in catalogs.
    Exits 2 on an invalid config or an unknown catalog.
    """
    try:
        if config is not None:
            targets: list[Any] = list(load_config(config).targets)
        else:
            names = [catalog] if catalog else list(builtin_names())
            targets = [spec for name in names for spec in load_builtin(name).targets]
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except KeyError:
        typer.echo(f"unknown catalog {catalog!r} (built-in: {', '.join(builtin_names())})", err=True)
        raise typer.Exit(2) from None
    if config is not None and catalog:
        targets = [t for t in targets if t.id in {s.id for s in _builtin_specs(catalog)}]
    typer.echo(render(rows(targets), fmt), nl=False)


def _builtin_specs(name: str) -> list[Any]:
    try:
        return list(load_builtin(name).targets)
    except KeyError:
        typer.echo(f"unknown catalog {name!r} (built-in: {', '.join(builtin_names())})", err=True)
        raise typer.Exit(2) from None


@catalog_app.command("import-citizenlab")
def import_citizenlab_command(
    csv_file: Annotated[Path, typer.Argument(help="A Citizen Lab / OONI test list CSV you supply.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the catalog file here (default: stdout).")
    ] = None,
    country: Annotated[
        str | None,
        typer.Option("--country", help="Country label (default: from the file name, kz.csv → KZ)."),
    ] = None,
) -> None:
    """Convert a test list into a catalog file, to use with `catalogs: [{file: ...}]`.

    Exits 2 listing every bad row (FILE:LINE: column: reason).
    """
    try:
        data = citizenlab_catalog_data(csv_file, country)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {len(data['entries'])} entries to {output}", err=True)


@app.command("run")
def run_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="Config file (YAML).")],
    measurements_out: Annotated[
        Path | None,
        typer.Option("--measurements-out", help="Append every measurement to this JSON Lines file."),
    ] = None,
) -> None:
    """Run the agent: probe the configured targets and serve /metrics and /healthz.

    SIGHUP reloads the config file (an invalid one is reported and the running config kept);
    SIGTERM or SIGINT stop cleanly. Exits 2 if the config is invalid at start.
    """
    configure_logging()
    try:
        abandoned = run_agent(config, load_config, PROBES, measurements_out)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except OSError as exc:  # e.g. the listen address is taken, or the measurements file unwritable
        typer.echo(f"netwatch: cannot start: {exc}", err=True)
        raise typer.Exit(1) from None
    if abandoned:
        # A probe overran its deadline and still holds a worker thread; sinks are closed, so
        # nothing is lost by not waiting for it.
        logging.shutdown()
        os._exit(0)


@app.command("demo")
def demo_command(
    duration: Annotated[
        float, typer.Option("--duration", min=30, help="Seconds to run (the timeline scales).")
    ] = 90,
    port: Annotated[int, typer.Option("--port", help="Port for /metrics (taken: any free port).")] = 9784,
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Where to leave measurements, store and exports.")
    ] = None,
) -> None:
    """A simulated Kazakhstan on loopback: probe it, break it, watch outages open and close.

    No root, no internet: real DNS and HTTPS servers on 127.x addresses, probed by a real agent.
    """
    from netwatch.demo import default_workdir, run_demo  # noqa: PLC0415
    from netwatch.outage_table import table_console  # noqa: PLC0415

    raise typer.Exit(run_demo(duration, port, workdir or default_workdir(), table_console()))


def main() -> None:
    """Console-script entry point."""
    app()
