"""``netwatch lab run`` on the namespace backend, stopped early: SIGTERM mid-run tears the lab down
(agents, server hosts, namespaces, the run's leak-guard route) and exits 1.

Whole scenarios, their scores and the teardown after a normal end are checked on both backends by
``tests/test_scenarios_accuracy.py``. Other labs may be up meanwhile: only this run's leftovers count.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netwatch.lab.netns_plumbing import guard_owner, leak_guards, leftovers_of, netns_available

_why = netns_available()
pytestmark = [pytest.mark.skipif(_why is not None, reason=f"namespace lab unavailable: {_why}"),
              pytest.mark.timeout(180)]


def leftovers(pid: int, workdir: Path) -> list[str]:
    """What the lab run in process ``pid`` with files in ``workdir`` left behind: namespaces,
    leak-guard routes, and processes whose command line names ``workdir`` (its agents)."""
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return leftovers_of(pid) + [line for line in processes.splitlines() if str(workdir) in line]


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
    assert [m for m in leak_guards() if guard_owner(m)[0] == child.pid]
    child.send_signal(signal.SIGTERM)
    assert child.wait(60) == 1
    assert not leftovers(child.pid, tmp_path)
