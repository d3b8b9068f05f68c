"""Store benchmark: measurements written per second, and outage query latency over a year of
history for 1,000 targets. Prints a table; writes only to a fresh temporary directory.

    python bench/store_write.py [--measurements 200000] [--queries 200]

Data set for the queries (generated with the store's own upsert, one transaction):
1,000 targets in 17 regions, 20 ASNs, 6 network types, 12 categories; over 365 days each target
has a target-scope outage every ~3.5 days on average (~104,000), each group entity one every
~7 days (~2,800 more) and the country one a month; durations 2 min to 12 h (log-uniform); 8
evidence ids each; the last outage of an entity may still be open.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from synthetic_labels import CATEGORIES

from netwatch.model import Failure, Labels, Layer, Measurement, NetworkType, Outage, ScopeType
from netwatch.store import MeasurementStore, OutageFilter, Store, db_path

END = datetime(2023, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
LAYERS = list(Layer)
REGIONS = [f"KZ-{n:02d}" for n in (10, 11, 15, 19, 23, 27, 31, 33, 35, 39, 43, 47, 55, 59, 61, 62, 75)]
ASNS = [str(9198 + k) for k in range(20)]


def measurement(n: int, rng: random.Random) -> Measurement:
    """A realistic HTTP measurement: its ``to_dict`` JSON is about 600 bytes."""
    failed = rng.random() < 0.1
    return Measurement(
        id=f"almaty-1-{n:012d}",
        target_id=f"t{n % 1000:04d}",
        kind="http",
        vantage_id="almaty-1",
        started_at=END - timedelta(seconds=n * 0.06),
        duration_s=rng.uniform(0.05, 3.0),
        failure=Failure.HTTP_TIMEOUT if failed else None,
        phases={"resolve": 0.012, "connect": 0.034, "tls": 0.056, "first_byte": 0.078},
        evidence={
            "resolver": "192.0.2.53",
            "answers": ["203.0.113.10", "203.0.113.11"],
            "status": None if failed else 200,
            "server": "nginx",
            "body_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "body_length": rng.randrange(1_000, 100_000),
        },
        labels=Labels(
            country="KZ",
            region=REGIONS[n % 17],
            asn=ASNS[n % 20],
            operator="Kazakhtelecom",
            network_type=NetworkType.FIXED,
            category=CATEGORIES[n % 12],
        ),
    )


def bench_writes(root: Path, count: int) -> tuple[float, float, int, int]:
    """Measurements/s through ``MeasurementStore`` (write → committed) by wall clock and per
    second of process CPU time (all threads), ``to_dict`` JSON bytes each, drops."""
    rng = random.Random(1)
    items = [measurement(n, rng) for n in range(count)]
    sink = MeasurementStore(db_path(root / "writes"), queue_size=count)
    start, cpu = time.perf_counter(), time.process_time()
    for m in items:
        sink.write(m)
    sink.close(timeout_s=600)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    size = len(json.dumps(items[0].to_dict(), separators=(",", ":")))
    assert sink.committed == count, (sink.committed, sink.dropped, sink.last_error)
    return count / elapsed, count / cpu, size, sink.dropped


def outage_history(rng: random.Random) -> list[Outage]:
    entities: list[tuple[ScopeType, str, float]] = [(ScopeType.TARGET, f"t{k:04d}", 3.5) for k in range(1000)]
    entities += [(ScopeType.REGION, r, 7.0) for r in REGIONS]
    entities += [(ScopeType.ASN, a, 7.0) for a in ASNS]
    entities += [(ScopeType.NETWORK_TYPE, t.value, 7.0) for t in NetworkType]
    entities += [(ScopeType.CATEGORY, c, 7.0) for c in CATEGORIES]
    entities += [(ScopeType.COUNTRY, "KZ", 30.0)]
    outages: list[Outage] = []
    for scope, entity, every_days in entities:
        at = END - YEAR + timedelta(days=rng.expovariate(1 / every_days))
        while at < END:
            length = timedelta(minutes=2 * 360 ** rng.random())  # 2 min .. 12 h, log-uniform
            ended = at + length
            outages.append(
                Outage(
                    id=f"{scope.value}:{entity}:{len(outages)}",
                    incident_id=f"inc-{entity}-{len(outages) // 3}",
                    scope_type=scope,
                    entity=entity,
                    layer=rng.choice(LAYERS),
                    started_at=at,
                    start_earliest=at - timedelta(seconds=60),
                    ended_at=ended if ended < END else None,
                    end_earliest=ended - timedelta(seconds=60) if ended < END else None,
                    severity=rng.uniform(1, 600),
                    fraction=rng.random(),
                    targets_affected=rng.randrange(1, 1000),
                    vantages_affected=rng.randrange(1, 4),
                    evidence=tuple(f"almaty-1-{rng.randrange(10**12):012d}" for _ in range(8)),
                )
            )
            at = ended + timedelta(days=rng.expovariate(1 / every_days))
    return outages


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float, float]:
    """p50, p95, max in milliseconds of ``runs`` calls."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (runs - 1))], samples[-1]


