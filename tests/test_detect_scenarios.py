"""Detector scenarios as data: a fault timeline in, the expected outage records out.

Each scenario lists (start second, faults) phases and the outages it must produce, as
(scope, entity, layer, truth start s, truth end s or None). Every detected start/end must hold the
truth inside its uncertainty window and lie within one probe interval of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from detect_world import (
    DNS,
    HTTP,
    HTTPS,
    INTERVAL,
    T0,
    TCP,
    Fault,
    abroad,
    allow_list,
    category,
    controls_abroad_cut,
    hang_allow_list,
    mobile_cut,
    mobile_slow,
    mobile_throttle,
    national_hang,
    national_tls_block,
    national_web_cut,
    probe_of,
    region_cut,
    region_slow,
    resolver_dead,
    run,
    site_world,
    uplink_dead,
)

from netwatch.detect import Detector, Thresholds
from netwatch.detect.classify import classify
from netwatch.detect.ledger import FRACTION_STEPS
from netwatch.model import (
    Failure,
    Labels,
    Layer,
    Measurement,
    NetworkType,
    Outage,
    OutageChange,
    OutageEvent,
    Position,
    Role,
    ScopeType,
    Vantage,
)

H = 3600.0
TH = Thresholds(baseline_bin_s=300, incident_gap_s=2 * H)

Phases = list[tuple[float, list[Fault]]]
Expected = list[tuple[str, str, str, float, float | None]]

SCENARIOS: dict[str, tuple[Phases, float, Expected]] = {
    "regional cut": (
        [(0, []), (H, [region_cut("KZ-47")]), (2 * H, [])],
        3 * H,
        # No resolver sits in KZ-47 and the HTTP probes still resolve: only TCP is seen failing.
        [("region", "KZ-47", "tcp_ip", H, 2 * H)],
    ),
    "regional cut, probes timing out after most of an interval": (
        # Dated by the completion of the first failed probe, the start would trail the truth by up
        # to an interval plus the timeout: a timeout is dated by when its failing phase began.
        [(0, []), (H + 1, [region_cut("KZ-47", 0.9 * INTERVAL)]), (2 * H + 1, [])],
        3 * H,
        [("region", "KZ-47", "tcp_ip", H + 1, 2 * H + 1)],
    ),
    "regional cut whose sites answer slowly at first": (
        # Recovering members pass through degraded (and the group's layer through others) for a
        # few probes: the end is when they stopped failing, not when they were fast again.
        [(0, []), (H, [region_cut("KZ-47")]), (2 * H, [region_slow("KZ-47")]), (2 * H + 4 * INTERVAL, [])],
        3 * H,
        [("region", "KZ-47", "tcp_ip", H, 2 * H)],
    ),
    "short mobile throttle, cut soon after its record opened": (
        # The cut comes within layer_settle_s of the throttling record opening: still a new
        # stage (its own record, dated by the cut), not a revision of the throttle's layer.
        [(0, []), (H, [mobile_slow]), (H + 4 * INTERVAL, [mobile_cut]), (2 * H, [])],
        3 * H,
        [
            ("network_type", "mobile", "throttling", H, H + 4 * INTERVAL),
            ("network_type", "mobile", "blackout", H + 4 * INTERVAL, 2 * H),
        ],
    ),
    "mobile throttling then cut": (
        [(0, []), (H, [mobile_slow]), (2 * H, [mobile_cut]), (3 * H, [])],
        4 * H,
        [
            ("network_type", "mobile", "throttling", H, 2 * H),
            ("network_type", "mobile", "blackout", 2 * H, 3 * H),
        ],
    ),
    "national web cut, DNS still answers": (
        [(0, []), (H, [national_web_cut]), (2 * H, [])],
        3 * H,
        [("country", "KZ", "tcp_ip", H, 2 * H)],
    ),
    "messaging block pages": (
        [(0, []), (H, [category("messaging", Failure.HTTP_BLOCKPAGE)]), (2 * H, [])],
        3 * H,
        [("category", "messaging", "http_blocking", H, 2 * H)],
    ),
    "news DNS tampering": (
        [(0, []), (H, [category("news", Failure.DNS_BOGON_ANSWER)]), (2 * H, [])],
        3 * H,
        [("category", "news", "dns_tampering", H, 2 * H)],
    ),
    "messaging TLS interception": (
        [(0, []), (H, [category("messaging", Failure.TLS_UNTRUSTED_CERT)]), (2 * H, [])],
        3 * H,
        [("category", "messaging", "tls_interception", H, 2 * H)],
    ),
    "allow-list": (
        [(0, []), (H, [allow_list]), (2 * H, [])],
        3 * H,
        [("country", "KZ", "partial", H, 2 * H)],
    ),
    "quiet": ([(0, [])], 2 * H, []),
    "one resolver dies": (
        [(0, []), (H, [resolver_dead("resolver-ktc")]), (2 * H, [])],
        3 * H,
        # A family of one (KZ-75's only DNS member) is not judged apart from its region's web
        # sites: the resolver's own record, after the small-group hold.
        [("target", "resolver-ktc", "dns", H, 2 * H)],
    ),
}


TELECOM_MITM = probe_of("https", {"kcell-KZ-75", "beeline-KZ-71"}, Failure.TLS_UNTRUSTED_CERT)

# Every site probed several ways (DNS and web, as the lab and the catalog do): a loss in one probe
# family must not be diluted by the other still working, and no narrower group may report it.
# Entries: probes per site, phases, until, expected outages (as above).
SITE_SCENARIOS: dict[str, tuple[tuple[tuple[str, str], ...], Phases, float, Expected]] = {
    "dns+http: national web cut, DNS still answers": (
        (DNS, HTTP),
        [(0, []), (H, [national_web_cut]), (2 * H, [])],
        3 * H,
        [("country", "KZ", "tcp_ip", H, 2 * H)],
    ),
    "dns+http: allow-list": (
        (DNS, HTTP),
        [(0, []), (H, [allow_list]), (2 * H, [])],
        3 * H,
        [("country", "KZ", "partial", H, 2 * H)],
    ),
    "dns+http: regional cut": (
        (DNS, HTTP),
        [(0, []), (H, [region_cut("KZ-47")]), (2 * H, [])],
        3 * H,
        # The sites' names stop answering too: both families down.
        [("region", "KZ-47", "blackout", H, 2 * H)],
    ),
    "lab probes: national cut hanging after connect": (
        (DNS, HTTP, HTTPS, TCP),
        [(0, []), (H, [national_hang]), (2 * H, [])],
        3 * H,
        # Connects succeed, then HTTPS and plain HTTP time out alike: a connection-level cut.
        [("country", "KZ", "tcp_ip", H, 2 * H)],
    ),
    "lab probes: allow-list hanging after connect": (
        (DNS, HTTP, HTTPS, TCP),
        [(0, []), (H, [hang_allow_list]), (2 * H, [])],
        3 * H,
        [("country", "KZ", "partial", H, 2 * H)],
    ),
    "dns+http+https: TLS interception of two telecom sites": (
        # 2 of the category's 27 probes (of its 18 web ones) lost never puts it out, but a foreign
        # certificate is proof of a censor: reported at the narrowest scope both share (not the
        # mobile network type they also share, nor a record per site).
        (DNS, HTTP, HTTPS),
        [(0, []), (H, [TELECOM_MITM]), (2 * H, [])],
        3 * H,
        [("category", "telecom", "tls_interception", H, 2 * H)],
    ),
    "dns+http: one site's name answered with a bogon": (
        (DNS, HTTP),
        [(0, []), (H, [probe_of("dns", {"msg-1"}, Failure.DNS_BOGON_ANSWER)]), (2 * H, [])],
        3 * H,
        [("target", "msg-1/dns", "dns_tampering", H, 2 * H)],
    ),
    "dns+http+tcp: mobile throttled (page loads time out), then cut": (
        # What still answers is slow while the web probes time out: throttling, not a cut.
        (DNS, HTTP, TCP),
        [(0, []), (H, [mobile_throttle]), (2 * H, [mobile_cut]), (3 * H, [])],
        4 * H,
        [
            ("network_type", "mobile", "throttling", H, 2 * H),
            ("network_type", "mobile", "blackout", 2 * H, 3 * H),
        ],
    ),
    "dns+http+https: only TLS times out": (
        (DNS, HTTP, HTTPS),
        [(0, []), (H, [national_tls_block]), (2 * H, [])],
        3 * H,
        [("country", "KZ", "tls", H, 2 * H)],
    ),
}


def _closed(events: Sequence[object]) -> list[Outage]:
    return [e.outage for e in events if isinstance(e, OutageEvent) and e.change is OutageChange.CLOSED]


def _check(outage: Outage, start_s: float, end_s: float | None) -> None:
    truth_start = T0 + timedelta(seconds=start_s)
    assert outage.start_earliest is not None
    assert outage.start_earliest <= truth_start <= outage.started_at
    assert outage.started_at - truth_start <= timedelta(seconds=INTERVAL)
    if end_s is not None:
        truth_end = T0 + timedelta(seconds=end_s)
        assert outage.end_earliest is not None and outage.ended_at is not None
        assert outage.end_earliest <= truth_end <= outage.ended_at
        assert outage.ended_at - truth_end <= timedelta(seconds=INTERVAL)


def _expect(outages: Sequence[Outage], expected: Expected) -> None:
    """``outages`` are ``expected`` in order (scope, entity, layer), each holding its truth."""
    assert [(o.scope_type.value, o.entity, o.layer.value) for o in outages] == [e[:3] for e in expected]
    for outage, (*_, start, end) in zip(outages, expected, strict=True):
        _check(outage, start, end)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(name: str) -> None:
    phases, until, expected = SCENARIOS[name]
    _, events, _ = run(phases, until, thresholds=TH)
    _expect(_closed(events), expected)


@pytest.mark.parametrize("name", sorted(SITE_SCENARIOS))
def test_site_scenario(name: str) -> None:
    probes, phases, until, expected = SITE_SCENARIOS[name]
    _, events, _ = run(phases, until, thresholds=TH, targets=site_world(*probes))
    outages = [e.outage for e in events if isinstance(e, OutageEvent) and e.change is OutageChange.OPENED]
    got = [(o.scope_type.value, o.entity, o.layer.value) for o in outages]
    # Opened records too: a spurious narrower record must not open, even briefly.
    assert got == [e[:3] for e in expected]
    _expect(_closed(events), expected)


def test_january_2022_compressed() -> None:
    """Mobile throttled, then cut; national web cut (DNS answers) with restoration windows while
    mobile stays off; an allow-list regime; restoration. One incident, its stages as records."""
    phases = [
        (0, []),
        (1 * H, [mobile_slow]),
        (2 * H, [mobile_cut]),
        (3 * H, [mobile_cut, national_web_cut]),
        (4 * H, [mobile_cut]),  # restoration window, mobile still off
        (5 * H, [mobile_cut, national_web_cut]),
        (6 * H, [mobile_cut, allow_list]),
        (7 * H, []),
    ]
    _, events, _ = run(phases, 8 * H, thresholds=TH)
    outages = sorted(_closed(events), key=lambda o: (o.started_at, o.scope_type.value))
    expected = [
        ("network_type", "mobile", "throttling", 1 * H, 2 * H),
        ("network_type", "mobile", "blackout", 2 * H, 7 * H),
        ("country", "KZ", "tcp_ip", 3 * H, 4 * H),
        ("country", "KZ", "tcp_ip", 5 * H, 6 * H),
        ("country", "KZ", "partial", 6 * H, 7 * H),
    ]
    _expect(outages, expected)
    assert len({o.incident_id for o in outages}) == 1
    assert len({o.id for o in outages}) == len(outages)
    assert all(o.severity > 0 and o.evidence for o in outages)


def test_a_single_flaky_target_never_pages() -> None:
    """background_noise: one site failing most probes for hours, but never for long in a row
    (three failures, one success, ...). Its own hysteresis keeps it down; it flaps, so its
    target group is not out and nothing opens (DESIGN.md: one flaky site must not page)."""
    flaky = resolver_dead("news-1")
    pattern = [r % 4 != 3 for r in range(180)]
    phases: Phases = [(r * INTERVAL, [flaky] if on else []) for r, on in enumerate(pattern)]
    _, events, _ = run(phases, 200 * INTERVAL, thresholds=TH)
    assert [e for e in events if isinstance(e, OutageEvent)] == []


def test_updates_only_for_what_a_reader_cares_about() -> None:
    """A national cut reaches its 42 web probes one at a time; readers are told when the share
    lost crosses a quarter, not once per further affected target (updates feed notifications)."""
    targets = site_world(DNS, HTTP, HTTPS, TCP)
    _, events, _ = run([(0, []), (H, [national_hang]), (2 * H, [])], 3 * H, thresholds=TH, targets=targets)
    outage_events = [e for e in events if isinstance(e, OutageEvent)]
    updates = [e for e in outage_events if e.change is OutageChange.UPDATED]
    assert [e.change for e in outage_events if e.change is not OutageChange.UPDATED] == [
        OutageChange.OPENED,
        OutageChange.CLOSED,
    ]
    assert sum("widened" in e.reason for e in updates) <= FRACTION_STEPS
    assert _closed(events)[0].targets_affected > 2 * FRACTION_STEPS  # grown in place, silently


def test_region_dark_across_national_episodes_is_its_own_record() -> None:
    """January 2022 with every site probed three ways: mobile off throughout; one region (Almaty
    then; KZ-47 here, which has no resolver of its own) dark through two national episodes and
    the restoration window between them. Its loss is mostly its mobile sites, but its fixed ones
    are down too: its own record, dated by its own members (not by the mobile cut), ended when
    its fixed sites came back (its mobile ones stay down with the mobile cut); the second national
    episode is dated by its own failures, not the region's; one incident."""
    almaty = region_cut("KZ-47")
    phases: Phases = [
        (0, []),
        (1 * H, [mobile_cut]),
        (2 * H, [mobile_cut, almaty, national_web_cut]),
        (3 * H, [mobile_cut, almaty]),
        (4 * H, [mobile_cut, almaty, national_web_cut]),
        (5 * H, [mobile_cut]),
        (6 * H, []),
    ]
    _, events, _ = run(phases, 7 * H, thresholds=TH, targets=site_world(DNS, HTTP, TCP))
    outages = sorted(_closed(events), key=lambda o: (o.started_at, o.scope_type.value))
    expected = [
        ("network_type", "mobile", "blackout", 1 * H, 6 * H),
        ("country", "KZ", "tcp_ip", 2 * H, 3 * H),
        ("region", "KZ-47", "blackout", 2 * H, 5 * H),
        ("country", "KZ", "tcp_ip", 4 * H, 5 * H),
    ]
    _expect(outages, expected)
    assert len({o.incident_id for o in outages}) == 1


