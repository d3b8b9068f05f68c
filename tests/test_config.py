"""Config loading: every error message pinned exactly, one fixture file per error."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from netwatch.config import ConfigError, load_config, parse_config
from netwatch.detect import Thresholds
from netwatch.model import NetworkType, Position, Role
from netwatch.notify.settings import Notifications

FIXTURES = Path(__file__).parent / "fixtures" / "config"
EXAMPLE = Path(__file__).parent.parent / "deploy" / "netwatch.example.yaml"
KZ_CODES = (
    "KZ-10, KZ-11, KZ-15, KZ-19, KZ-23, KZ-27, KZ-31, KZ-33, KZ-35, KZ-39, KZ-43, KZ-47, KZ-55, KZ-59, "
    "KZ-61, KZ-62, KZ-63, KZ-71, KZ-75, KZ-79"
)
DURATION_HINT = "use seconds (30) or a number with a unit (500ms, 30s, 5m, 1h)"

ERRORS = {
    "unknown_key": [
        "{file}:3: probing.intervall: unknown key 'intervall'; did you mean 'interval'? (valid keys: "
        "blockpages, bogon_exempt_networks, ca_file, concurrency, interval, jitter, timeout, user_agent)"
    ],
    "wrong_type": ["{file}:4: listen.port: expected an integer, got 'ninety'"],
    "bad_duration": [f"{{file}}:3: probing.interval: invalid duration '5 minutes': {DURATION_HINT}"],
    "timeout_over_interval": ["{file}:4: probing.timeout: timeout 60s is longer than the interval 30s"],
    "target_timeout_over_interval": [
        "{file}:4: targets[0].timeout: timeout 10s (from probing.timeout) is longer than the interval 5s"
    ],
    "bad_cidr": ["{file}:4: allowed_networks[1]: not a network in CIDR notation: '10.0.0.0/33'"],
    "bad_region": [
        "{file}:6: targets[0].labels.region: 'KZ-99' is not an ISO 3166-2:KZ region code "
        f"(valid: {KZ_CODES})"
    ],
    "duplicate_id": [
        "{file}:8: targets[1].id: duplicate target id 'local/tcp' (also targets[0] at line 5)",
        "{file}:11: targets[2].id: duplicate target id 'www.ripe.net/http' "
        "(also catalog 'controls' entries[7])",
    ],
    "unknown_kind": ["{file}:4: targets[0].kind: unknown probe kind 'icmp' (known: dns, http, tcp)"],
    "bad_params_field": [
        "{file}:7: targets[0].params.port: must be less than or equal to 65535, got 70000",
        "{file}:8: targets[0].params.prot: unknown key 'prot'; did you mean 'port'? (valid keys: host, port, "
        "resolvers)",
    ],
    "missing_vantage": ["{file}:1: vantage: required key missing"],
    "yaml_syntax": [
        "{file}:5: YAML syntax error: while parsing a block collection expected <block end>, "
        "but found '<block mapping start>'"
    ],
    "yaml_unsafe_tag": [
        "{file}:2: YAML syntax error: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'"
    ],
    "catalog_needs_resolvers": [
        "{file}:3: catalogs[0]: catalog 'kazakhstan' has 106 targets that resolve names and no resolvers "
        "are configured: add top-level 'resolvers'"
    ],
    "target_needs_resolvers": [
        "{file}:5: targets[0].params.resolvers: this target resolves a name: list resolvers here or "
        "configure top-level 'resolvers'"
    ],
    "unknown_catalog": [
        "{file}:3: catalogs[0]: unknown catalog 'kazahstan'; did you mean 'kazakhstan'? "
        "(built-in: controls, kazakhstan)"
    ],
    "duplicate_yaml_key": ["{file}:3: listen: duplicate key (first written at line 2)"],
    "bad_position": ["{file}:3: vantage.position: must be 'inside' or 'outside', got 'abroad'"],
    "bad_resolver": [
        "{file}:3: resolvers[0].address: resolver address must be an IP address, got 'dns.example'"
    ],
    "bad_fingerprint": [
        "{file}:6: probing.blockpages.fingerprints[0]: a fingerprint needs at least one of body_sha256, "
        "body_contains, status, header"
    ],
    "missing_ca_file": ["{file}:2: probing.ca_file: file not found: {dir}/no-such-ca.pem"],
    "not_a_mapping": ["{file}:1: expected a mapping of keys at the top level"],
    "bad_detection": [
        "{file}:3: detection.down_after: must be greater than or equal to 1, got 0",
        "{file}:4: detection.group_hold: unknown key 'group_hold'; did you mean 'group_hold_s'? (valid keys: "
        "baseline_bin_s, baseline_min_bins, baseline_window_s, control_down_share, degraded_after, "
        "domestic_reach_share, down_after, evidence_cap, group_hold_s, homogeneity, incident_gap_s, "
        "latency_min_samples, latency_window, layer_settle_s, loss_threshold, min_known_share, slow_factor, "
        "slow_min_s, small_group_hold_s, small_group_size, throttle_threshold, up_after)",
        "{file}:5: retention.measurements_days: must be greater than or equal to 1, got 0",
    ],
    "bad_detection_window": [
        "{file}:3: detection: baseline_window_s must hold at least baseline_min_bins bins"
    ],
    "bad_notifications": [
        "{file}:4: notifications.destinations[0].url: not a notification URL Apprise understands (scheme "
        "'nosuchscheme'; see the Apprise URL list)",
        "{file}:6: notifications.destinations[1].language: must be 'en', 'ru' or 'kk', got 'de'",
        f"{{file}}:7: notifications.group_window: invalid duration 'soon': {DURATION_HINT}",
        "{file}:8: notifications.rate_limit.messages: must be greater than or equal to 1, got 0",
        "{file}:10: notifications.maintenance[0].start: time without a zone: add Z or an offset such as "
        "+05:00",
        "{file}:14: notifications.maintenance[1].scopes[0]: unknown scope 'oblast' (valid: country, region, "
        "asn, network_type, category, target, vantage; optionally ':<entity>')",
        "{file}:14: notifications.maintenance[1].scopes[1]: 'region:': name the entity after ':' or leave "
        "':' out",
    ],
    "bad_notifications_window": ["{file}:4: notifications.maintenance[0]: end must be after start"],
    "bad_notifications_names": ["{file}:3: notifications: destination name 'team' is used twice"],
    "several_problems": [
        "{file}:2: listen.port: must be greater than or equal to 1, got 0",
        f"{{file}}:3: probing.jitter: invalid duration '-1s': {DURATION_HINT}",
        "{file}:3: probing.concurrency: expected an integer, got 'many'",
        "{file}:4: catalogs[1]: expected a built-in catalog name or a mapping with 'citizenlab' or 'file'",
    ],
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_message_is_exact(name: str) -> None:
    path = FIXTURES / f"{name}.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    expected = [line.format(file=path, dir=FIXTURES.absolute()) for line in ERRORS[name]]
    assert str(caught.value).splitlines() == expected
    assert len(caught.value.problems) == len(expected)


def test_every_error_fixture_is_pinned() -> None:
    fixtures = {path.stem for path in FIXTURES.glob("*.yaml")} - {"minimal", "full"}
    assert fixtures == set(ERRORS)


def test_unreadable_file() -> None:
    path = FIXTURES / "does-not-exist.yaml"
    with pytest.raises(ConfigError, match=r"does-not-exist\.yaml: cannot read config: .*No such file"):
        load_config(path)


def test_minimal_config_is_safe_by_default() -> None:
    config = load_config(FIXTURES / "minimal.yaml", environ={})
    assert config.vantage.id == "test-1" and config.vantage.position is Position.OUTSIDE
    assert config.egress.describe() == "127.0.0.0/8, ::1/128"
    assert config.targets == ()
    assert (config.listen_address, config.listen_port, config.concurrency, config.jitter_s) == (
        "127.0.0.1",
        9784,
        64,
        5.0,
    )
    assert config.data_dir == FIXTURES.absolute() / "netwatch-data"
    assert config.measurements_out is None
    assert config.detection == Thresholds()
    assert (config.retention_days, config.retention_interval_s) == (30, 86_400.0)


def test_detection_and_retention_sections() -> None:
    text = (
        "vantage: {id: v, position: inside}\n"
        "detection: {down_after: 2, layer_settle_s: 30}\n"
        "retention: {measurements_days: 7, interval: 6h}\n"
    )
    config = parse_config(text, "inline.yaml", environ={})
    assert config.detection == Thresholds(down_after=2, layer_settle_s=30)
    assert (config.retention_days, config.retention_interval_s) == (7, 21_600.0)


def test_notifications_section() -> None:
    text = (
        "vantage: {id: v, position: inside}\n"
        "notifications:\n"
        "  destinations:\n"
        "    - {url: 'json://127.0.0.1:8080/hook', language: ru}\n"
        "    - {url: 'tgram://123456:ABCDEF/-1001234567890', name: telegram}\n"
        "  group_window: 1m\n"
        "  rate_limit: {messages: 3, period: 10m}\n"
        "  maintenance:\n"
        "    - {start: '2025-01-05T10:00:00+05:00', end: 2025-01-05T07:00:00Z, scopes: ['region:KZ-75']}\n"
    )
    notes = parse_config(text, "inline.yaml", environ={}).notifications
    assert [(d.name, d.language.value) for d in notes.destinations] == [("dest0", "ru"), ("telegram", "en")]
    assert (notes.group_window, notes.rate_limit.messages, notes.rate_limit.period) == (60.0, 3, 600.0)
    (window,) = notes.maintenance
    assert window.start == datetime(2025, 1, 5, 5, tzinfo=UTC) and window.scopes == ("region:KZ-75",)
    assert parse_config("vantage: {id: v, position: inside}\n", "x.yaml", environ={}).notifications == (
        Notifications()
    )


def test_full_config() -> None:
    config = load_config(FIXTURES / "full.yaml", environ={})
    base = FIXTURES.absolute()
    assert (config.listen_address, config.listen_port) == ("::1", 19784)
    assert config.data_dir == base / "data"
    assert config.measurements_out == base / "out" / "measurements.jsonl"
    assert config.concurrency == 8 and config.jitter_s == 0.0
    env = config.probe_env
    assert env.ca_file == str(base / "ca.pem")
    assert env.user_agent == "netwatch-test"
    assert [str(a) for a in env.blockpage_addresses] == ["10.10.34.34"]
    assert [fp.name for fp in env.blockpage_fingerprints] == ["kz-block", "hdr"]
    assert env.blockpage_fingerprints[1].header_contains == "blockd"
    assert env.is_bogon("127.0.0.1") is False  # exempted
    assert config.catalogs == ("controls",)
    by_id = {target.id: target for target in config.targets}
    assert len(by_id) == len(config.targets) == 15
    dns = by_id["local/dns"]
    assert dns.params.qtypes == ("A", "AAAA")
    assert [(r.address, r.port, r.label) for r in dns.params.resolvers] == [("127.0.0.53", 5353, "isp")]
    assert (dns.interval_s, dns.timeout_s) == (120.0, 1.5)
    assert dns.labels.region == "KZ-47" and dns.labels.asn == "9198"
    assert dns.labels.network_type is NetworkType.FIXED and dns.labels.role is Role.SUBJECT
    http = by_id["local/http"]
    assert (http.interval_s, http.timeout_s) == (30.0, 5.0)
    assert [r.address for r in http.params.resolvers] == ["127.0.0.2"]  # its own, not the default
    assert by_id["local/tcp"].params.resolvers == ()  # an IP literal needs no resolver
    assert by_id["www.ripe.net/http"].labels.role is Role.CONTROL
    assert by_id["a.root-servers.net/dns"].params.resolvers[0].address == "198.41.0.4"


def test_environment_overrides_allowlist() -> None:
    config = load_config(FIXTURES / "minimal.yaml", environ={"NETWATCH_ALLOWED_NETWORKS": "10.0.0.0/8"})
    assert config.egress.describe() == "10.0.0.0/8"
    with pytest.raises(ConfigError) as caught:
        load_config(FIXTURES / "minimal.yaml", environ={"NETWATCH_ALLOWED_NETWORKS": "nonsense"})
    assert str(caught.value) == (
        f"{FIXTURES / 'minimal.yaml'}:1: allowed_networks: NETWATCH_ALLOWED_NETWORKS (which overrides "
        "this key): not a network: 'nonsense' ('nonsense' does not appear to be an IPv4 or IPv6 network)"
    )


def test_parse_config_from_text_and_durations() -> None:
    text = "vantage: {id: v, position: inside}\nprobing: {interval: 1h, timeout: 250ms, jitter: 1.5}\n"
    config = parse_config(text, "inline.yaml", environ={})
    assert config.jitter_s == 1.5
    assert config.source == Path("inline.yaml")
    with pytest.raises(ConfigError) as caught:
        parse_config("vantage: {id: v, position: inside}\nprobing: {interval: 0}\n", "x.yaml")
    assert str(caught.value) == "x.yaml:2: probing.interval: duration must be more than zero"


def test_empty_file_reports_missing_vantage() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("", "empty.yaml")
    assert str(caught.value) == "empty.yaml: vantage: required key missing"


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE, environ={})
    assert config.vantage.position is Position.INSIDE
    assert config.catalogs == ("kazakhstan", "controls")
    ids = {target.id for target in config.targets}
    assert {"kaspi.kz/http", "tengrinews.kz/dns", "ns.nic.kz/dns", "almaty-isp-gateway/tcp"} <= ids
    assert any(target.labels.role is Role.CONTROL for target in config.targets)


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netwatch", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NETWATCH_ALLOWED_NETWORKS": ""},
    )


def test_cli_check_config_exit_codes() -> None:
    good = _check_config(EXAMPLE)
    assert good.returncode == 0, good.stderr
    assert "vantage: almaty-kt-1 (inside)" in good.stdout
    bad = _check_config(FIXTURES / "unknown_key.yaml")
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.startswith(f"{FIXTURES / 'unknown_key.yaml'}:3: probing.intervall: unknown key")
