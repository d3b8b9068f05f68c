"""The ``netwatch`` command. Wiring only: each command parses its options and calls one function
that lives in the module owning that job."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="netwatch",
    help="Internet-shutdown monitor: probes, Prometheus metrics, outage detection with evidence.",
    no_args_is_help=True,
    add_completion=False,
)
catalog_app = typer.Typer(help="Built-in target catalogs and importers.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


def main() -> None:
    """Console-script entry point."""
    app()
