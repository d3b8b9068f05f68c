"""Every shipped scenario loads, and is consistent with the topology; bad files fail with the file
name and key path in the message."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.lab.scenario import ScenarioError, load_scenario, parse_scenario, shipped_scenarios
from netwatch.lab.scenario_check import MIN_STAGE_INTERVALS
from netwatch.lab.scenario_faults import Cut, GatewayCut, Select
from netwatch.lab.scenario_observe import Seen, members, observe
from netwatch.lab.topology import Selector
from netwatch.lab.topology_kz import kazakhstan_lab
from netwatch.model import ScopeType

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
        assert outage.end - outage.start >= MIN_STAGE_INTERVALS * scenario.probe_interval_s


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
    # same cut, same layer as regional_cut.yaml
    regional = load_scenario(next(p for p in shipped_scenarios() if p.stem == "regional_cut"))
    mangystau = next(t for t in scenario.truth if t.entity == "KZ-47")
    assert mangystau.layer == next(t for t in regional.truth if t.entity == "KZ-47").layer
    # DNS kept working: no national episode may drop DNS at the border
    assert not any(f.kind == "gateway_cut" for f in scenario.faults)
    # every stage, the throttle included, at least MIN_STAGE_INTERVALS probe intervals
    throttle = next(t for t in scenario.truth if t.layer.value == "throttling")
    assert throttle.end - throttle.start >= MIN_STAGE_INTERVALS * scenario.probe_interval_s


def test_background_noise_rules_out_every_subject_scope() -> None:
    noise = load_scenario(next(p for p in shipped_scenarios() if p.stem == "background_noise"))
    assert {n.scope.value for n in noise.not_reported if not n.entity} >= {
        "country", "region", "asn", "network_type", "category", "target"}


def _codes(faults: list[object], vantage: str) -> dict[str, Seen]:
    topology = kazakhstan_lab()
    return {p.id: p.seen for p in observe(topology, vantage, faults)}  # type: ignore[arg-type]


def test_observation_model_follows_the_resolvers_each_vantage_uses() -> None:
    kz47 = Cut(kind="cut", at=0, target=Select(regions=("KZ-47",)))
    for vantage in ("lab-inside", "lab-outside"):
        seen = _codes([kz47], vantage)
        # the region's names resolve elsewhere; its connections and its own resolvers fail
        assert seen["aktau.gov.kz/dns"] is Seen.OK
        assert seen["aktau.gov.kz/https"] is seen["aktau.gov.kz/tcp"] is Seen.TCP_FAIL
        assert seen["resolver.ktc-man/dns"] is Seen.DNS_FAIL
        assert seen["control-a.example/https"] is Seen.OK
    border = GatewayCut(kind="gateway_cut", at=0)
    inside, outside = _codes([border], "lab-inside"), _codes([border], "lab-outside")
    assert inside["control-a.example/https"] is Seen.TCP_FAIL and inside["egov.kz/https"] is Seen.OK
    assert outside["control-a.example/https"] is Seen.OK and outside["egov.kz/dns"] is Seen.DNS_FAIL
    topology = kazakhstan_lab()
    probes = observe(topology, "lab-inside", [])
    assert {p.id for p in members(probes, ScopeType.REGION, "KZ-47")} == {
        "aktau.gov.kz/dns", "aktau.gov.kz/http", "aktau.gov.kz/https", "aktau.gov.kz/tcp",
        "aktau.kcell.kz/dns", "aktau.kcell.kz/http", "aktau.kcell.kz/https", "aktau.kcell.kz/tcp",
        "resolver.ktc-man/dns", "resolver.kcell-man/dns"}


KZ47_CUT = [{"kind": "cut", "at": 20, "until": 60, "target": {"regions": ["KZ-47"]}}]
NATIONAL_WEB_CUT = [{"kind": "cut", "at": 20, "until": 60, "spare_dns": True}]


def _truth(layer: str, scope: str = "region", entity: str = "KZ-47",
           **extra: object) -> list[dict[str, object]]:
    return [{"scope": scope, "entity": entity, "layer": layer, "start": 20, "end": 60, **extra}]


@pytest.mark.parametrize(
    ("faults", "truth", "expected"),
    [
        # the inconsistency between january_2022 and regional_cut: a regional cut is tcp_ip
        (KZ47_CUT, _truth("blackout"),
         "truth[0]: region=KZ-47 blackout at 21 s: lab-inside would see tcp_ip"),
        # DNS-sparing cut plus a gateway cut that drops DNS: nobody sees tcp_ip
        ([*NATIONAL_WEB_CUT, {"kind": "gateway_cut", "at": 20, "until": 60}],
         _truth("tcp_ip", "country", "KZ"), "lab-outside would see blackout"),
        ([*NATIONAL_WEB_CUT, {"kind": "gateway_cut", "at": 20, "until": 60}],
         _truth("tcp_ip", "country", "KZ"), "lab-inside loses every control here"),
        # a stage shorter than MIN_STAGE_INTERVALS probe intervals
        (KZ47_CUT, [{"scope": "region", "entity": "KZ-47", "layer": "tcp_ip", "start": 20, "end": 26}],
         "truth[0]: lasts 6 s, under 5 probe intervals (10 s)"),
        # a restoration window too short to resolve
        ([{"kind": "cut", "at": 20, "until": 60, "target": {"regions": ["KZ-47"]}},
          {"kind": "cut", "at": 64, "until": 90, "target": {"regions": ["KZ-47"]}}],
         [*_truth("tcp_ip"),
          {"scope": "region", "entity": "KZ-47", "layer": "tcp_ip", "start": 64, "end": 90}],
         "truth[1]: starts 4 s after truth[0] ends"),
        # seen_by a vantage that cannot observe it: block pages are for inside clients only
        ([{"kind": "http_block", "at": 20, "until": 60, "sites": {"categories": ["messaging"],
                                                                  "positions": ["outside"]}}],
         _truth("http_blocking", "category", "messaging"),
         "truth[0]: category=messaging http_blocking at 21 s: lab-outside sees every one of its 7 targets"),
        # under an allow-list the inside vantage is cut from its controls: not "partial" from inside
        ([{"kind": "allow_list", "at": 20, "until": 60, "allow": ["kaspi.kz"]}],
         _truth("partial", "country", "KZ"), "lab-inside loses every control here"),
        # ... it reaches domestic targets, so it is an international cut, not vantage_offline
        ([{"kind": "allow_list", "at": 20, "until": 60, "allow": ["kaspi.kz"]}],
         _truth("vantage_offline", "vantage", "lab-inside", seen_by=["lab-inside"]),
         "lab-inside still reaches 28 domestic targets: that is an international cut"),
        # a dead uplink reaches nothing: not an international cut
        ([{"kind": "vantage_offline", "at": 20, "until": 60, "vantage": "lab-inside"}],
         _truth("international_cut", "country", "KZ", seen_by=["lab-inside"]),
         "lab-inside is not an inside vantage reaching domestic targets but no control abroad"),
        # throttling needs slowness, tampering needs bogons
        (KZ47_CUT, _truth("throttling"), "lab-inside sees no slow probe in that group"),
        # not_reported must not contradict the truth
        (KZ47_CUT, {"truth": _truth("tcp_ip"), "not_reported": [{"scope": "region"}]},
         "not_reported[0]: names region=KZ-47, which the truth expects"),
        # no outage expected: every subject scope ruled out, the target scope included
        (KZ47_CUT[:0], {"truth": [], "not_reported": [{"scope": "country"}, {"scope": "region"}]},
         "not_reported: no outage is expected, so every subject scope belongs here; missing: asn, "
         "category, network_type, target"),
    ],
)
def test_ground_truth_checks(faults: list[dict[str, object]], truth: object, expected: str) -> None:
    extra = truth if isinstance(truth, dict) else {"truth": truth}
    with pytest.raises(ScenarioError) as caught:
        parse_scenario({"name": "x", "duration_s": 100, "faults": faults, **extra}, "x.yaml")
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("faults", "truth"),
    [
        (KZ47_CUT, _truth("tcp_ip")),
        (NATIONAL_WEB_CUT, _truth("tcp_ip", "country", "KZ")),
        ([{"kind": "cut", "at": 20, "until": 60}, {"kind": "gateway_cut", "at": 20, "until": 60}],
         [*_truth("blackout", "country", "KZ", seen_by=["lab-outside"]),
          *_truth("vantage_offline", "vantage", "lab-inside", seen_by=["lab-inside"])]),
        ([{"kind": "allow_list", "at": 20, "until": 60, "allow": ["kaspi.kz"]}],
         [*_truth("partial", "country", "KZ", seen_by=["lab-outside"]),
          *_truth("international_cut", "country", "KZ", seen_by=["lab-inside"])]),
        ([{"kind": "throttle", "at": 20, "until": 60, "target": {"network_types": ["mobile"]},
           "delay_ms": 100}],
         _truth("throttling", "network_type", "mobile")),
        ([{"kind": "dns", "at": 20, "until": 60, "mode": "bogon", "names": {"categories": ["news"]}}],
         _truth("dns_tampering", "category", "news", seen_by=["lab-inside"])),
        ([{"kind": "tls_intercept", "at": 20, "until": 60, "sites": {"categories": ["bank"]}}],
         _truth("tls_interception", "category", "bank", seen_by=["lab-inside"])),
        # the inside vantage's resolver fails: names do not resolve, tcp to known addresses works
        ([{"kind": "dns", "at": 20, "until": 60, "mode": "servfail", "resolvers": {"networks": ["ktc-ast"]}}],
         _truth("dns", "category", "government", seen_by=["lab-inside"])),
    ],
)
def test_ground_truth_checks_accept_consistent_truth(faults: list[dict[str, object]],
                                                     truth: list[dict[str, object]]) -> None:
    parse_scenario({"name": "x", "duration_s": 100, "faults": faults, "truth": truth}, "x.yaml")


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
