"""Run one scenario end to end: lab up, real agents per vantage, faults on cue, outages collected.

``run_scenario(scenario, backend, workdir)``:

1. brings the backend up and starts one ``netwatch run`` agent per vantage (``agents.LabAgent``);
2. waits ``warmup_s`` (default ``WARMUP_INTERVALS`` probe intervals) so targets have states and
   latency baselines; the wall-clock moment after it is scenario second 0 (``RunResult.t0``), and
   truth times map to ``t0 + seconds``;
3. plays ``scenario.events()`` at their times on the wall clock (the one measurements carry),
   recording when each took effect (``played``), then lets the run last ``duration_s``;
4. stops the agents (SIGTERM: each flushes its detector and store), always tears the backend
   down — also on an exception, Ctrl-C, SIGTERM or SIGHUP — and reads each vantage's outages from
   its store;
5. writes ``workdir/result.json`` (``RunResult.save``), which ``netwatch lab score`` reads.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from netwatch.lab.agents import LabAgent, agent_config
from netwatch.lab.backend import Backend
from netwatch.lab.scenario import Scenario, ScenarioError, load_scenario, shipped_scenarios
from netwatch.model import Outage
from netwatch.store import Store, db_path

WARMUP_INTERVALS = 12
RESULT_FILE = "result.json"
Say = Callable[[str], None]


class Interrupted(Exception):
    """SIGTERM or SIGHUP arrived during a run (Ctrl-C raises ``KeyboardInterrupt`` as usual)."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one run produced. ``t0``: the UTC moment of scenario second 0; ``outages``: each
    vantage's stored outage records; ``played``: ``(scenario second it took effect, "apply" |
    "clear", fault id)`` per event, from the monotonic clock."""

    scenario: str
    source: str
    backend: str
    t0: datetime
    interval_s: float
    duration_s: float
    outages: dict[str, list[Outage]]
    played: list[tuple[float, str, str]] = field(default_factory=list)

    def at(self, scenario_s: float) -> datetime:
        """The wall-clock (UTC) moment of scenario second ``scenario_s``."""
        return self.t0 + timedelta(seconds=scenario_s)

    def save(self, folder: Path) -> Path:
        path = folder / RESULT_FILE
        data = {
            "scenario": self.scenario, "source": self.source, "backend": self.backend,
            "t0": self.t0.isoformat(), "interval_s": self.interval_s, "duration_s": self.duration_s,
            "outages": {v: [o.to_dict() for o in found] for v, found in self.outages.items()},
            "played": [list(item) for item in self.played],
        }
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: Path) -> RunResult:
        """Read ``folder/result.json``; ``OSError``/``ValueError``/``KeyError`` when unusable."""
        data = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
        return cls(
            scenario=data["scenario"], source=data["source"], backend=data["backend"],
            t0=datetime.fromisoformat(data["t0"]), interval_s=float(data["interval_s"]),
            duration_s=float(data["duration_s"]),
            outages={v: [Outage.from_dict(o) for o in found] for v, found in data["outages"].items()},
            played=[(float(at), str(change), str(fid)) for at, change, fid in data["played"]],
        )


def find_scenario(name_or_path: str) -> tuple[Scenario, Path]:
    """A shipped scenario by name (``regional_cut``) or a scenario file by path."""
    path = Path(name_or_path)
    if not path.is_file():
        shipped = {p.stem: p for p in shipped_scenarios()}
        if name_or_path not in shipped:
            raise ScenarioError(f"{name_or_path}: no such file or shipped scenario "
                                f"(shipped: {', '.join(sorted(shipped))})")
        path = shipped[name_or_path]
    return load_scenario(path), path


def run_scenario(scenario: Scenario, backend: Backend, workdir: Path, *, source: str = "",
                 warmup_s: float | None = None, say: Say = lambda _line: None) -> RunResult:
    """Run ``scenario`` on ``backend`` (fresh, not yet up); see the module docstring. Raises
    ``Interrupted``/``KeyboardInterrupt`` when stopped early, after tearing everything down."""
    interval = scenario.probe_interval_s
    warmup = WARMUP_INTERVALS * interval if warmup_s is None else warmup_s
    workdir.mkdir(parents=True, exist_ok=True)
    topology = backend.topology
    agents = [LabAgent(v.id, topology.network(v.network).position, workdir / v.id)
              for v in topology.vantages]
    played: list[tuple[float, str, str]] = []
    with _signals_interrupt():
        try:
            backend.up()
            say(f"lab up ({backend.name}); starting {len(agents)} agents")
            for agent in agents:
                config = agent_config(backend, agent.vantage_id, interval, agent.folder, _free_port())
                agent.start(backend.agent_prefix(agent.vantage_id), config, backend.allowed_networks)
            warm = time.monotonic() + warmup
            _wait(lambda: warm - time.monotonic(), agents)
            t0 = datetime.now(UTC)
            say(f"warm-up done ({warmup:g} s); scenario second 0 = {t0.isoformat()}")
            for event in scenario.events():
                _wait(_until_second(t0, event.at), agents)
                if event.apply:
                    backend.apply(event.fault_id, event.fault)
                else:
                    backend.clear(event.fault_id)
                change = "apply" if event.apply else "clear"
                played.append((round(_scenario_second(t0), 3), change, event.fault_id))
                say(f"[{event.at:6.1f} s] {change} {event.fault_id}")
            _wait(_until_second(t0, scenario.duration_s), agents)
        finally:
            for agent in agents:
                agent.stop()
            backend.down()
    outages = {agent.vantage_id: _stored_outages(agent.data_dir) for agent in agents}
    result = RunResult(scenario.name, source, backend.name, t0, interval, scenario.duration_s,
                       outages, played)
    result.save(workdir)
    return result


def _wait(seconds_left: Callable[[], float], agents: list[LabAgent]) -> None:
    """Sleep until ``seconds_left()`` is no longer positive, checking every second that the agents
    still run."""
    while (left := seconds_left()) > 0:
        time.sleep(min(left, 1.0))
        for agent in agents:
            agent.check_alive()


def _scenario_second(t0: datetime) -> float:
    """Scenario time now: wall-clock seconds since ``t0``. The agents stamp measurements with the
    wall clock, so faults are timed and recorded on it too: a clock stepped or slewed during a
    run (a virtual machine paused and resumed) then shifts faults and measurements alike instead
    of pulling them apart."""
    return (datetime.now(UTC) - t0).total_seconds()


def _until_second(t0: datetime, second: float) -> Callable[[], float]:
    """Seconds left until scenario second ``second`` (for ``_wait``)."""
    return lambda: second - _scenario_second(t0)


def _stored_outages(data_dir: Path) -> list[Outage]:
    path = db_path(data_dir)
    if not path.exists():
        return []
    store, found, cursor = Store(path), [], None
    while True:
        page = store.outages(limit=500, cursor=cursor)
        found += page.outages
        if (cursor := page.next_cursor) is None:
            return sorted(found, key=lambda o: (o.started_at, o.id))


def _free_port() -> int:
    """A free loopback port for an agent's /metrics (needed when agents share a namespace)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """While inside: SIGTERM and SIGHUP raise ``Interrupted`` so ``finally`` blocks tear down."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: FrameType | None) -> Any:
        raise Interrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
