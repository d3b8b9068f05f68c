"""Fault-to-notification latency of both alerting paths, on a real loopback stack.

    python bench/alert_latency.py [--runs 5] [--interval 1.0]

Starts the stack of ``tests/alertstack.py`` (lab servers on 127.0.0.2-4, one ``netwatch run`` agent
with native notifications, Debian's Prometheus with the shipped rules at a 1 s scrape and
evaluation interval, Debian's Alertmanager with the shipped routes and 1 s group_wait/interval, a
webhook receiver), then per run: breaks every subject server, records when each stage first shows
the outage, repairs, waits until everything has resolved. Stages, in seconds after the fault:

- detector: the agent's /metrics first shows ``netwatch_outage_active{scope="country"} 1``
  (hysteresis of ``down_after`` failed probes, then the live detection lag ``lag_s``);
- firing: Prometheus first reports the national alert firing (scrape + rule evaluation);
- webhook: Alertmanager's post reaches the receiver (group_wait);
- native: netwatch's own notification reaches the receiver (outbox poll + Apprise).

Prints a table and the target: two probe intervals plus one rule-evaluation interval.
Needs Debian's ``prometheus`` and ``prometheus-alertmanager``. Nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("NETWATCH_ALLOWED_NETWORKS", "127.0.0.0/8")

from alertstack import NATIONAL, AlertingStack, alerting_stack

STAGES = ("detector", "firing", "webhook", "native")


def _first(condition: Callable[[], bool], timeout: float, stop: threading.Event) -> float | None:
    """Wall clock when ``condition`` first held (polled every 50 ms), None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        if condition():
            return time.time()
        time.sleep(0.05)
    return None


def _detector_open(stack: AlertingStack) -> bool:
    text = httpx.get(f"http://{stack.agent.address}/metrics", timeout=2).text
    return any(
        line.startswith("netwatch_outage_active{") and 'scope="country"' in line and line.endswith(" 1.0")
        for line in text.splitlines()
    )


def _firing(stack: AlertingStack) -> bool:
    return bool(stack.prom.query(f'ALERTS{{alertname="{NATIONAL}", alertstate="firing"}}'))


def one_run(stack: AlertingStack, interval: float, timeout: float) -> dict[str, float | None]:
    """Break, time every stage, repair, wait for both paths to resolve."""
    stack.wait_healthy(timeout=120)
    time.sleep(3 * interval)  # a few healthy rounds: every target's state is settled at "up"
    stop = threading.Event()
    seen: dict[str, float | None] = {}
    fault = stack.lab.break_()
    watchers = {
        "detector": lambda: _detector_open(stack),
        "firing": lambda: _firing(stack),
        "webhook": lambda: bool(stack.alert_posts(fault, "firing")),
        "native": lambda: bool(stack.native_posts(fault, "Outage began: country KZ (national)")),
    }

    def watch(name: str, condition: Callable[[], bool]) -> None:
        seen[name] = _first(condition, timeout, stop)

    threads = [threading.Thread(target=watch, args=item) for item in watchers.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    repaired = stack.lab.repair()
    stack.receiver.wait_for(lambda _: bool(stack.alert_posts(repaired, "resolved")), timeout, "resolution")
    stack.receiver.wait_for(
        lambda _: bool(stack.native_posts(repaired, "Outage ended: country KZ (national)")),
        timeout,
        "native 'outage ended'",
    )
    return {name: None if at is None else at - fault for name, at in seen.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--interval", type=float, default=1.0, help="probe interval, seconds")
    parser.add_argument("--timeout", type=float, default=60.0, help="per stage, seconds")
    args = parser.parse_args()
    evaluation = 1.0  # tests/realstack.py: scrape and evaluation interval
    target = 2 * args.interval + evaluation
    rows: list[dict[str, float | None]] = []
    with (
        tempfile.TemporaryDirectory(prefix="netwatch-alert-latency-") as tmp,
        alerting_stack(Path(tmp), interval_s=args.interval) as stack,
    ):
        for n in range(args.runs):
            rows.append(one_run(stack, args.interval, args.timeout))
            print(f"run {n + 1}/{args.runs}: " + ", ".join(f"{k} {_fmt(rows[-1][k])}" for k in STAGES))
    print()
    print(f"probe interval {args.interval:g} s, rule evaluation {evaluation:g} s, target {target:g} s")
    print(f"| run | {' | '.join(STAGES)} |")
    print(f"|---|{'---|' * len(STAGES)}")
    for n, row in enumerate(rows, 1):
        print(f"| {n} | {' | '.join(_fmt(row[k]) for k in STAGES)} |")
    for name, pick in (("median", statistics.median), ("max", max)):
        cells = []
        for k in STAGES:
            values = [v for row in rows if (v := row[k]) is not None]
            cells.append(_fmt(pick(values)) if values else "-")
        print(f"| {name} | {' | '.join(cells)} |")


def _fmt(value: float | None) -> str:
    return "timeout" if value is None else f"{value:.1f} s"


if __name__ == "__main__":
    main()
