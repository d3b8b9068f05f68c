"""YAML → validated, frozen ``Config``. Unknown keys rejected; every error names file, key path
and reason. (Loader under construction: see ``load_config``.)"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from netwatch.egress import EgressPolicy
from netwatch.model import Target, Vantage
from probes.env import ProbeEnv


class ConfigError(ValueError):
    """A config that must not start. ``str(error)`` is ``FILE: KEY.PATH: reason`` per problem,
    one per line."""


@dataclass(frozen=True, slots=True)
class Config:
    """Everything an agent needs to run, validated.

    ``listen_address``/``listen_port``: where ``/metrics``, ``/healthz`` and the API are served.
    ``concurrency``: probes running at once. ``jitter_s``: up to this many seconds of random delay
    added to each scheduled run. ``targets``: catalog targets and the user's own, ids unique.
    ``measurements_out``: JSON Lines file receiving every measurement, or None.
    ``data_dir``: where the store keeps its SQLite database.
    """

    source: Path | None
    vantage: Vantage
    egress: EgressPolicy
    probe_env: ProbeEnv
    targets: tuple[Target, ...]
    listen_address: str = "127.0.0.1"
    listen_port: int = 9784
    concurrency: int = 64
    jitter_s: float = 5.0
    measurements_out: Path | None = None
    data_dir: Path = Path("netwatch-data")
