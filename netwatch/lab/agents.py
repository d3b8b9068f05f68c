"""Real ``netwatch run`` agents for a lab run: one config file and one process per vantage.

Each agent is the production command (``python -m netwatch run --config FILE``) started through
the backend's prefix (inside its vantage's namespace on the namespace backend), with the egress
allowlist pinned to the lab (also via ``NETWATCH_ALLOWED_NETWORKS``, which would otherwise be
inherited and win), the lab CA, the lab block page, and the detector's thresholds compressed to
the scenario's probe interval.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import yaml

from netwatch.detect import Thresholds
from netwatch.egress import ENV_VAR
from netwatch.lab.backend import Backend
from netwatch.lab.nsprobe import LAB_BLOCKPAGE
from netwatch.lab.targets import lab_targets
from netwatch.model import Position

REFERENCE_INTERVAL_S = 60.0  # the probe interval the detector's default thresholds assume
REFERENCE_TIMEOUT_S = 10.0  # ... and the probe deadline (the config's default)
TIMEOUT_SHARE = 0.75  # probe deadline as a share of the interval: lab paths are sub-millisecond
STOP_TIMEOUT_S = 20.0


def probe_timeout(interval_s: float) -> float:
    return round(interval_s * TIMEOUT_SHARE, 3)


def scaled_thresholds(interval_s: float) -> dict[str, float]:
    """The ``detection:`` section for probes every ``interval_s`` seconds: every time-valued
    default (``*_s``) times ``interval_s / 60``; counts and shares stay as they are. The latency
    floor ``slow_min_s`` keeps its ratio to the probe deadline instead (1 s of 10 s by default):
    otherwise a throttled probe would time out before it could ever count as slow."""
    factor = interval_s / REFERENCE_INTERVAL_S
    defaults = Thresholds()
    scaled = {name: getattr(defaults, name) * factor for name in Thresholds.model_fields
              if name.endswith("_s")}
    scaled["slow_min_s"] = defaults.slow_min_s * probe_timeout(interval_s) / REFERENCE_TIMEOUT_S
    return scaled


def agent_config(backend: Backend, vantage_id: str, interval_s: float, folder: Path,
                 listen_port: int) -> dict[str, Any]:
    """The agent config (YAML-ready mapping) for ``vantage_id``; its store goes to ``folder/data``."""
    topology = backend.topology
    network = topology.network(topology.vantage(vantage_id).network)
    lab = list(backend.allowed_networks)
    targets = lab_targets(topology, vantage_id, backend.addressing)
    return {
        "vantage": {"id": vantage_id, "position": network.position.value},
        "allowed_networks": lab,
        "listen": {"address": "127.0.0.1", "port": listen_port},
        "data_dir": str(folder / "data"),
        "measurements_out": str(folder / "measurements.jsonl"),
        "probing": {
            "interval": interval_s,
            "timeout": probe_timeout(interval_s),
            "jitter": round(interval_s / 10, 3),
            # Every target may be timing out at once (a national cut): a probe waiting for a worker
            # would start late or be skipped, and blur the very start the scenario measures.
            "concurrency": len(targets),
            "ca_file": backend.ca_file,
            "bogon_exempt_networks": lab,
            "blockpages": {"fingerprints": [
                {"name": LAB_BLOCKPAGE.name, "body_contains": LAB_BLOCKPAGE.body_contains}]},
        },
        "targets": targets,
        "detection": scaled_thresholds(interval_s),
    }


class LabAgent:
    """One agent process. ``start`` writes ``folder/config.yaml`` and launches it (its output goes
    to ``folder/agent.log``); ``stop`` sends SIGTERM and waits (SIGKILL after ``STOP_TIMEOUT_S``)."""

    def __init__(self, vantage_id: str, position: Position, folder: Path) -> None:
        self.vantage_id = vantage_id
        self.position = position
        self.folder = folder
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def start(self, prefix: list[str], config: dict[str, Any], allowed: tuple[str, ...]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        env = {**os.environ, ENV_VAR: ",".join(allowed)}
        self._log = (self.folder / "agent.log").open("wb")
        # A session of its own: a Ctrl-C at the terminal reaches the runner, which stops agents
        # in order, instead of killing them mid-write.
        self._process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "netwatch", "run", "--config", str(path)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)

    def check_alive(self) -> None:
        """Raise ``RuntimeError`` (with the agent's log tail) if the agent has exited."""
        if self._process is not None and self._process.poll() is not None:
            tail = (self.folder / "agent.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"agent {self.vantage_id} exited with {self._process.returncode}:\n{tail}")

    def stop(self) -> int | None:
        """Stop the agent (idempotent); its exit status, or None if it was never started."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return process.returncode
