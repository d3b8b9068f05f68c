"""``netwatch demo``: the ``demo`` scenario on the loopback lab, watched by an inside and an outside agent.

The loopback backend (``netwatch.lab.loopback_backend``) brings the lab topology up as real DNS,
HTTP and HTTPS servers on 127.x addresses; one real agent per vantage (scheduler, probes, metrics,
detector, store; configured exactly as ``netwatch lab run`` configures its agents) probes it while
``netwatch/lab/scenarios/demo.yaml`` plays: a regional cut in Mangystau, DNS tampering of the
messengers, a national cut under an allow-list, then restoration. No root, no internet: each
agent's egress allowlist holds only its own view of the lab.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from rich.console import Console, RenderableType
from rich.live import Live

from netwatch.config import load_config
from netwatch.demo_view import outages_tables, screen
from netwatch.detect import Event
from netwatch.egress import ENV_VAR
from netwatch.export import ExportFormat, export_outages
from netwatch.lab.agents import agent_config
from netwatch.lab.loopback_backend import LoopbackBackend
from netwatch.lab.run import find_scenario
from netwatch.lab.scenario import Scenario
from netwatch.model import Measurement, Outage, OutageEvent
from netwatch.store import OutageFilter, Store
from netwatch.store.schema import db_path
from netwatch.timefmt import local_text, utc_text

if TYPE_CHECKING:
    from netwatch.app import Agent

SCENARIO = "demo"
Say = Callable[[str], None]


class LatestResults:
    """A measurement listener keeping each (vantage, target)'s latest measurement (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str], Measurement] = {}

    def __call__(self, measurement: Measurement) -> None:
        with self._lock:
            self._latest[(measurement.vantage_id, measurement.target_id)] = measurement

    def snapshot(self) -> dict[tuple[str, str], Measurement]:
        with self._lock:
            return dict(self._latest)


class OutageLog:
    """Every outage record seen in one vantage's detector events, latest version per id."""

    def __init__(self, vantage: str) -> None:
        self.vantage = vantage
        self._by_id: dict[str, Outage] = {}
        self._seen: set[tuple[str, str, datetime, str]] = set()

    def update(self, events: Iterable[Event], announce: Say | None = None) -> None:
        """Take in ``events``; an event seen before is skipped (the detector hands out a recent
        window each time). ``announce`` gets a line per outage opened or closed."""
        for event in events:
            if not isinstance(event, OutageEvent):
                continue
            key = (event.outage.id, event.change.value, event.at, event.reason)
            if key in self._seen:
                continue
            self._seen.add(key)
            outage = event.outage
            known = self._by_id.get(outage.id)
            self._by_id[outage.id] = outage
            if announce and (known is None or known.is_open != outage.is_open):
                moment = outage.started_at if outage.is_open else (outage.ended_at or outage.started_at)
                announce(
                    f"outage {'OPENED' if outage.is_open else 'CLOSED'}: {outage.scope_type.value}="
                    f"{outage.entity} layer={outage.layer.value} at {utc_text(moment)} "
                    f"({local_text(moment)} Asia/Almaty), seen from {self.vantage}"
                )

    @property
    def outages(self) -> list[Outage]:
        return sorted(self._by_id.values(), key=lambda o: (o.started_at, o.id))


def compressed(scenario: Scenario, duration_s: float) -> Scenario:
    """``scenario`` with its timeline (fault times, flapping, truth) scaled to last ``duration_s``;
    the probe interval stays as it is."""
    factor = duration_s / scenario.duration_s

    def scale(value: float | None) -> float | None:
        return None if value is None else value * factor

    faults = tuple(
        fault.model_copy(update={
            "at": fault.at * factor, "until": scale(fault.until),
            "flap": fault.flap.model_copy(update={"down_s": fault.flap.down_s * factor,
                                                  "up_s": fault.flap.up_s * factor}) if fault.flap else None})
        for fault in scenario.faults)
    truth = tuple(t.model_copy(update={"start": t.start * factor, "end": t.end * factor})
                  for t in scenario.truth)
    return scenario.model_copy(update={"duration_s": duration_s, "faults": faults, "truth": truth})


def default_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="netwatch-demo-"))


def run_demo(duration_s: float, port: int, workdir: Path, console: Console) -> int:
    """Play the demo scenario, compressed to ``duration_s`` seconds; serve the inside agent's
    metrics on ``port`` (busy: any free port; the outside agent: any free port); leave each
    vantage's config, measurements, store and outage exports in ``workdir/<vantage>``."""
    from netwatch.app import configure_logging  # noqa: PLC0415  (uvicorn: load only when run)

    configure_logging(logging.WARNING)
    workdir.mkdir(parents=True, exist_ok=True)
    scenario, _ = find_scenario(SCENARIO)
    scenario = compressed(scenario, duration_s)
    backend = LoopbackBackend(scenario.build_topology())
    latest = LatestResults()
    agents: dict[str, Agent] = {}
    backend.up()
    try:
        for index, vantage in enumerate(backend.topology.vantages):
            folder = workdir / vantage.id
            agents[vantage.id] = start_agent(backend, vantage.id, scenario.probe_interval_s, folder,
                                             port=port if index == 0 else 0, latest=latest)
        targets = sum(len(agent.config.targets) for agent in agents.values())
        console.print(
            f"netwatch demo: {len(backend.topology.sites)} simulated sites on 127.x, {len(agents)} agents "
            f"({', '.join(agents)}), {targets} probes every {scenario.probe_interval_s:g} s, "
            f"{duration_s:g} s in all; files in {workdir}")
        for vantage_id, agent in agents.items():
            console.print(f"metrics: {agent.server.url}/metrics   health: {agent.server.url}/healthz"
                          f"   ({vantage_id})")
        run = DemoRun(console, agents, backend, scenario, latest)
        run.play_and_watch()
    finally:
        for agent in agents.values():
            agent.stop()
        backend.down()
    run.collect()
    finish(console, workdir, run)
    return 0


