"""The closed failure vocabulary stays closed and covered: every name is produced by a test of a probe
or of the runner against real servers, so adding a name without a test that produces it fails here."""

from __future__ import annotations

from pathlib import Path

from netwatch.model import Failure

TESTS = Path(__file__).parent
PRODUCERS = (
    "test_probe_dns.py",
    "test_probe_http.py",
    "test_probe_tcp.py",
    "test_runner.py",
    "test_agent.py",
)


def test_every_failure_name_is_produced_by_a_probe_or_runner_test() -> None:
    sources = "\n".join((TESTS / name).read_text() for name in PRODUCERS)
    untested = [
        f.value for f in Failure if f"Failure.{f.name}" not in sources and f'"{f.value}"' not in sources
    ]
    assert untested == []


def test_failure_names_are_bounded_metric_label_values() -> None:
    for failure in Failure:
        assert failure.value == failure.name.lower()
        assert failure.value.replace("_", "").isalpha() and len(failure.value) <= 32
