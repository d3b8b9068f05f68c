"""Detector cost at agent scale: CPU per measurement and peak memory, on a synthetic stream.

    python bench/detector.py                       # 1,000 and 10,000 targets, 30 simulated minutes
    python bench/detector.py --targets 10000 --minutes 30 --budget 120

Pure CPU, no network. Each size runs in its own subprocess (so peak RSS is its own): ``n`` subject
targets labelled across 20 regions, 10 ASNs, 5 network types and 10 categories (80% http, 10% dns,
10% tcp) plus 4 controls abroad, each probed once per 60 s at a fixed offset within the round, as
the scheduler spreads them. A region goes dark at minute 8, the whole country (web and DNS) at
minute 14, everything recovers at minute 22. ``advance`` is called at the end of every round.

Reported: measurements processed, measurements/s, CPU µs per measurement (detector calls only;
building the synthetic measurements is excluded), the CPU share of one core the detector would
need at the size's real rate (n / 60 measurements per second), events emitted, and the growth of
peak RSS over the process before the stream began. ``--budget`` caps CPU seconds per size; a run
stopped by it is marked ``partial`` (its figures then describe only the stream's beginning).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from netwatch.detect import Detector, Thresholds
from netwatch.model import Failure, Labels, Measurement, NetworkType, Position, Role, Vantage

T0 = datetime(2022, 1, 4, tzinfo=UTC)
INTERVAL = 60.0
REGIONS = [
    f"KZ-{n}" for n in (10, 11, 15, 19, 23, 27, 31, 33, 35, 39, 43, 45, 47, 55, 59, 61, 62, 63, 71, 75)
]
ASNS = ["9198", "29355", "21299", "48716", "35104", "50482", "206026", "41124", "39824", "57523"]
NETWORKS = [NetworkType.MOBILE, NetworkType.FIXED, NetworkType.HOSTING, NetworkType.STATE, NetworkType.IXP]
CATEGORIES = [
    "gov",
    "bank",
    "news",
    "telecom",
    "messaging",
    "social",
    "hosting",
    "edu",
    "health",
    "dns-infra",
]
CUT_REGION, REGION_AT, NATIONAL_AT, RESTORED_AT = "KZ-47", 8 * 60.0, 14 * 60.0, 22 * 60.0


def targets(n: int) -> list[tuple[str, str, Labels]]:
    """``n`` subjects with deterministic, mixed labels, then 4 controls."""
    out = []
    for i in range(n):
        kind = "dns" if i % 10 == 3 else "tcp" if i % 10 == 7 else "http"
        labels = Labels(
            "KZ",
            REGIONS[i % len(REGIONS)],
            ASNS[(i // 3) % len(ASNS)],
            "",
            NETWORKS[(i // 7) % len(NETWORKS)],
            CATEGORIES[(i // 11) % len(CATEGORIES)],
            Role.SUBJECT,
        )
        out.append((f"t{i}", kind, labels))
    out += [(f"control-{i}", "http", Labels(role=Role.CONTROL, category="control")) for i in range(4)]
    return out


def stream(n: int, minutes: int) -> Iterator[Measurement | datetime]:
    """Measurements in start order; a datetime marks the end of a round (call ``advance``)."""
    tlist = targets(n)
    for r in range(minutes):
        for i, (tid, kind, labels) in enumerate(tlist):
            offset = r * INTERVAL + (i + 0.5) * INTERVAL / len(tlist)
            cut = labels.role is Role.SUBJECT and (
                NATIONAL_AT <= offset < RESTORED_AT
                or (REGION_AT <= offset < RESTORED_AT and labels.region == CUT_REGION)
            )
            failure = (Failure.DNS_TIMEOUT if kind == "dns" else Failure.TCP_TIMEOUT) if cut else None
            yield Measurement(
                id=f"m-{tid}-{r}",
                target_id=tid,
                kind=kind,
                vantage_id="out-1",
                started_at=T0 + timedelta(seconds=offset),
                duration_s=5.0 if cut else 0.15 + (i % 7) * 0.01,
                failure=failure,
                labels=labels,
            )
        yield T0 + timedelta(seconds=(r + 1) * INTERVAL)


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(n: int, minutes: int, budget: float) -> dict[str, object]:
    """Feed one stream through a fresh detector; return the figures as a dict."""
    detector = Detector(Thresholds(), [Vantage("out-1", Position.OUTSIDE)])
    rss_before = max_rss_mib()
    cpu_ns = events = processed = 0
    partial = False
    for item in stream(n, minutes):
        start = time.process_time_ns()
        if isinstance(item, datetime):
            events += len(detector.advance(item))
        else:
            events += len(detector.observe(item))
            processed += 1
        cpu_ns += time.process_time_ns() - start
        if cpu_ns > budget * 1e9:
            partial = True
            break
    per_m_us = cpu_ns / 1e3 / max(1, processed)
    return {
        "targets": n,
        "minutes": minutes,
        "processed": processed,
        "partial": partial,
        "per_s": processed / (cpu_ns / 1e9) if cpu_ns else 0.0,
        "us_per_m": per_m_us,
        "core_share": per_m_us * 1e-6 * n / INTERVAL,
        "events": events,
        "rss_growth_mib": max_rss_mib() - rss_before,
        "peak_rss_mib": max_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--minutes", type=int, default=30, help="simulated minutes (one round each)")
    parser.add_argument("--budget", type=float, default=300.0, help="CPU seconds per size at most")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child mode: JSON out
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.targets[0], args.minutes, args.budget)))
        return
    rows = []
    for n in args.targets:
        cmd = [sys.executable, __file__, "--one", "--targets", str(n), "--minutes", str(args.minutes)]
        cmd += ["--budget", str(args.budget)]
        rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    columns = ("targets", "measured", "meas/s", "µs/meas", "core@60s", "events", "RSS+ MiB", "peak MiB")
    print(" ".join(f"{c:>{w}}" for c, w in zip(columns, (8, 9, 9, 8, 9, 7, 9, 9), strict=True)))
    for r in rows:
        note = "  partial (budget)" if r["partial"] else ""
        print(
            f"{r['targets']:>8} {r['processed']:>9} {r['per_s']:>9.0f} {r['us_per_m']:>8.1f} "
            f"{r['core_share']:>9.3f} {r['events']:>7} {r['rss_growth_mib']:>9.1f} "
            f"{r['peak_rss_mib']:>9.1f}{note}"
        )


if __name__ == "__main__":
    main()
