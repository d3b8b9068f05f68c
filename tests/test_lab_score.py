"""Scoring rules (netwatch.lab.score) on hand-made runs: no lab, no agents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from netwatch.lab.run import RunResult
from netwatch.lab.scenario import Scenario, parse_scenario
from netwatch.lab.score import score_run
from netwatch.lab.score_report import problems, table
from netwatch.model import Layer, Outage, ScopeType

T0 = datetime(2022, 1, 5, 10, 0, tzinfo=UTC)


def scenario(**extra: object) -> Scenario:
    return parse_scenario({
        "name": "s", "duration_s": 100,
        "faults": [{"kind": "cut", "at": 20, "until": 60, "target": {"regions": ["KZ-47"]}}],
        "truth": [{"scope": "region", "entity": "KZ-47", "layer": "tcp_ip", "start": 20, "end": 60}],
        **extra,
    })


def outage(scope: str, entity: str, layer: str, start: float, end: float | None, *, incident: str = "inc-1",
           earliest: float | None = None, end_earliest: float | None = None) -> Outage:
    def at(s: float) -> datetime:
        return T0 + timedelta(seconds=s)
    return Outage(
        id=f"out-{scope}-{entity}-{start}", incident_id=incident, scope_type=ScopeType(scope), entity=entity,
        layer=Layer(layer), started_at=at(start),
        start_earliest=at(start - 2 if earliest is None else earliest),
        ended_at=None if end is None else at(end),
        end_earliest=None if end is None else at(end - 2 if end_earliest is None else end_earliest),
    )


def run(**outages: list[Outage]) -> RunResult:
    found = {"lab-inside": [], "lab-outside": [], **outages}
    return RunResult("s", "", "netns", T0, 2.0, 100.0, found)


def test_exact_match_meets_every_target() -> None:
    score = score_run(scenario(), run(**{"lab-outside": [outage("region", "KZ-47", "tcp_ip", 21.5, 61)]}))
    assert (score.recall, score.precision, score.scope_layer_right) == (1.0, 1.0, 1.0)
    [sighting] = score.sightings
    assert (sighting.start_error_s, sighting.end_error_s) == (1.5, 1.0)
    assert sighting.start_in_window and sighting.end_in_window
    assert score.meets_targets()
    row = "| s | 1 | 1 | 100% | 1 (0) | 100% | 1.5 | 1.0 | 2/2 | 100% | lab-outside: 1 | met |"
    assert row in table([score])


def test_layer_wrong_is_detected_but_not_scope_and_layer_right() -> None:
    score = score_run(scenario(), run(**{"lab-outside": [outage("region", "KZ-47", "blackout", 21, 61)]}))
    assert (score.recall, score.precision, score.scope_layer_right) == (1.0, 1.0, 0.0)
    assert not score.meets_targets()
    assert problems(score, run()) == ["layer: region=KZ-47 tcp_ip 20-60 s: lab-outside said blackout"]


def test_wrong_scope_is_a_miss_and_a_false_record() -> None:
    score = score_run(scenario(), run(**{"lab-outside": [outage("asn", "9198", "tcp_ip", 21, 61)]}))
    assert (score.recall, score.precision) == (0.0, 0.0)
    assert problems(score, run()) == [
        "missed: region=KZ-47 tcp_ip 20-60 s", "false: lab-outside asn=9198 tcp_ip 21-61 s"]


def test_no_overlap_no_match() -> None:
    score = score_run(scenario(), run(**{"lab-outside": [outage("region", "KZ-47", "tcp_ip", 70, 80)]}))
    assert score.recall == 0.0 and len(score.false) == 1


def test_vantage_records_count_only_where_not_reported_names_them() -> None:
    offline = outage("vantage", "lab-inside", "vantage_offline", 30, 40)
    neutral = score_run(scenario(), run(**{"lab-inside": [offline]}))
    assert neutral.precision is None and not neutral.false
    named = score_run(scenario(not_reported=[{"scope": "vantage", "entity": "lab-inside"}]),
                      run(**{"lab-inside": [offline]}))
    assert named.precision == 0.0


def test_seen_by_limits_which_vantage_may_match() -> None:
    truth = [{"scope": "region", "entity": "KZ-47", "layer": "tcp_ip", "start": 20, "end": 60,
              "seen_by": ["lab-inside"]}]
    found = [outage("region", "KZ-47", "tcp_ip", 21, 61)]
    score = score_run(scenario(truth=truth), run(**{"lab-outside": found}))
    assert score.recall == 0.0 and len(score.false) == 1


def test_open_record_and_late_start_fail_timing() -> None:
    found = [outage("region", "KZ-47", "tcp_ip", 25, None, earliest=23)]
    score = score_run(scenario(), run(**{"lab-outside": found}))
    [sighting] = score.sightings
    assert sighting.end_error_s is None and not sighting.end_in_window
    assert not sighting.start_in_window  # the truth (20) is before start_earliest (23)
    assert problems(score, run()) == [
        "timing: region=KZ-47 tcp_ip 20-60 s: lab-outside start error +5.0 s",
        "timing: region=KZ-47 tcp_ip 20-60 s: lab-outside start outside window",
        "timing: region=KZ-47 tcp_ip 20-60 s: lab-outside still open at the end of the run",
    ]


def test_a_window_need_only_meet_the_time_the_fault_took_to_apply() -> None:
    """The cut due at 20 s was in place at 20.08 s (played): a window opening at 20.05 s (a probe
    that started before the rules were in and still got through) holds the truth; one opening
    after 20.08 s does not."""
    found = [outage("region", "KZ-47", "tcp_ip", 20.5, 61, earliest=20.05)]
    applied = run(**{"lab-outside": found})
    applied.played[:] = [(20.08, "apply", "cut"), (60.03, "clear", "cut")]
    [sighting] = score_run(scenario(), applied).sightings
    assert sighting.start_in_window and sighting.start_error_s == 0.5
    unrecorded = run(**{"lab-outside": found})  # nothing played: the scenario time is all there is
    assert not score_run(scenario(), unrecorded).sightings[0].start_in_window
    late = [outage("region", "KZ-47", "tcp_ip", 20.5, 61, earliest=20.09)]
    applied_late = run(**{"lab-outside": late})
    applied_late.played[:] = applied.played
    assert not score_run(scenario(), applied_late).sightings[0].start_in_window


def test_episodes_split_across_incidents_are_reported() -> None:
    truth = [{"scope": "country", "entity": "KZ", "layer": "tcp_ip", "start": 20, "end": 40},
             {"scope": "country", "entity": "KZ", "layer": "tcp_ip", "start": 50, "end": 70}]
    faults = [{"kind": "cut", "at": at, "until": at + 20, "spare_dns": True} for at in (20, 50)]
    records = [outage("country", "KZ", "tcp_ip", 21, 41, incident="inc-a"),
               outage("country", "KZ", "tcp_ip", 51, 71, incident="inc-b")]
    score = score_run(scenario(truth=truth, faults=faults), run(**{"lab-outside": records}))
    assert score.recall == 1.0 and score.incidents == {"lab-outside": 2}
    assert not score.meets_targets()


def test_result_round_trips_through_its_file(tmp_path: Path) -> None:
    result = run(**{"lab-outside": [outage("region", "KZ-47", "tcp_ip", 21, 61)]})
    result.save(tmp_path)
    assert RunResult.load(tmp_path) == result
