"""``netwatch notify ...``: commands about native notifications. Wiring only."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from netwatch.config import ConfigError, load_config
from netwatch.notify.render import render_test
from netwatch.notify.send import send_apprise

notify_app = typer.Typer(help="Native notifications (Apprise destinations in config).", no_args_is_help=True)


@notify_app.command("test")
def notify_test_command(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Config file (YAML) with notifications.destinations.")
    ] = Path("netwatch.yaml"),
) -> None:
    """Send a test message, in its language, to every configured destination, now (not through
    the outbox). Prints one line per destination; exits 1 if any failed, 2 on an invalid config or
    when no destination is configured."""
    try:
        settings = load_config(config).notifications
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if not settings.destinations:
        typer.echo(f"{config}: no notifications.destinations configured", err=True)
        raise typer.Exit(2)
    failed = 0
    now = datetime.now(UTC)
    for dest in settings.destinations:
        key = f"nw-test-{now.strftime('%Y%m%dT%H%M%S')}-{dest.key[:8]}"
        error = send_apprise(dest, render_test(dest.name, dest.language, now), key)
        typer.echo(f"{dest.name} ({dest.language.value}): {'sent' if error is None else 'FAILED: ' + error}")
        failed += error is not None
    if failed:
        raise typer.Exit(1)