def start_agent(backend: LoopbackBackend, vantage_id: str, interval_s: float, folder: Path, *, port: int,
                latest: LatestResults) -> Agent:
    """A started in-process agent for ``vantage_id``, configured as ``netwatch lab run`` configures
    its agents (``agent_config``) and moved into the vantage's view of the loopback lab."""
    from netwatch.app import Agent  # noqa: PLC0415
    from probes import PROBES  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    config_file = folder / "config.yaml"
    config_data = agent_config(backend, vantage_id, interval_s, folder, port or _free_port())
    data = backend.view(vantage_id).localize(config_data)
    config_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    config = load_config(config_file, environ={ENV_VAR: ",".join(backend.allowed_networks)})
    try:
        agent = Agent(config, PROBES, listeners=[latest])
    except OSError:  # the port is taken: any free port will do for a demo
        agent = Agent(dataclasses.replace(config, listen_port=0), PROBES, listeners=[latest])
    agent.start()
    return agent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DemoRun:
    """Plays the scenario against the lab while showing the agents' results."""

    def __init__(self, console: Console, agents: dict[str, Agent], backend: LoopbackBackend,
                 scenario: Scenario, latest: LatestResults) -> None:
        self.console = console
        self.agents = agents
        self.backend = backend
        self.scenario = scenario
        self.latest = latest
        self.logs = {vantage: OutageLog(vantage) for vantage in agents}
        self.stage = "Normal operation"
        self._started = time.monotonic()
        self._stop = threading.Event()

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    @property
    def outages(self) -> dict[str, list[Outage]]:
        """Each vantage's outages, in start order."""
        return {vantage: log.outages for vantage, log in self.logs.items()}

    def collect(self) -> None:
        """Take in the detectors' latest events; on a plain terminal, announce outages as lines."""
        announce = None if self.console.is_terminal else self._say
        for vantage, agent in self.agents.items():
            self.logs[vantage].update(agent.detection.recent_events(), announce)

    def play_and_watch(self) -> None:
        self._started = time.monotonic()
        player = threading.Thread(target=self._play, name="demo-scenario", daemon=True)
        player.start()
        duration = self.scenario.duration_s
        try:
            if self.console.is_terminal:
                with Live(self._frame(), console=self.console, refresh_per_second=4) as live:
                    while self.elapsed() < duration:
                        self.collect()
                        live.update(self._frame())
                        time.sleep(0.25)
            else:
                while self.elapsed() < duration:
                    self.collect()
                    time.sleep(0.25)
        except KeyboardInterrupt:
            self.console.print("interrupted; stopping")
        finally:
            self._stop.set()
            player.join()

    def _play(self) -> None:
        for event in self.scenario.events():
            if self._stop.wait(max(0.0, event.at - self.elapsed())):
                return
            if event.apply:
                self.backend.apply(event.fault_id, event.fault)
                self.stage = event.fault.note or f"{event.fault.kind} {event.fault_id}"
            else:
                self.backend.clear(event.fault_id)
                self.stage = (f"Lifted: {event.fault_id}" if self.backend.active
                              else "Restoration: every fault lifted; outages close as probes succeed")
            if not self.console.is_terminal:
                self._say(self.stage)

    def _say(self, line: str) -> None:
        self.console.print(f"[{self.elapsed():5.1f} s] {line}", highlight=False, soft_wrap=True)

    def _frame(self) -> RenderableType:
        title = f"[{self.elapsed():5.1f} / {self.scenario.duration_s:g} s] {self.stage}"
        return screen(title, self.backend.topology, self.latest.snapshot(), self.outages, datetime.now(UTC))


def finish(console: Console, workdir: Path, run: DemoRun) -> None:
    """Print the outage table and export each vantage's stored outages (CSV and CODF)."""
    for table in outages_tables(run.outages, datetime.now(UTC)):
        console.print(table)
    for vantage in run.agents:
        folder = workdir / vantage
        store = Store(db_path(folder / "data"))
        exports = {ExportFormat.CSV: folder / "outages.csv", ExportFormat.CODF: folder / "outages.codf.json"}
        for fmt, path in exports.items():
            with path.open("wb") as out:
                export_outages(store, OutageFilter(), fmt, out, lambda: datetime.now(UTC))
        console.print(f"{vantage}: measurements (JSON Lines) {folder / 'measurements.jsonl'}")
        for fmt, path in exports.items():
            console.print(f"{vantage}: outages ({fmt.value}) {path}")
        console.print(f"{vantage}: list them again: netwatch outages --data-dir {folder / 'data'}")
