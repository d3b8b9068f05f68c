"""Export and API query benchmark: rows/s exported per format from a real store, and latency of
the ``/api/v1`` outage queries over a year of history for 1,000 targets. Prints a table; writes
only to a fresh temporary directory.

    python bench/export_rows.py [--rows 1000000] [--queries 200]

Data sets are ``bench/store_write.py``'s: its ~620 B HTTP measurements (1,000 targets, 0.06 s
apart), bulk-inserted in one transaction, and its outage history (~105,000 outages). Export rows/s
is timed from the call until the output file is closed, covering store reads, encoding and writing.
API latency is measured in process (ASGI ``TestClient``: routing, validation, store, JSON), which
is the server's share of a request's time.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from store_write import END, measurement, outage_history, timed

from netwatch.api import Health, create_api
from netwatch.api_v1 import build_router
from netwatch.export import ExportFormat, export_measurements, export_outages
from netwatch.store import OutageFilter, Store, db_path
from netwatch.store import measurements as stored

FORMATS = (ExportFormat.CSV, ExportFormat.JSONL, ExportFormat.JSON, ExportFormat.PARQUET)


def load_measurements(store: Store, count: int) -> float:
    """Bulk-insert ``count`` measurements in batches of 50,000; returns seconds taken."""
    rng = random.Random(1)
    start = time.perf_counter()
    with store.connect() as conn:
        for first in range(0, count, 50_000):
            conn.execute("BEGIN IMMEDIATE")
            stored.insert(conn, (measurement(n, rng) for n in range(first, min(count, first + 50_000))))
            conn.execute("COMMIT")
    return time.perf_counter() - start


def bench_exports(store: Store, root: Path, count: int) -> list[tuple[str, float, float, float]]:
    """(format, rows/s wall clock, rows/s of process CPU time, MB written) per measurement format.

    CPU time counts every thread of this process (pyarrow's too); on a shared machine it says what
    the export costs, wall clock what it took."""
    since, until = datetime(1970, 1, 1, tzinfo=UTC), END + timedelta(days=1)
    results = []
    for fmt in FORMATS:
        path = root / f"measurements.{fmt.value}"
        start, cpu = time.perf_counter(), time.process_time()
        with path.open("wb") as out:
            export_measurements(store, since, until, fmt, out)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        results.append((fmt.value, count / elapsed, count / cpu, path.stat().st_size / 1e6))
        path.unlink()
    return results


def bench_outage_export(store: Store, root: Path, count: int) -> list[tuple[str, float, float]]:
    results = []
    for fmt in (ExportFormat.CSV, ExportFormat.PARQUET, ExportFormat.CODF):
        path = root / f"outages.{fmt.value}"
        start = time.perf_counter()
        with path.open("wb") as out:
            export_outages(store, OutageFilter(), fmt, out, lambda: END)
        rate = count / (time.perf_counter() - start)
        results.append((f"outages {fmt.value}", rate, path.stat().st_size / 1e6))
        path.unlink()
    return results


def bench_api(store: Store, runs: int, outage_id: str) -> list[tuple[str, float, float, float]]:
    def health() -> Health:
        return Health(
            ok=True, scheduler_running=True, last_measurement_age_s=0.0, config_source=None, targets=0
        )

    client = TestClient(create_api(lambda: b"", health, routers=[build_router(store, lambda: END)]))
    rng = random.Random(3)

    def window() -> dict[str, str]:
        start = END - timedelta(days=rng.uniform(1, 364))
        return {"since": start.isoformat(), "until": (start + timedelta(days=1)).isoformat()}

    def get(path: str, **params: object) -> None:
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text

    cursor = client.get("/api/v1/outages", params={"limit": 100}).json()["next_cursor"]
    queries = [
        ("GET /status (all open outages)", lambda: get("/api/v1/status")),
        ("GET /outages (latest 100)", lambda: get("/api/v1/outages")),
        ("GET /outages?open=true", lambda: get("/api/v1/outages", open="true")),
        ("GET /outages, any 24 h window", lambda: get("/api/v1/outages", **window())),
        ("GET /outages?scope=region&entity=", lambda: get("/api/v1/outages", scope="region", entity="KZ-75")),
        ("GET /outages, page 2 (cursor)", lambda: get("/api/v1/outages", cursor=cursor)),
        ("GET /outages?format=csv (100)", lambda: get("/api/v1/outages", format="csv")),
        ("GET /outages/{id} + evidence", lambda: get(f"/api/v1/outages/{outage_id}")),
    ]  # fmt: skip
    return [(name, *timed(fn, runs)) for name, fn in queries]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="measurements to export")
    parser.add_argument("--queries", type=int, default=200, help="runs per API query")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="netwatch-bench-") as tmp:
        root = Path(tmp)
        store = Store(db_path(root / "data"))
        load_s = load_measurements(store, args.rows)
        print(f"{args.rows:,} measurements loaded in {load_s:.1f} s\n")
        print(f"{'export':<34} {'rows/s':>10} {'rows/cpu-s':>10} {'MB':>8}")
        for name, rate, cpu_rate, size in bench_exports(store, root, args.rows):
            print(f"{'measurements ' + name:<34} {rate:>10,.0f} {cpu_rate:>10,.0f} {size:>8.1f}")
        outages = outage_history(random.Random(2))
        outages_store = Store(db_path(root / "outages"))
        outages_store.record(END, outages=outages)
        for name, rate, size in bench_outage_export(outages_store, root, len(outages)):
            print(f"{name:<34} {rate:>10,.0f} {'':>10} {size:>8.1f}")
        print(f"\nAPI over {len(outages):,} outages (365 days, 1,000 targets), {args.queries} runs each")
        print(f"{'query':<38} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for name, p50, p95, worst in bench_api(outages_store, args.queries, outages[len(outages) // 2].id):
            print(f"{name:<38} {p50:>8.2f} {p95:>8.2f} {worst:>8.2f}")


if __name__ == "__main__":
    main()
