"""``netwatch demo`` end to end: a real agent against the loopback Kazakhstan, in a subprocess."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_timeline_detects_outages_and_exports_them(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    command = [sys.executable, "-m", "netwatch", "demo", "--duration", "45", "--port", "0"]
    result = subprocess.run(
        [*command, "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "metrics: http://127.0.0.1:" in out
    for stage in ("Mangystau (KZ-47) cut", "DNS tampering", "National cut", "Restoration"):
        assert stage in out
    assert "outage OPENED: region=KZ-47" in out
    assert "outage CLOSED: region=KZ-47" in out

    measurements = [json.loads(line) for line in (workdir / "measurements.jsonl").read_text().splitlines()]
    assert len(measurements) >= 24 * 10  # 24 probes every 2 s for 45 s, minus start-up spread
    failures = {m["failure"] for m in measurements}
    assert "dns_bogon_answer" in failures  # telegram.org tampered
    assert failures & {"tls_timeout", "tcp_timeout", "http_timeout"}  # cut sites time out

    with (workdir / "outages.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    mangystau = [r for r in rows if r["scope_type"] == "region" and r["entity"] == "KZ-47"]
    assert len(mangystau) == 1
    assert mangystau[0]["ended_at"].endswith("Z")  # closed after restoration, in UTC
    assert mangystau[0]["started_at_local"].endswith("+05:00")  # Asia/Almaty since 2024-03-01
    codf = json.loads((workdir / "outages.codf.json").read_text())
    assert len(codf) == len(rows)
