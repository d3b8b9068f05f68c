"""``netwatch demo``: a simulated Kazakhstan on loopback, probed, broken and restored in 90 seconds.

Real DNS and HTTPS servers stand in for Kazakh services on their own 127.x addresses; a real
agent (scheduler, probes, metrics, detector, store) probes them while a timeline of faults plays:
a regional cut in Mangystau, DNS tampering of a messenger, a national cut under an allow-list,
then restoration. No root, no internet: the egress allowlist is loopback only.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, RenderableType
from rich.live import Live

from netwatch.config import Config
from netwatch.demo_view import screen
from netwatch.detect import Event, Thresholds
from netwatch.egress import EgressPolicy
from netwatch.export import ExportFormat, export_outages
from netwatch.lab.loopback import LoopbackWorld, Site
from netwatch.model import Labels, Measurement, NetworkType, Outage, OutageEvent, Position, Role, Vantage
from netwatch.outage_table import outage_table
from netwatch.store import OutageFilter, Store
from netwatch.store.schema import db_path
from netwatch.timefmt import local_text, utc_text
from probes.env import ProbeEnv

if TYPE_CHECKING:
    from netwatch.app import Agent

KZ = "KZ"
FIXED, MOBILE, HOSTING, STATE = NetworkType.FIXED, NetworkType.MOBILE, NetworkType.HOSTING, NetworkType.STATE


# host, address, region (ISO 3166-2:KZ), ASN, operator, network type, category
_KZ_SITES = (
    ("egov.kz", "127.0.1.10", "KZ-71", "9198", "Kazakhtelecom", STATE, "government"),
    ("kaspi.kz", "127.0.1.11", "KZ-75", "31465", "PS Internet", HOSTING, "bank"),
    ("tengrinews.kz", "127.0.1.12", "KZ-75", "31465", "PS Internet", HOSTING, "news"),
    ("informburo.kz", "127.0.1.13", "KZ-75", "31465", "PS Internet", HOSTING, "news"),
    ("telecom.kz", "127.0.1.14", "KZ-75", "9198", "Kazakhtelecom", FIXED, "telecom"),
    ("kcell.kz", "127.0.1.15", "KZ-75", "29355", "Kcell", MOBILE, "telecom"),
    ("beeline.kz", "127.0.1.16", "KZ-75", "21299", "Beeline", MOBILE, "telecom"),
    ("lada.kz", "127.0.1.17", "KZ-47", "9198", "Kazakhtelecom", FIXED, "news"),
    ("aktau-akimat.kz", "127.0.1.18", "KZ-47", "9198", "Kazakhtelecom", STATE, "government"),
    ("telegram.org", "127.0.1.19", "", "", "", HOSTING, "messaging"),
)
_CONTROL_SITES = (("example.org", "127.0.9.1"), ("example.net", "127.0.9.2"))
SITES: tuple[Site, ...] = (
    *(
        Site(host, address, Labels(KZ, region, asn, operator, net, category))
        for host, address, region, asn, operator, net, category in _KZ_SITES
    ),
    *(Site(host, address, Labels(network_type=HOSTING, category="control", role=Role.CONTROL))
      for host, address in _CONTROL_SITES),
)
ALLOW_LIST = ("kaspi.kz", "tengrinews.kz")
VANTAGE = Vantage("demo-outside-1", Position.OUTSIDE)
INTERVAL_S = 2.0
TIMEOUT_S = 1.5
# The defaults suit 60 s probes; the demo probes every 2 s, so every time-valued threshold is
# compressed by the same factor of 30 (counts and shares stay as they are).
DEMO_THRESHOLDS = Thresholds(
    small_group_hold_s=20.0,
    baseline_bin_s=20.0,
    baseline_window_s=2880.0,
    layer_settle_s=10.0,
    incident_gap_s=1440.0,
)


@dataclass(frozen=True, slots=True)
class Step:
    """At ``at`` (a fraction of the run), apply ``fault`` (a ``LoopbackWorld`` method) to ``hosts``."""

    at: float
    fault: str
    hosts: tuple[str, ...]
    say: str


def _kz_hosts(*, sparing: Sequence[str] = ()) -> tuple[str, ...]:
    return tuple(s.host for s in SITES if s.labels.country == KZ and s.host not in sparing)


TIMELINE: tuple[Step, ...] = (
    Step(0.15, "cut", ("lada.kz", "aktau-akimat.kz"), "Mangystau (KZ-47) cut: its sites stop answering"),
    Step(0.25, "tamper_dns", ("telegram.org",),
         "DNS tampering: the resolver answers 0.0.0.0 for telegram.org"),
    Step(0.40, "cut", _kz_hosts(sparing=ALLOW_LIST),
         "National cut under an allow-list: only kaspi.kz and tengrinews.kz answer; DNS keeps working"),
    Step(0.80, "restore", _kz_hosts(), "Restoration: every site answers again"),
)


class LatestResults:
    """A measurement listener keeping each target's latest measurement (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, Measurement] = {}

    def __call__(self, measurement: Measurement) -> None:
        with self._lock:
            self._latest[measurement.target_id] = measurement

    def snapshot(self) -> dict[str, Measurement]:
        with self._lock:
            return dict(self._latest)


class OutageLog:
    """Every outage record seen in the detector's events, latest version per id, in start order."""

    def __init__(self) -> None:
        self._by_id: dict[str, Outage] = {}
        self._seen: set[tuple[str, str, datetime, str]] = set()

    def update(self, events: Iterable[Event], announce: Callable[[str], None] | None = None) -> None:
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
                    f"({local_text(moment)} Asia/Almaty)"
                )

    @property
    def outages(self) -> list[Outage]:
        return sorted(self._by_id.values(), key=lambda o: (o.started_at, o.id))


