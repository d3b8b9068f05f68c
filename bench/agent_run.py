"""Agent scale: an agent holding 10,000 targets at a 60 s interval, in its own process, seen from outside.

Used by ``bench/probe_throughput.py`` (part 2). It writes a config of ``--agent-targets`` targets
(30% dns, 30% tcp, 30% http, 10% https; names ``site<N>.bench.kz`` resolved through the lab DNS
server, so http(s) probes ask A and AAAA first; labels spread over 20 regions, 20 ASNs and 12
categories), runs the agent as its own process — ``bench/engine_agent.py`` (the probe engine
alone) and/or ``python -m netwatch run`` (plus store and live detection), ``--agent-modes`` —
and reads from the outside:

- CPU (cores) from ``/proc/<pid>/stat`` over the steady-state window (after ``--agent-warmup``);
  ``/metrics`` is fetched every 15 s meanwhile, as Prometheus would, and that is included;
- RSS now and peak (``VmRSS``/``VmHWM`` of ``/proc/<pid>/status``);
- probes/s from ``netwatch_measurements_total`` and scheduler lag and skipped runs from the
  agent's own metrics, as deltas over the window;
- ``/metrics``: p50/p95 over repeated GETs of the real endpoint (while probing goes on), and bytes.

The agent gets SIGTERM at the end (and SIGKILL if it has not stopped 30 s later).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
from blackbox import free_port, process_cpu_s
from synthetic_labels import CATEGORIES

from netwatch.catalog.regions import KZ_REGIONS

DNS_NAMES = 4000
"""Names ``site<N>.bench.kz`` the loopback DNS server must know (targets reuse them modulo this)."""
NETWORK_TYPES = ("fixed", "mobile", "hosting", "ixp", "state")
SCRAPE_EVERY_S = 15.0
COMMANDS = {
    "engine": [str(Path(__file__).with_name("engine_agent.py"))],
    "full": ["-m", "netwatch", "run", "--config"],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("agent scale (part 2)")
    group.add_argument("--agent-targets", type=int, default=10_000, help="targets (default 10000)")
    group.add_argument("--agent-interval", type=float, default=60.0, help="probe interval, s (default 60)")
    group.add_argument(
        "--agent-duration", type=float, default=None, help="total run, s (default 240; quick 100)"
    )
    group.add_argument(
        "--agent-warmup", type=float, default=None, help="not measured, s (default 60; quick 40)"
    )
    group.add_argument("--agent-concurrency", type=int, default=64, help="probing.concurrency (default 64)")
    group.add_argument(
        "--agent-modes",
        nargs="+",
        choices=tuple(COMMANDS),
        default=list(COMMANDS),
        help="engine: bench/engine_agent.py (scheduler, runner, metrics, HTTP); "
        "full: netwatch run (plus store and live detection). Default: both, one after the other",
    )
    group.add_argument("--profile", action="store_true", help="py-spy the agent: CPU share by part")
    group.add_argument("--metrics-gets", type=int, default=40, help="timed GETs of /metrics (default 40)")


def apply_quick(args: argparse.Namespace) -> None:
    if args.agent_duration is None:
        args.agent_duration = 100.0 if args.quick else 240.0
    if args.agent_warmup is None:
        args.agent_warmup = 40.0 if args.quick else 60.0


def target_lines(count: int, ports: dict[str, int], host: str) -> list[str]:
    """One flow-style YAML mapping per target."""
    regions = sorted(KZ_REGIONS)
    lines = []
    for n in range(count):
        share = n % 10
        name = f"site{n % DNS_NAMES}.bench.kz"
        resolvers = f"[{{address: {host}, port: {ports['dns']}, label: isp}}]"
        if share < 3:
            kind, params = "dns", f"{{name: {name}, resolvers: {resolvers}}}"
        elif share < 6:
            kind, params = "tcp", f"{{host: {host}, port: {ports['tcp']}}}"
        elif share < 9:
            kind, params = "http", f"{{url: 'http://{name}:{ports['http']}/', resolvers: {resolvers}}}"
        else:
            kind, params = "http", f"{{url: 'https://{name}:{ports['https']}/', resolvers: {resolvers}}}"
        labels = (
            f"{{country: KZ, region: {regions[n % len(regions)]}, asn: {9198 + n % 20}, "
            f"operator: op{n % 20}, network_type: {NETWORK_TYPES[n % 5]}, "
            f"category: {CATEGORIES[n % 12]}, role: subject}}"
        )
        lines.append(f"  - {{id: t{n:05d}-{kind}, kind: {kind}, params: {params}, labels: {labels}}}")
    return lines


def write_config(path: Path, args: argparse.Namespace, servers: dict[str, Any], port: int) -> None:
    interval = args.agent_interval
    head = f"""\
