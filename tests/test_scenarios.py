"""Every shipped scenario loads, and is consistent with the topology; bad files fail with the file
name and key path in the message."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.lab.scenario import ScenarioError, load_scenario, parse_scenario, shipped_scenarios
from netwatch.lab.topology import Selector
from netwatch.lab.topology_kz import kazakhstan_lab

REQUIRED = {
    "national_blackout", "regional_cut", "mobile_throttle_then_cut", "dns_tampering", "http_blocking",
    "tls_interception", "allow_list", "vantage_offline", "background_noise", "january_2022",
}


def test_the_required_scenarios_are_shipped() -> None:
    assert {path.stem for path in shipped_scenarios()} >= REQUIRED


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
def test_shipped_scenario_is_consistent(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    events = scenario.events()
    assert all(0 <= e.at <= scenario.duration_s for e in events)
    applied: dict[str, int] = {}
    for event in events:  # every apply is matched by a later clear
        applied[event.fault_id] = applied.get(event.fault_id, 0) + (1 if event.apply else -1)
        assert applied[event.fault_id] in (0, 1)
    assert set(applied.values()) <= {0}
    for outage in scenario.truth:
        assert 0 <= outage.start < outage.end <= scenario.duration_s
        # the truth lasts long enough for a detector with a few probes of hysteresis to see it
        assert outage.end - outage.start >= 3 * scenario.probe_interval_s


def test_noise_and_vantage_offline_expect_no_national_outage() -> None:
    by_name = {p.stem: load_scenario(p) for p in shipped_scenarios()}
    assert by_name["background_noise"].truth == ()
    offline = by_name["vantage_offline"]
    assert {t.scope.value for t in offline.truth} == {"vantage"}
    assert any(n.scope.value == "country" for n in offline.not_reported)


def test_january_2022_tells_the_story() -> None:
    scenario = load_scenario(next(p for p in shipped_scenarios() if p.stem == "january_2022"))
    layers = {(t.scope.value, t.entity, t.layer.value) for t in scenario.truth}
    assert ("country", "KZ", "partial") in layers  # the allow-list is not "restored"
    national = [t for t in scenario.truth if t.scope.value == "country" and t.layer.value == "tcp_ip"]
    assert len(national) >= 3  # separate episodes between restoration windows, not one long "down"
    almaty = next(t for t in scenario.truth if t.entity == "KZ-75")
    assert almaty.end - almaty.start > max(t.end - t.start for t in national)


def test_selectors_pick_the_intended_networks() -> None:
    topology = kazakhstan_lab()
    mobile = {n.id for n in topology.select_networks(Selector(network_types=("mobile",)))}  # type: ignore[arg-type]
    assert mobile == {"kcell-ala", "kcell-man", "tele2-ala", "beeline-ast"}
    assert {n.id for n in topology.select_networks(Selector(regions=("KZ-47",)))} == {"ktc-man", "kcell-man"}
    assert "vin" not in {n.id for n in topology.select_networks(Selector())}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "x", "duration_s": 10, "bogus": 1}, "x.yaml: bogus: Extra inputs are not permitted"),
        ({"name": "x", "duration_s": 10,
          "faults": [{"kind": "cut", "at": 1, "target": {"regions": ["KZ-99"]}}]},
         "x.yaml: faults[0].target.regions[0]: unknown 'KZ-99'"),
        ({"name": "x", "duration_s": 10, "faults": [{"kind": "cut", "at": 1, "target": {"colour": "red"}}]},
         "x.yaml: faults[0].target.colour: Extra inputs are not permitted"),
        ({"name": "x", "duration_s": 10, "truth": [
            {"scope": "region", "entity": "KZ-75", "layer": "blackout", "start": 1, "end": 20}]},
         "x.yaml: truth[0].end: 20.0 is after the end of the run"),
        ({"name": "x", "duration_s": 10,
          "faults": [{"kind": "vantage_offline", "at": 1, "vantage": "nobody"}]},
         "x.yaml: faults[0].vantage: unknown 'nobody'"),
        ({"name": "x", "duration_s": 10, "faults": [{"kind": "throttle", "at": 1}]},
         "x.yaml: faults[0]: Value error, a throttle needs"),
    ],
)
def test_errors_name_file_and_key_path(data: dict[str, object], expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data, "x.yaml")
    assert expected in str(caught.value)


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml: cannot read scenario"):
        load_scenario(bad)
