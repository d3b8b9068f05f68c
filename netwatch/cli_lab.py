"""``netwatch lab ...``: run a lab scenario with real agents, and score runs against ground truth."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

lab_app = typer.Typer(help="The simulated Kazakhstan: run shutdown scenarios, score the detector.",
                      no_args_is_help=True)


def default_backend() -> str:
    """``netns`` when running as root, else ``loopback``."""
    return "netns" if os.geteuid() == 0 else "loopback"


@lab_app.command("run")
def lab_run_command(
    scenario: Annotated[str, typer.Argument(help="A shipped scenario name (regional_cut) or a file.")],
    backend: Annotated[
        str | None, typer.Option("--backend", help="netns (root) or loopback; default: netns when root.")
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Where configs, stores and result.json go.")
    ] = None,
) -> None:
    """Bring the lab up, run an agent per vantage, play the scenario's faults, tear everything down
    (also on Ctrl-C) and print the outages each vantage recorded, then the score.

    Exits 2 for an unknown scenario or backend, 1 if the run fails or is interrupted.
    """
    from netwatch.lab.backend import make_backend  # noqa: PLC0415  (heavy: load only when run)
    from netwatch.lab.run import Interrupted, find_scenario, run_scenario  # noqa: PLC0415
    from netwatch.lab.scenario import ScenarioError  # noqa: PLC0415

    try:
        loaded, path = find_scenario(scenario)
        lab = make_backend(backend or default_backend(), loaded.build_topology())
    except (ScenarioError, ValueError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    folder = workdir or Path(tempfile.mkdtemp(prefix=f"netwatch-lab-{loaded.name}-"))
    typer.echo(f"scenario {loaded.name} ({loaded.duration_s:g} s, probes every "
               f"{loaded.probe_interval_s:g} s) on {lab.name}; files in {folder}")
    try:
        result = run_scenario(loaded, lab, folder, source=str(path), say=typer.echo)
    except (Interrupted, KeyboardInterrupt):
        typer.echo("interrupted; the lab is torn down", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # any failure: report it (teardown has run)
        typer.echo(f"lab run failed: {exc}", err=True)
        raise typer.Exit(1) from None
    for vantage, outages in result.outages.items():
        typer.echo(f"\n{vantage}: {len(outages)} outage records")
        for outage in outages:
            start = (outage.started_at - result.t0).total_seconds()
            ended = outage.ended_at
            end = "open" if ended is None else f"{(ended - result.t0).total_seconds():.1f}"
            typer.echo(f"  {outage.scope_type.value}={outage.entity} {outage.layer.value} "
                       f"{start:.1f}-{end} s (scenario time) incident {outage.incident_id}")
    _print_score(folder)


@lab_app.command("score")
def lab_score_command(
    result_dirs: Annotated[list[Path], typer.Argument(help="Run folders (each with result.json).")],
) -> None:
    """Match each run's outages to its scenario's ground truth; print recall, precision, start/end
    error, uncertainty windows, scope and layer correctness, incidents, then every problem.

    Exits 2 when a folder has no readable result or its scenario file is gone.
    """
    for folder in result_dirs:
        _print_score(folder)


def _print_score(folder: Path) -> None:
    from netwatch.lab.run import RunResult  # noqa: PLC0415
    from netwatch.lab.scenario import ScenarioError, load_scenario  # noqa: PLC0415
    from netwatch.lab.score import score_run  # noqa: PLC0415
    from netwatch.lab.score_report import problems, table  # noqa: PLC0415

    try:
        result = RunResult.load(folder)
        scenario = load_scenario(result.source)
    except (OSError, ValueError, KeyError, ScenarioError) as exc:
        typer.echo(f"{folder}: cannot score: {exc}", err=True)
        raise typer.Exit(2) from None
    score = score_run(scenario, result)
    typer.echo("\n" + table([score]), nl=False)
    for line in problems(score, result):
        typer.echo(f"  {line}")