def demo_config(world: LoopbackWorld, workdir: Path, port: int) -> Config:
    """An agent config for the demo: one outside vantage, loopback only, everything in ``workdir``."""
    loopback = EgressPolicy.loopback()
    return Config(
        source=None,
        vantage=VANTAGE,
        egress=loopback,
        # The lab CA is trusted; loopback answers are the simulated sites' real addresses.
        probe_env=ProbeEnv(egress=loopback, ca_file=world.ca_file, bogon_exempt=loopback.networks),
        targets=tuple(world.targets(INTERVAL_S, TIMEOUT_S)),
        listen_port=port,
        concurrency=16,
        jitter_s=0.2,
        measurements_out=workdir / "measurements.jsonl",
        data_dir=workdir / "data",
        detection=DEMO_THRESHOLDS,
    )


def default_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="netwatch-demo-"))


def run_demo(duration_s: float, port: int, workdir: Path, console: Console) -> int:
    """Run the demo for ``duration_s`` seconds; serve metrics on ``port`` (busy: any free port);
    leave measurements, the store and outage exports in ``workdir``. Returns an exit code."""
    from netwatch.app import Agent, configure_logging  # noqa: PLC0415  (uvicorn: load only when run)
    from probes import PROBES  # noqa: PLC0415

    configure_logging(logging.WARNING)
    workdir.mkdir(parents=True, exist_ok=True)
    latest = LatestResults()
    with LoopbackWorld(SITES, workdir) as world:
        config = demo_config(world, workdir, port)
        try:
            agent = Agent(config, PROBES, listeners=[latest])
        except OSError:  # the port is taken: any free port will do for a demo
            agent = Agent(dataclasses.replace(config, listen_port=0), PROBES, listeners=[latest])
        console.print(
            f"netwatch demo: {len(SITES)} simulated sites on 127.0.x.x, {len(config.targets)} probes "
            f"every {INTERVAL_S:g} s, {duration_s:g} s in all; files in {workdir}"
        )
        run = DemoRun(console, agent, world, latest, duration_s)
        agent.start()
        console.print(f"metrics: {agent.server.url}/metrics   health: {agent.server.url}/healthz")
        try:
            run.play_and_watch()
        finally:
            agent.stop()
        run.collect()
    finish(console, workdir, config.data_dir, run.outages)
    return 0


class DemoRun:
    """Plays the timeline against the world while showing the agent's results."""

    def __init__(self, console: Console, agent: Agent, world: LoopbackWorld, latest: LatestResults,
                 duration_s: float) -> None:
        self.console = console
        self.agent = agent
        self.world = world
        self.latest = latest
        self.duration_s = duration_s
        self.outages = OutageLog()
        self.stage = "Normal operation"
        self._started = time.monotonic()
        self._stop = threading.Event()

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def collect(self) -> None:
        """Take in the detector's latest events; on a plain terminal, announce outages as lines."""
        announce = None if self.console.is_terminal else self._say
        self.outages.update(self.agent.detection.recent_events(), announce)

    def play_and_watch(self) -> None:
        self._started = time.monotonic()
        player = threading.Thread(target=self._play, name="demo-timeline", daemon=True)
        player.start()
        try:
            if self.console.is_terminal:
                with Live(self._frame(), console=self.console, refresh_per_second=4) as live:
                    while self.elapsed() < self.duration_s:
                        self.collect()
                        live.update(self._frame())
                        time.sleep(0.25)
            else:
                while self.elapsed() < self.duration_s:
                    self.collect()
                    time.sleep(0.25)
        except KeyboardInterrupt:
            self.console.print("interrupted; stopping")
        finally:
            self._stop.set()
            player.join()

    def _play(self) -> None:
        faults: dict[str, Callable[[Sequence[str]], None]] = {
            "cut": self.world.cut,
            "tamper_dns": self.world.tamper_dns,
            "block": self.world.block,
            "intercept_tls": self.world.intercept_tls,
            "restore": self.world.restore,
        }
        for step in TIMELINE:
            if self._stop.wait(max(0.0, step.at * self.duration_s - self.elapsed())):
                return
            faults[step.fault](step.hosts)
            self.stage = step.say
            if not self.console.is_terminal:
                self._say(step.say)

    def _say(self, line: str) -> None:
        self.console.print(f"[{self.elapsed():5.1f} s] {line}", highlight=False)

    def _frame(self) -> RenderableType:
        title = f"[{self.elapsed():5.1f} / {self.duration_s:g} s] {self.stage}"
        return screen(title, SITES, self.latest.snapshot(), self.outages.outages, datetime.now(UTC))


def finish(console: Console, workdir: Path, data_dir: Path, outages: OutageLog) -> None:
    """Print the outage table and export the stored outages (CSV and CODF) beside the measurements."""
    store = Store(db_path(data_dir))
    exports = {ExportFormat.CSV: workdir / "outages.csv", ExportFormat.CODF: workdir / "outages.codf.json"}
    for fmt, path in exports.items():
        with path.open("wb") as out:
            export_outages(store, OutageFilter(), fmt, out, lambda: datetime.now(UTC))
    console.print(outage_table(outages.outages, datetime.now(UTC)))
    console.print(f"measurements (JSON Lines): {workdir / 'measurements.jsonl'}")
    for fmt, path in exports.items():
        console.print(f"outages ({fmt.value}): {path}")
    console.print(f"list them again: netwatch outages --data-dir {data_dir}")
