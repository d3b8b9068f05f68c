"""``netwatch demo`` end to end: the demo scenario on the loopback lab, an inside and an outside
agent, in a subprocess."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_demo_plays_the_scenario_detects_outages_and_exports_them(tmp_path: Path) -> None:
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
    assert out.count("metrics: http://127.0.0.1:") == 2  # one agent per vantage
    for stage in ("Mangystau (KZ-47) cut", "DNS tampering", "National cut", "Restoration"):
        assert stage in out
    lines = out.splitlines()
    for vantage in ("lab-inside", "lab-outside"):
        for change in ("OPENED", "CLOSED"):  # one line each, with UTC and Almaty times
            assert [line for line in lines if f"outage {change}: region=KZ-47 layer=" in line
                    and "Z (" in line and "+05:00 Asia/Almaty), seen from " + vantage in line]

    inside = workdir / "lab-inside"
    measurements = [json.loads(line) for line in (inside / "measurements.jsonl").read_text().splitlines()]
    assert len(measurements) >= 79 * 10  # 79 targets every 2 s for 45 s, minus start-up spread
    failures = {m["failure"] for m in measurements}
    assert "dns_bogon_answer" in failures  # the messengers' names tampered
    assert "tcp_timeout" in failures  # cut sites drop packets silently: connects time out

    rows = _rows(inside / "outages.csv")
    mangystau = [r for r in rows if r["scope_type"] == "region" and r["entity"] == "KZ-47"]
    assert len(mangystau) == 1
    assert mangystau[0]["layer"] == "tcp_ip"
    assert mangystau[0]["ended_at"].endswith("Z")  # closed after restoration, in UTC
    assert mangystau[0]["started_at_local"].endswith("+05:00")  # Asia/Almaty since 2024-03-01
    tampering = [r for r in rows if r["scope_type"] == "category" and r["entity"] == "messaging"]
    assert [r["layer"] for r in tampering] == ["dns_tampering"]
    codf = json.loads((inside / "outages.codf.json").read_text())
    assert len(codf) == len(rows)

    outside = _rows(workdir / "lab-outside" / "outages.csv")
    assert [r["layer"] for r in outside if r["entity"] == "KZ-47"] == ["tcp_ip"]
    assert not [r for r in outside if r["entity"] == "messaging"]  # tampering is seen from inside only