vantage: {{id: bench-agent, position: outside}}
allowed_networks: ["127.0.0.0/8"]
listen: {{address: 127.0.0.1, port: {port}}}
probing:
  interval: {interval}
  timeout: {min(10.0, interval)}
  jitter: 5
  concurrency: {args.agent_concurrency}
  ca_file: {servers["ca_file"]}
  bogon_exempt_networks: ["127.0.0.0/8"]
targets:
"""
    body = target_lines(args.agent_targets, servers["ports"], servers["host"])
    path.write_text(head + "\n".join(body) + "\n", encoding="utf-8")


def rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            values[key] = int(value.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def self_figures(text: str) -> dict[str, float]:
    """The agent's self metrics (every family except per-target ones), by ``name{labels}``."""
    figures: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("netwatch_probe_") or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match:
            figures[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return figures


def success_by_kind(text: str) -> dict[str, Counter[str]]:
    tally: dict[str, Counter[str]] = {}
    for line in text.splitlines():
        if line.startswith("netwatch_probe_success{"):
            kind = line.split('kind="', 1)[1].split('"', 1)[0]
            ok = float(line.rsplit(" ", 1)[1]) == 1
            tally.setdefault(kind, Counter())["ok" if ok else "failed"] += 1
    return tally


def lag_quantiles(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Mean and bucket-bound p50/p95/p99 of ``netwatch_scheduler_lag_seconds`` over the window."""
    name = "netwatch_scheduler_lag_seconds"
    buckets = []
    for key, value in after.items():
        if key.startswith(name + "_bucket{"):
            bound = key.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(bound), value - before.get(key, 0.0)))
    buckets.sort()
    count = after.get(name + "_count", 0.0) - before.get(name + "_count", 0.0)
    total = after.get(name + "_sum", 0.0) - before.get(name + "_sum", 0.0)
    result = {"runs": count, "mean_s": total / count if count else float("nan")}
    for q in (0.5, 0.95, 0.99):
        result[f"p{int(q * 100)}_le_s"] = next(
            (b for b, c in buckets if count and c >= q * count), float("nan")
        )
    return result


def skipped(figures: dict[str, float]) -> dict[str, float]:
    prefix = "netwatch_scheduler_skipped_runs_total{"
    return {k.split('"')[1]: v for k, v in figures.items() if k.startswith(prefix)}


def fetch_metrics(port: int, limit_s: float = 30.0) -> tuple[float, bytes]:
    """GET ``/metrics`` over a raw socket within ``limit_s`` seconds in all: (seconds, body).

    Raises ``TimeoutError`` past the limit, so a starved agent cannot stall the benchmark.
    """
    started = time.perf_counter()
    give_up = started + limit_s
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=limit_s) as conn:
        conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        while True:
            left = give_up - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"/metrics took longer than {limit_s} s")
            conn.settimeout(left)
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    elapsed = time.perf_counter() - started
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"/metrics answered {head[:40]!r}")
    return elapsed, body


def start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy record of ``pid`` for ``seconds`` (raw collapsed stacks), if py-spy is installed."""
    binary = shutil.which("py-spy")
    if binary is None:
        print("  (--profile: py-spy not installed; pip install py-spy)")
        return None
    command = [
        binary,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        "50",
        "--nonblocking",
        "--format",
        "raw",
        "-o",
        str(out),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


PROFILE_GROUPS = (
    ("probes (run_probe)", "run_probe (netwatch/runner.py"),
    ("listeners: metrics", "Metrics.observe"),
    ("listeners: store", "netwatch/store"),
    ("listeners + thread: detection", "netwatch/detect"),
    ("scheduler (APScheduler)", "apscheduler/"),
    ("HTTP /metrics", "uvicorn/"),
)


def profile_shares(raw: Path) -> dict[str, float]:
    """Share of active samples per part of the agent (first matching group wins)."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        group = next((name for name, marker in PROFILE_GROUPS if marker in stack), "other")
        counts[group] += int(n)
    total = sum(counts.values()) or 1
    return {name: round(100 * count / total, 1) for name, count in counts.most_common()}


def log_tail(path: str | Path, lines: int = 15) -> str:
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def wait_ready(agent: subprocess.Popen[bytes], healthz: str, log_name: str, launched: float) -> None:
    """Until ``/healthz`` answers 200 (at most 120 s); raises if the agent exits or never answers."""
    with requests.Session() as session:
        while True:
            if agent.poll() is not None:
                raise RuntimeError(f"agent exited with {agent.returncode}:\n{log_tail(log_name)}")
            if time.monotonic() - launched > 120:
                raise RuntimeError("agent not ready within 120 s")
            try:
                if session.get(healthz, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)


def time_gets(port: int, count: int) -> dict[str, float]:
    """``count`` GETs of ``/metrics`` one after another (90 s at most): p50/p95/max, bytes, lines."""
    timings, body = [], b""
    gets_until = time.monotonic() + 90
    for _ in range(count):
        if time.monotonic() > gets_until:
            break
        try:
            seconds, body = fetch_metrics(port)
        except TimeoutError:
            seconds = float("inf")
        timings.append(seconds)
    timings.sort()
    return {
        "gets": len(timings),
        "p50_ms": 1000 * statistics.median(timings),
        "p95_ms": 1000 * timings[min(len(timings) - 1, int(0.95 * len(timings)))],
        "max_ms": 1000 * timings[-1],
        "bytes": len(body),
        "lines": body.count(b"\n"),
    }


def stop(agent: subprocess.Popen[bytes]) -> tuple[float, int | None]:
    """SIGTERM (SIGKILL 30 s later): seconds it took and the exit code."""
    started = time.monotonic()
    if agent.poll() is None:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait(timeout=5)
    return time.monotonic() - started, agent.returncode


def observe(
    agent: subprocess.Popen[bytes], port: int, args: argparse.Namespace, ready: float, workdir: Path
) -> dict[str, Any]:
    """Scrape every 15 s, measure over the window after the warm-up, then time ``/metrics``."""
    expected = args.agent_targets / args.agent_interval
    result: dict[str, Any] = {}
    window_start = ready + args.agent_warmup
    window_end = ready + args.agent_duration
    next_scrape = ready
    before: dict[str, float] = {}
    profiler: subprocess.Popen[bytes] | None = None
    cpu_start = t_start = 0.0
    slices: list[tuple[float, float]] = []  # (time, cpu) every ~10 s in the window
    scrape_times: list[float] = []
    while True:
        now = time.monotonic()
        if not before and now >= window_start:
            cpu_start, t_start = process_cpu_s(agent.pid), now
            before = self_figures(fetch_metrics(port)[1].decode())
            if args.profile:
                profiler = start_profile(agent.pid, window_end - now - 2, workdir / "agent.pyspy")
            slices.append((t_start, cpu_start))
        if now >= window_end:
            break
        if before and now - slices[-1][0] >= 10:
            slices.append((now, process_cpu_s(agent.pid)))
        if now >= next_scrape:
            try:
                scrape_times.append(fetch_metrics(port)[0])
            except TimeoutError:
                scrape_times.append(float("inf"))
            next_scrape += SCRAPE_EVERY_S
        if agent.poll() is not None:
            raise RuntimeError(f"agent exited with {agent.returncode}:\n{log_tail(workdir / 'agent.log')}")
        time.sleep(0.25)
    cpu_end, t_end = process_cpu_s(agent.pid), time.monotonic()
    text = fetch_metrics(port, 60)[1].decode()
    after = self_figures(text)
    rss, hwm = rss_mib(agent.pid)
    slices.append((t_end, cpu_end))
    window = t_end - t_start
    probes = sum(v for k, v in after.items() if k.startswith("netwatch_measurements_total{")) - sum(
        v for k, v in before.items() if k.startswith("netwatch_measurements_total{")
    )
    skips_before, skips_after = skipped(before), skipped(after)
    result.update(
        window_s=window,
        cpu_cores=(cpu_end - cpu_start) / window,
        cpu_cores_max_10s=max(
            (c2 - c1) / (t2 - t1) for (t1, c1), (t2, c2) in itertools.pairwise(slices) if t2 > t1
        ),
        rss_mib=rss,
        peak_rss_mib=hwm,
        probes_per_s=probes / window,
        expected_per_s=expected,
        lag=lag_quantiles(before, after),
        skipped={k: v - skips_before.get(k, 0.0) for k, v in skips_after.items()},
        in_flight_end=after.get("netwatch_probes_in_flight", float("nan")),
        success=success_by_kind(text),
        scrapes_during_run_ms=[round(1000 * s, 1) for s in scrape_times],
    )
    if profiler is not None:
        profiler.wait(timeout=30)
        if (workdir / "agent.pyspy").exists():
            result["profile_pct"] = profile_shares(workdir / "agent.pyspy")
    result["metrics"] = time_gets(port, args.metrics_gets)
    return result


def run(args: argparse.Namespace, servers: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Each of ``--agent-modes`` in turn, on the same generated config; results by mode."""
    results = {}
    for mode in args.agent_modes:
        results[mode] = run_one(mode, args, servers, workdir / mode)
    return results


def run_one(mode: str, args: argparse.Namespace, servers: dict[str, Any], workdir: Path) -> dict[str, Any]:
    workdir.mkdir()
    port = free_port()
    config = workdir / "agent.yaml"
    write_config(config, args, servers, port)
    base = f"http://127.0.0.1:{port}"
    expected = args.agent_targets / args.agent_interval
    print(
        f"agent scale ({mode}): {args.agent_targets} targets at {args.agent_interval:.0f} s (expected "
        f"{expected:.0f} probes/s), concurrency {args.agent_concurrency}, run {args.agent_duration:.0f} s "
        f"(first {args.agent_warmup:.0f} s not measured) ...",
        flush=True,
    )
    log = (workdir / "agent.log").open("wb")
    env = {**os.environ, "NETWATCH_ALLOWED_NETWORKS": "127.0.0.0/8"}
    launched = time.monotonic()
    agent = subprocess.Popen(
        [sys.executable, *COMMANDS[mode], str(config)],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    result: dict[str, Any] = {"mode": mode, "targets": args.agent_targets, "interval_s": args.agent_interval}
    try:
        wait_ready(agent, f"{base}/healthz", log.name, launched)
        ready = time.monotonic()
        result["startup_s"] = ready - launched
        result["rss_after_start_mib"] = rss_mib(agent.pid)[0]
        print(
            f"  ready after {result['startup_s']:.1f} s (config loaded, jobs scheduled), "
            f"RSS {result['rss_after_start_mib']:.0f} MiB",
            flush=True,
        )

        result.update(observe(agent, port, args, ready, workdir))
    finally:
        result["stop_s"], result["exit_code"] = stop(agent)
        log.close()
    print_result(result)
    return result


def print_result(r: dict[str, Any]) -> None:
    lag, m = r["lag"], r["metrics"]
    ok = sum(c["ok"] for c in r["success"].values())
    total = sum(sum(c.values()) for c in r["success"].values())
    rows = [
        (
            "steady-state CPU (cores)",
            f"{r['cpu_cores']:.3f} mean, {r['cpu_cores_max_10s']:.3f} max over 10 s",
            "<= 1 core",
            r["cpu_cores"] <= 1.0,
        ),
        (
            "RSS (MiB)",
            f"{r['rss_mib']:.0f} at end, {r['peak_rss_mib']:.0f} peak",
            "<= 300 MiB",
            r["peak_rss_mib"] <= 300,
        ),
        (
            "probes/s",
            f"{r['probes_per_s']:.1f} achieved vs {r['expected_per_s']:.1f} expected",
            "",
            r["probes_per_s"] >= 0.95 * r["expected_per_s"],
        ),
        (
            "scheduler lag",
            f"mean {1000 * lag['mean_s']:.1f} ms; p50 <= {lag['p50_le_s']} s, "
            f"p95 <= {lag['p95_le_s']} s, p99 <= {lag['p99_le_s']} s ({lag['runs']:.0f} runs)",
            "",
            None,
        ),
        ("skipped runs", ", ".join(f"{k} {v:.0f}" for k, v in r["skipped"].items()) or "none", "", None),
        (
            "probe success (latest)",
            f"{ok}/{total} targets "
            + "("
            + ", ".join(f"{k} {c['ok']}/{sum(c.values())}" for k, c in sorted(r["success"].items()))
            + ")",
            "",
            None,
        ),
        (
            "/metrics GET",
            f"p50 {m['p50_ms']:.1f} ms, p95 {m['p95_ms']:.1f} ms, max {m['max_ms']:.1f} ms "
            f"({m['gets']} GETs; {m['bytes'] / 1e6:.2f} MB, {m['lines']} lines)",
            "< 100 ms",
            m["p95_ms"] < 100,
        ),
        (
            "start / stop",
            f"ready in {r['startup_s']:.1f} s, SIGTERM -> exit {r['exit_code']} in {r['stop_s']:.1f} s",
            "",
            None,
        ),
    ]
    print(f"agent scale ({r['mode']}) over a {r['window_s']:.0f} s window:")
    for name, value, target, met in rows:
        verdict = "" if met is None else ("met" if met else "NOT MET")
        print(f"  {name:<24} {value}  {target} {verdict}".rstrip())
    print(f"  scrapes every 15 s during the run (ms): {r['scrapes_during_run_ms']}")
    if "profile_pct" in r:
        print(f"  py-spy, share of active samples: {r['profile_pct']}")
    print(json.dumps({"agent": {k: v for k, v in r.items() if k != "scrapes_during_run_ms"}}, default=str))
