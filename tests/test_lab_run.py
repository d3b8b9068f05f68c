"""Scenarios end to end on the namespace backend: lab up, real ``netwatch run`` agents inside their
vantages' namespaces, faults on cue, outages scored against the truth, nothing left behind.

Short versions of the shipped regional cut, vantage offline and DNS tampering scenarios (~75 s
each). Asserted per scenario: every injected outage detected, no false outage, scope and layer
right, the truth inside the recorded uncertainty windows, and start/end errors within the
detector's documented bound (one probe interval plus the probe timeout: a start is dated by the
completion of the first failed probe). The stricter one-interval target and the full scenarios
are measured by ``bench/accuracy.py`` (docs/accuracy.md), not here.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from netwatch.lab.agents import probe_timeout
from netwatch.lab.backend import NetnsBackend
from netwatch.lab.netns_plumbing import lab_namespaces, leak_guard_present, netns_available
from netwatch.lab.run import run_scenario
from netwatch.lab.scenario import Scenario, parse_scenario
from netwatch.lab.score import score_run

_why = netns_available()
pytestmark = [pytest.mark.skipif(_why is not None, reason=f"namespace lab unavailable: {_why}"),
              pytest.mark.timeout(180)]

WARMUP_S = 16.0
NOT_NATIONAL = [{"scope": "country", "entity": "KZ"}]
SCENARIOS: dict[str, dict[str, Any]] = {
    "regional_cut": {
        "faults": [{"kind": "cut", "at": 10, "until": 34, "target": {"regions": ["KZ-47"]}}],
        "truth": [{"scope": "region", "entity": "KZ-47", "layer": "tcp_ip", "start": 10, "end": 34}],
        "not_reported": NOT_NATIONAL,
    },
    "vantage_offline": {
        "faults": [{"kind": "vantage_offline", "at": 10, "until": 34, "vantage": "lab-inside"}],
        "truth": [{"scope": "vantage", "entity": "lab-inside", "layer": "vantage_offline", "start": 10,
                   "end": 34, "seen_by": ["lab-inside"]}],
        "not_reported": [*NOT_NATIONAL, {"scope": "region"}, {"scope": "asn"}, {"scope": "network_type"}],
    },
    "dns_tampering": {
        "faults": [{"kind": "dns", "at": 10, "until": 34, "mode": "bogon",
                    "names": {"categories": ["news"]}}],
        "truth": [{"scope": "category", "entity": "news", "layer": "dns_tampering", "start": 10, "end": 34,
                   "seen_by": ["lab-inside"]}],
        "not_reported": NOT_NATIONAL,
    },
}


def short(name: str) -> Scenario:
    return parse_scenario({"name": name, "duration_s": 46, **SCENARIOS[name]}, f"<{name}>")


def _leftovers(tag: str, workdir: Path) -> list[str]:
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [n for n in lab_namespaces() if n.startswith(tag)] + \
        [line for line in processes.splitlines() if str(workdir) in line]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_meets_the_targets(name: str, tmp_path: Path) -> None:
    scenario = short(name)
    backend = NetnsBackend(scenario.build_topology())
    result = run_scenario(scenario, backend, tmp_path, warmup_s=WARMUP_S)
    assert not _leftovers(backend.lab.tag, tmp_path)
    if not [n for n in lab_namespaces() if not n.startswith(backend.lab.tag)]:
        assert not leak_guard_present()  # no other lab is up, so the guard must be gone
    score = score_run(scenario, result)
    records = {v: [(o.scope_type.value, o.entity, o.layer.value) for o in found]
               for v, found in result.outages.items()}
    assert score.recall == 1.0, records
    assert not score.false, records
    assert score.scope_layer_right == 1.0, records
    bound = scenario.probe_interval_s + probe_timeout(scenario.probe_interval_s)
    for sighting in score.sightings:
        assert sighting.start_in_window and sighting.end_in_window, sighting
        assert sighting.end_error_s is not None, sighting
        assert abs(sighting.start_error_s) <= bound and abs(sighting.end_error_s) <= bound, sighting


def test_sigterm_during_a_run_tears_everything_down(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "netwatch", "lab", "run", "regional_cut", "--backend", "netns",
         "--workdir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("lab up"):
            break
    deadline = time.monotonic() + 30
    while not (tmp_path / "lab-inside" / "data").exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # the agents are running
    child.send_signal(signal.SIGTERM)
    assert child.wait(60) == 1
    assert not _leftovers(f"nwlab-{child.pid}-", tmp_path)