def test_interference_ends_with_the_first_recoveries_not_the_member_probed_last() -> None:
    """Three news sites' names answered with bogons (a DNS and a web probe each) from H to 2H;
    one probe runs late around the end (scheduler jitter). Once fewer than half the category's
    members are down, the record is carried by the interference evidence of the last ones; it
    must still end with the first members that answered properly again, not with the last two
    still ``down`` (lab run of dns_tampering, loopback, 2026-12-03: +2.0 s at a 2-s interval)."""
    sites = (("a", "news"), ("b", "news"), ("c", "news"), ("d", "bank"), ("e", "bank"))
    # (target, kind, category, offset in the round)
    members = [(f"{site}/{kind}", kind, cat, 7.5 * i + (30.0 if kind == "http" else 0.0))
               for i, (site, cat) in enumerate(sites) for kind in ("dns", "http")]
    detector, events, recovered = Detector(TH), [], []
    for r in range(int(3 * H // INTERVAL)):
        for target, kind, cat, offset in members:
            at = r * INTERVAL + offset
            if target == "b/http" and at == 2 * H + offset:
                at += 0.9 * INTERVAL  # the straggler: its first probe after the end comes late
            failed = cat == "news" and H <= at < 2 * H
            labels = Labels("KZ", "KZ-71", "48716", "pscloud", NetworkType.HOSTING, cat, Role.SUBJECT)
            m = Measurement(id=f"{target}-{r}", target_id=target, kind=kind, vantage_id="in-1",
                            started_at=T0 + timedelta(seconds=at), duration_s=0.3,
                            failure=Failure.DNS_BOGON_ANSWER if failed else None, labels=labels)
            if cat == "news" and not failed and at >= 2 * H:
                recovered.append(m.started_at + timedelta(seconds=m.duration_s))
            events += detector.observe(m)
    (outage,) = _closed(events)
    assert outage.scope_type is ScopeType.CATEGORY and outage.entity == "news"
    assert outage.layer is Layer.DNS_TAMPERING
    assert outage.ended_at == min(recovered)
    _check(outage, H, 2 * H)


def test_interference_with_sites_abroad_is_part_of_the_countrys_incident() -> None:
    """A messenger hosted abroad (no country label) answered with a bogon by the country's
    resolvers during a regional cut: an event of the watched country, one incident with the cut."""
    targets = abroad(site_world(DNS, HTTP), "messaging")
    phases: Phases = [
        (0, []),
        (H, [region_cut("KZ-47")]),
        (H + 600, [region_cut("KZ-47"), probe_of("dns", {"msg-1"}, Failure.DNS_BOGON_ANSWER)]),
        (2 * H, []),
    ]
    _, events, _ = run(phases, 3 * H, thresholds=TH, targets=targets)
    outages = _closed(events)
    assert sorted((o.scope_type.value, o.entity, o.layer.value) for o in outages) == [
        ("region", "KZ-47", "blackout"),
        ("target", "msg-1/dns", "dns_tampering"),
    ]
    assert len({o.incident_id for o in outages}) == 1


def test_episodes_far_apart_are_separate_incidents() -> None:
    phases = [(0, []), (H, [region_cut("KZ-47")]), (2 * H, []), (5 * H, [region_cut("KZ-47")]), (6 * H, [])]
    _, events, _ = run(phases, 7 * H, thresholds=TH)
    outages = _closed(events)
    assert len(outages) == 2
    assert outages[0].incident_id != outages[1].incident_id


def test_vantage_losing_its_uplink_opens_no_subject_outage() -> None:
    _, events, _ = run([(0, []), (H, [uplink_dead]), (2 * H, [])], 3 * H, thresholds=TH)
    outages = _closed(events)
    assert [(o.scope_type.value, o.layer.value) for o in outages] == [("vantage", "vantage_offline")]
    _check(outages[0], H, 2 * H)


def test_inside_vantage_without_controls_abroad_is_an_international_cut() -> None:
    det = Detector(TH, [Vantage("in-1", Position.INSIDE)])
    phases = [(0, []), (H, [controls_abroad_cut]), (2 * H, [])]
    _, events, _ = run(phases, 3 * H, vantage="in-1", detector=det)
    outages = _closed(events)
    assert [(o.scope_type.value, o.entity, o.layer.value) for o in outages] == [
        ("country", "KZ", "international_cut")
    ]
    _check(outages[0], H, 2 * H)


def test_inside_vantage_reaching_nothing_is_offline_not_an_international_cut() -> None:
    """A national blackout seen from inside, or its own uplink dying: no control and no domestic
    target answers, so it cannot tell the two apart and says only that it is offline — also while
    domestic targets come back a probe before the controls do."""
    det = Detector(TH, [Vantage("in-1", Position.INSIDE)])
    _, events, _ = run([(0, []), (H, [uplink_dead]), (2 * H, [])], 3 * H, vantage="in-1", detector=det)
    outages = _closed(events)
    assert [(o.scope_type.value, o.entity, o.layer.value) for o in outages] == [
        ("vantage", "in-1", "vantage_offline")
    ]
    _check(outages[0], H, 2 * H)


def test_inside_vantage_under_an_allow_list_is_cut_off_not_offline() -> None:
    """The allow-list cuts the border too: the inside vantage loses its controls abroad but
    reaches the allow-listed domestic sites, which proves its uplink works. It reports the
    international cut and goes on judging (no vantage_offline, nothing frozen)."""
    det = Detector(TH, [Vantage("in-1", Position.INSIDE)])
    phases = [(0, []), (H, [controls_abroad_cut, allow_list]), (2 * H, [])]
    _, events, _ = run(phases, 3 * H, vantage="in-1", detector=det)
    outages = _closed(events)
    assert [(o.scope_type.value, o.entity, o.layer.value) for o in outages] == [
        ("country", "KZ", "international_cut")
    ]
    _check(outages[0], H, 2 * H)
    assert det.reachability(), "domestic groups are still judged"


def test_metrics_data_exposed() -> None:
    det, _, _ = run([(0, []), (H, [region_cut("KZ-47")])], 1.5 * H, thresholds=TH)
    active = det.active_outages()
    assert [(o.scope_type.value, o.entity) for o in active] == [("region", "KZ-47")]
    ratios = {(r.group_type.value, r.group): r.ratio for r in det.reachability()}
    assert ratios[("region", "KZ-47")] == 0.0
    assert ratios[("region", "KZ-75")] == 1.0


@pytest.mark.parametrize(
    ("families", "service_reachable", "dns", "layer"),
    [
        # Per site, HTTPS and plain HTTP timing out alike: a connection-level cut, not TLS.
        ({Layer.TLS: 8, Layer.TCP_IP: 8}, False, (8, 0), Layer.TCP_IP),
        ({Layer.TLS: 8, Layer.TCP_IP: 8}, True, (8, 0), Layer.PARTIAL),
        ({Layer.TLS: 8, Layer.TCP_IP: 2}, False, (8, 0), Layer.TLS),
        # A block page on HTTP and a failed handshake on HTTPS: the block page is the evidence.
        ({Layer.HTTP_BLOCKING: 4, Layer.TLS: 4}, False, (4, 0), Layer.HTTP_BLOCKING),
        ({Layer.DNS_TAMPERING: 3, Layer.DNS: 3}, False, (6, 6), Layer.DNS_TAMPERING),
        ({Layer.DNS: 5, Layer.TCP_IP: 5}, False, (5, 5), Layer.BLACKOUT),
        ({Layer.TCP_IP: 5, Layer.DNS: 1}, False, (5, 1), Layer.TCP_IP),
    ],
)
def test_layer_rules(
    families: dict[Layer, int], service_reachable: bool, dns: tuple[int, int], layer: Layer
) -> None:
    assert classify(families, service_reachable, *dns) is layer


def test_thresholds_from_config_reject_unknown_keys() -> None:
    assert Thresholds.from_config({"down_after": 4}).down_after == 4
    assert Thresholds.from_config(None) == Thresholds()
    with pytest.raises(ValueError, match="nonsense"):
        Thresholds.from_config({"nonsense": 1})
