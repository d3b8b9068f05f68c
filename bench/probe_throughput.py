"""Probe engine benchmark: probes/s and CPU per 1,000 probes, against blackbox_exporter, and agent scale.

    python bench/probe_throughput.py            # full run, ~16 minutes
    python bench/probe_throughput.py --quick    # ~6 minutes: fewer cells, shorter agent runs
    python bench/probe_throughput.py --no-agent # throughput tables only

Part 1, per probe kind (dns, tcp, http, https) and concurrency level, against loopback servers
that answer at once ("instant") and ``--delay`` seconds late ("slow", as a Kazakh endpoint seen
from abroad): probes per second and CPU seconds per 1,000 probes of netwatch — ``run_probe`` (the
probe and its measurement envelope) plus ``Metrics.observe`` (rendering the target's series), on
``concurrency`` threads of this process, CPU from ``getrusage`` — and of blackbox_exporter driven
through ``/probe`` at the same concurrency, CPU from ``/proc/<pid>/stat`` (its HTTP handling and
metrics rendering included). Both probe the same addresses: no name resolution (IP-literal
targets), one A query for DNS, one GET with the lab CA trusted for HTTPS.

Part 2 (``bench/agent_run.py``): an agent with 10,000 targets at 60 s, run twice: the probe engine
alone (``bench/engine_agent.py``: scheduler, runner, metrics, HTTP) and the real ``netwatch run``
(the same plus the SQLite store and live detection).

The servers run in a separate process (``bench/loopback_servers.py``) so their CPU is not
counted. All traffic stays on 127.0.0.1; every part has a time limit, so the run stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests
from prometheus_client import CollectorRegistry

import netwatch
from netwatch.metrics import Metrics
from netwatch.model import Labels, NetworkType, Position, Target, Vantage
from netwatch.runner import run_probe
from probes import PROBES, dns, http, tcp
from probes.dnsquery import ResolverSpec
from probes.env import loopback_env

sys.path.insert(0, str(Path(__file__).parent))
import agent_run
from blackbox import Blackbox, ensure_installed

KINDS = ("dns", "tcp", "http", "https")
VANTAGE = Vantage("bench", Position.OUTSIDE)


@dataclass(frozen=True, slots=True)
class Result:
    """One side of one cell: ``probes`` completed in ``wall_s`` using ``cpu_s``; ``failed`` of them failed."""

    probes: int
    failed: int
    wall_s: float
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.probes / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_per_k(self) -> float:
        return 1000 * self.cpu_s / self.probes if self.probes else float("nan")


@dataclass(frozen=True, slots=True)
class Cell:
    mode: str  # "instant" or "slow"
    kind: str
    concurrency: int
    netwatch: Result
    blackbox: Result | None


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def drive(
    work: Callable[[threading.local], bool],
    count: int,
    concurrency: int,
    cpu: Callable[[], float],
    time_cap_s: float,
) -> Result:
    """Run ``work`` ``count`` times on ``concurrency`` threads (fewer if ``time_cap_s`` runs out).

    ``work`` gets a per-thread ``threading.local`` (for sessions) and returns whether the probe
    succeeded. ``cpu`` is sampled before the threads start and after they all finish.
    """
    lock = threading.Lock()
    issued = done = failed = 0
    give_up = time.monotonic() + time_cap_s

    def worker() -> None:
        nonlocal issued, done, failed
        local = threading.local()
        while True:
            with lock:
                if issued >= count or time.monotonic() > give_up:
                    return
                issued += 1
            ok = work(local)
            with lock:
                done += 1
                failed += not ok

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    cpu_before, started = cpu(), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Result(done, failed, time.monotonic() - started, cpu() - cpu_before)


@contextmanager
def loopback_servers(workdir: Path, delay_s: float, names: int) -> Iterator[dict[str, Any]]:
    """Start ``loopback_servers.py`` in its own process; yields its ``{"host", "ports", ...}``."""
    script = Path(__file__).with_name("loopback_servers.py")
    ca_file = workdir / "lab-ca.pem"
    process = subprocess.Popen(
        [
            sys.executable,
            str(script),
            "--delay",
            str(delay_s),
            "--ca-out",
            str(ca_file),
            "--names",
            str(names),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("loopback servers failed to start")
        info: dict[str, Any] = json.loads(line)
        info["ca_file"] = str(ca_file)
        info["pid"] = process.pid
        yield info
    finally:
        if process.stdin is not None:
            process.stdin.close()  # the servers' signal to stop
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class Targets:
    """The same endpoints as netwatch targets and as blackbox ``target=`` values."""

    def __init__(self, servers: dict[str, Any]) -> None:
        self.host: str = servers["host"]
        self.ports: dict[str, int] = servers["ports"]

    def _port(self, kind: str, mode: str) -> int:
        return self.ports[kind if mode == "instant" else f"{kind}_slow"]

    def available(self, kind: str, mode: str) -> bool:
        return (kind if mode == "instant" else f"{kind}_slow") in self.ports

    def netwatch(self, kind: str, mode: str) -> Target:
        port = self._port(kind, mode)
        params: Any
        if kind == "dns":
            resolver = ResolverSpec(address=self.host, port=port, label="bench")
            params = dns.Params(name="bench.kz", qtypes=("A",), resolvers=(resolver,))
        elif kind == "tcp":
            params = tcp.Params(host=self.host, port=port)
        else:
            params = http.Params(url=f"{kind}://{self.host}:{port}/")
        labels = Labels(
            country="KZ",
            region="KZ-75",
            asn="9198",
            operator="Kazakhtelecom",
            network_type=NetworkType.FIXED,
            category="news",
        )
        return Target(
            id=f"bench-{kind}-{mode}",
            kind="http" if kind == "https" else kind,
            params=params,
            labels=labels,
            interval_s=60.0,
            timeout_s=10.0,
        )

    def blackbox(self, kind: str, mode: str) -> str:
        port = self._port(kind, mode)
        if kind in ("dns", "tcp"):
            return f"{self.host}:{port}"
        return f"{kind}://{self.host}:{port}/"


def netwatch_work(target: Target, env: Any, metrics: Metrics) -> Callable[[threading.local], bool]:
    def work(_local: threading.local) -> bool:
        measurement = run_probe(target, PROBES, env, VANTAGE)
        metrics.observe(measurement)
        return measurement.ok

    return work


def blackbox_work(url: str) -> Callable[[threading.local], bool]:
    def work(local: threading.local) -> bool:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        try:
            response = session.get(url, timeout=30)
        except requests.RequestException:
            return False
        return response.status_code == 200 and b"\nprobe_success 1\n" in response.content

    return work


def probe_count(mode: str, concurrency: int, args: argparse.Namespace) -> int:
    """Instant cells run ``--probes``; slow ones about 8 rounds per worker (at least 40)."""
    if mode == "instant":
        return int(args.probes)
    return int(min(args.probes, max(40, 8 * concurrency)))


def run_throughput(args: argparse.Namespace, servers: dict[str, Any], workdir: Path) -> list[Cell]:
    targets = Targets(servers)
    env = loopback_env(servers["ca_file"])
    metrics = Metrics(CollectorRegistry(), netwatch.__version__)
    modes = ("instant", "slow")
    metrics.set_targets(targets.netwatch(k, m) for k in KINDS for m in modes if targets.available(k, m))

    blackbox: Blackbox | None = None
    if args.blackbox:
        binary, why = ensure_installed()
        if binary is None:
            print(f"NOTE: {why}", flush=True)
        else:
            blackbox = Blackbox(binary, workdir, servers["ca_file"], "bench.kz")
    cells: list[Cell] = []
    try:
        # Warm-up: imports, TLS contexts, connection pools, the exporter's first requests.
        for kind in KINDS:
            drive(netwatch_work(targets.netwatch(kind, "instant"), env, metrics), 20, 4, own_cpu_s, 10)
            if blackbox is not None:
                drive(
                    blackbox_work(blackbox.probe_url(kind, targets.blackbox(kind, "instant"))),
                    20,
                    4,
                    blackbox.cpu_s,
                    10,
                )
        for mode in modes:
            for kind in KINDS:
                if not targets.available(kind, mode):
                    continue
                for concurrency in args.concurrency:
                    count = probe_count(mode, concurrency, args)
                    target = targets.netwatch(kind, mode)
                    ours = drive(
                        netwatch_work(target, env, metrics), count, concurrency, own_cpu_s, args.cell_cap
                    )
                    theirs = None
                    if blackbox is not None:
                        url = blackbox.probe_url(kind, targets.blackbox(kind, mode))
                        theirs = drive(blackbox_work(url), count, concurrency, blackbox.cpu_s, args.cell_cap)
                    cell = Cell(mode, kind, concurrency, ours, theirs)
                    cells.append(cell)
                    print(format_row(cell), flush=True)
    finally:
        if blackbox is not None:
            blackbox.stop()
    return cells


HEADER = (
    f"{'mode':<8} {'kind':<5} {'conc':>4} │ {'nw probes/s':>11} {'nw CPU s/1k':>11} {'nw fail':>7} │ "
    f"{'bb probes/s':>11} {'bb CPU s/1k':>11} {'bb fail':>7} │ {'bb/nw CPU':>9}"
)


def format_row(cell: Cell) -> str:
    nw, bb = cell.netwatch, cell.blackbox
    left = f"{cell.mode:<8} {cell.kind:<5} {cell.concurrency:>4} │ "
    left += f"{nw.rate:>11.0f} {nw.cpu_per_k:>11.3f} {nw.failed:>7}"
    if bb is None:
        return f"{left} │ {'-':>11} {'-':>11} {'-':>7} │ {'-':>9}"
    ratio = bb.cpu_per_k / nw.cpu_per_k if nw.cpu_per_k > 0 else float("nan")
    return f"{left} │ {bb.rate:>11.0f} {bb.cpu_per_k:>11.3f} {bb.failed:>7} │ {ratio:>8.2f}x"


def summary(cells: list[Cell]) -> list[str]:
    """Per kind, over every cell: total CPU / total probes of each side, and the ratio."""
    lines = [
        f"{'kind':<5} │ {'probes':>7} {'nw CPU s/1k':>11} │ {'bb CPU s/1k':>11} │ {'bb/nw':>6} │ verdict"
    ]
    for kind in KINDS:
        mine = [c for c in cells if c.kind == kind]
        if not mine:
            continue
        nw_probes = sum(c.netwatch.probes for c in mine)
        nw = 1000 * sum(c.netwatch.cpu_s for c in mine) / max(nw_probes, 1)
        theirs = [c.blackbox for c in mine if c.blackbox is not None]
        if not theirs:
            lines.append(
                f"{kind:<5} │ {nw_probes:>7} {nw:>11.3f} │ {'-':>11} │ {'-':>6} │ no blackbox figure"
            )
            continue
        bb = 1000 * sum(r.cpu_s for r in theirs) / max(sum(r.probes for r in theirs), 1)
        verdict = "netwatch cheaper" if nw < bb else "netwatch MORE expensive"
        lines.append(f"{kind:<5} │ {nw_probes:>7} {nw:>11.3f} │ {bb:>11.3f} │ {bb / nw:>5.2f}x │ {verdict}")
    return lines


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"netwatch {netwatch.__version__}, load average {load}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer cells and probes, a short agent run")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=None, help="levels (default 1 16 64 256)"
    )
    parser.add_argument("--probes", type=int, default=None, help="probes per instant cell (default 2000)")
    parser.add_argument(
        "--delay", type=float, default=0.2, help="lateness of the slow servers, s (default 0.2)"
    )
    parser.add_argument("--cell-cap", type=float, default=30.0, help="time limit of one cell side, s")
    parser.add_argument("--no-blackbox", dest="blackbox", action="store_false", help="skip blackbox_exporter")
    parser.add_argument("--no-throughput", dest="throughput", action="store_false", help="skip part 1")
    parser.add_argument("--no-agent", dest="agent", action="store_false", help="skip part 2 (agent scale)")
    agent_run.add_arguments(parser)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    if args.concurrency is None:
        args.concurrency = [1, 64] if args.quick else [1, 16, 64, 256]
    if args.probes is None:
        args.probes = 600 if args.quick else 2000
    agent_run.apply_quick(args)

    print(f"machine: {machine()}")
    report: dict[str, Any] = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}}
    with (
        tempfile.TemporaryDirectory(prefix="netwatch-bench-") as tmp,
        loopback_servers(Path(tmp), args.delay, agent_run.DNS_NAMES) as servers,
    ):
        print(
            f"servers (pid {servers['pid']}): {servers['ports']}, slow ones {args.delay * 1000:.0f} ms late"
        )
        print("slow tcp: n/a (a loopback TCP handshake cannot be delayed without netem)\n")
        if args.throughput:
            print(HEADER)
            cells = run_throughput(args, servers, Path(tmp))
            print("\nper kind, all cells together (CPU seconds per 1,000 probes):")
            print("\n".join(summary(cells)))
            report["cells"] = [asdict(cell) for cell in cells]
        if args.agent:
            print()
            report["agent"] = agent_run.run(args, servers, Path(tmp))
    print(f"\nend: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