def bench_queries(root: Path, runs: int) -> tuple[int, float, list[tuple[str, float, float, float]]]:
    rng = random.Random(2)
    outages = outage_history(rng)
    store = Store(db_path(root / "outages"))
    start = time.perf_counter()
    store.record(END, outages=outages)
    load_s = time.perf_counter() - start

    def day() -> datetime:
        return END - timedelta(days=rng.uniform(0, 364))

    cursors: list[str | None] = [None]
    for _ in range(50):
        cursors.append(store.outages(limit=100, cursor=cursors[-1]).next_cursor)

    queries: list[tuple[str, Callable[[], object]]] = [
        ("latest 100 (API default)", lambda: store.outages(limit=100)),
        ("open only", lambda: store.outages(OutageFilter(open_only=True))),
        ("last 24 h, all scopes", lambda: store.outages(OutageFilter(since=END - timedelta(days=1)))),
        (
            "any 24 h window of the year",
            lambda: store.outages(OutageFilter(since=(d := day()), until=d + timedelta(days=1))),
        ),
        (
            "one region, 7 days",
            lambda: store.outages(
                OutageFilter(
                    since=(d := day()),
                    until=d + timedelta(days=7),
                    scope_type=ScopeType.REGION,
                    entity=rng.choice(REGIONS),
                )
            ),
        ),
        (
            "one target, whole year",
            lambda: store.outages(
                OutageFilter(scope_type=ScopeType.TARGET, entity=f"t{rng.randrange(1000):04d}")
            ),
        ),
        (
            "one layer, 30 days",
            lambda: store.outages(
                OutageFilter(since=(d := day()), until=d + timedelta(days=30), layer=rng.choice(LAYERS))
            ),
        ),
        ("page n <= 50 of 100 (cursor)", lambda: store.outages(limit=100, cursor=rng.choice(cursors))),
        ("get by id", lambda: store.outage(rng.choice(outages).id)),
    ]
    results = [(name, *timed(fn, runs)) for name, fn in queries]
    return len(outages), load_s, results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--measurements", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=200, help="runs per query kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="netwatch-bench-") as tmp:
        rate, cpu_rate, size, dropped = bench_writes(Path(tmp), args.measurements)
        written = f"{args.measurements:>10,}  (~{size} B JSON each, {dropped} dropped)"
        print(f"{'measurements written':<34} {written}")
        print(f"{'write rate (measurements/s)':<34} {rate:>10,.0f}")
        print(f"{'per CPU-second (all threads)':<34} {cpu_rate:>10,.0f}")
        count, load_s, results = bench_queries(Path(tmp), args.queries)
        print(
            f"\noutage history: {count:,} outages over 365 days for 1,000 targets "
            f"(loaded in {load_s:.1f} s, {count / load_s:,.0f}/s)"
        )
        header = f"query ({args.queries} runs each)"
        print(f"{header:<34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for name, p50, p95, worst in results:
            print(f"{name:<34} {p50:>8.2f} {p95:>8.2f} {worst:>8.2f}")


if __name__ == "__main__":
    main()
