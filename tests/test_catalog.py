"""Built-in catalogs and the Citizen Lab importer. Loading only: no target here gets any traffic."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from netwatch.catalog import build_target, builtin_names, load_builtin, parse_catalog
from netwatch.catalog.citizenlab import load_citizenlab
from netwatch.catalog.regions import KZ_REGIONS
from netwatch.cli import app
from netwatch.config import parse_config
from netwatch.config_errors import ConfigError
from netwatch.model import NetworkType, Role
from probes import PROBES
from probes.dnsquery import ResolverSpec

FIXTURES = Path(__file__).parent / "fixtures" / "catalog"
RESOLVERS = (ResolverSpec(address="192.0.2.53", label="test"),)  # TEST-NET: never contacted here
ALLOW_LISTED_NEWS = ["tengrinews.kz", "www.inform.kz", "baq.kz", "24.kz", "stopfake.kz", "qazaqstan.tv"]


def test_builtin_catalogs() -> None:
    assert builtin_names() == ("controls", "kazakhstan")


@pytest.mark.parametrize("name", ["kazakhstan", "controls"])
def test_every_builtin_target_is_valid(name: str) -> None:
    catalog = load_builtin(name)
    assert catalog.name == name and catalog.targets
    for spec in catalog.targets:
        target, problems = build_target(spec, RESOLVERS, 60.0, 10.0)
        assert problems == [], spec.id
        assert target is not None and target.kind in PROBES
        assert isinstance(target.params, PROBES[target.kind].params)
        labels = target.labels
        assert labels.category and labels.country, spec.id
        assert spec.source, f"{spec.id} has no source"
        assert target.id.endswith(f"/{target.kind}")


def test_kazakhstan_labels() -> None:
    specs = load_builtin("kazakhstan").targets
    assert all(spec.labels.country == "KZ" and spec.labels.role is Role.SUBJECT for spec in specs)
    regions = {spec.labels.region for spec in specs} - {""}
    assert regions <= set(KZ_REGIONS)
    assert len(regions) >= 10  # regional targets across the country
    asns = {spec.labels.asn: spec.labels.operator for spec in specs if spec.labels.category == "telecom"}
    assert asns == {
        "9198": "Kazakhtelecom",
        "21299": "Beeline (Kar-Tel)",
        "29355": "Kcell",
        "48503": "Tele2/Altel",
    }
    categories = {spec.labels.category for spec in specs}
    assert {"government", "bank", "news", "telecom", "dns-infra", "hosting", "messaging"} <= categories
    assert {spec.labels.network_type for spec in specs} >= {NetworkType.STATE, NetworkType.HOSTING}


def test_allow_listed_news_and_kaspi_present() -> None:
    ids = {spec.id for spec in load_builtin("kazakhstan").targets}
    for host in [*ALLOW_LISTED_NEWS, "kaspi.kz"]:
        assert {f"{host}/dns", f"{host}/http"} <= ids, host


def test_kz_registry_nameservers_are_asked_directly() -> None:
    specs = {spec.id: spec for spec in load_builtin("kazakhstan").targets}
    expected = {
        "ns.nic.kz/dns": "194.0.21.5",
        "ns.nic.kz-ipv6/dns": "2001:678:98:1::5",
        "ns1.nic.kz/dns": "185.79.212.7",
        "ns1.nic.kz-ipv6/dns": "2a01:7640:9000::7",
        "ns2.nic.kz/dns": "204.61.216.143",
        "ns2.nic.kz-ipv6/dns": "2001:500:14:6143:ad::1",
    }
    for target_id, address in expected.items():
        params = specs[target_id].params
        assert params["name"] == "kz." and params["qtypes"] == ["SOA"]
        assert [r["address"] for r in params["resolvers"]] == [address]


def test_controls_are_outside_kazakhstan() -> None:
    specs = load_builtin("controls").targets
    assert {spec.kind for spec in specs} == {"dns", "http"}
    for spec in specs:
        assert spec.labels.role is Role.CONTROL
        assert spec.labels.country and spec.labels.country != "KZ"
        assert not spec.labels.region


def test_ids_unique_across_builtins() -> None:
    ids = [spec.id for name in builtin_names() for spec in load_builtin(name).targets]
    assert len(ids) == len(set(ids))


def test_catalog_file_errors() -> None:
    text = (
        "name: mine\nentries:\n"
        "  - {host: a.example, probes: [dns]}\n"
        "  - {host: a.example, probes: [dns, ping], labels: {country: KZ, region: KZ-00}}\n"
        "  - {host: b.example, probes: [http], params: {dns: {name: x}}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_catalog(text, "mine.yaml")
    assert str(caught.value).splitlines() == [
        "mine.yaml:4: entries[1].probes[1]: unknown probe kind 'ping' (known: dns, http, tcp)",
        "mine.yaml:4: entries[1].labels.region: 'KZ-00' is not an ISO 3166-2:KZ region code (valid: "
        + ", ".join(KZ_REGIONS)
        + ")",
        "mine.yaml:5: entries[2]: params given for kinds not in probes: dns",
    ]
    with pytest.raises(ConfigError) as caught:
        parse_catalog(
            "name: mine\nentries:\n  - {host: a.example, probes: [dns]}\n"
            "  - {host: a.example, probes: [dns]}\n",
            "mine.yaml",
        )
    assert (
        str(caught.value) == "mine.yaml:4: entries[1].id: duplicate target id 'a.example/dns' "
        "(also catalog 'mine' entries[0])"
    )


def test_citizenlab_import() -> None:
    catalog = load_citizenlab(FIXTURES / "kz.csv")
    assert catalog.name == "citizenlab-kz"
    specs = {spec.id: spec for spec in catalog.targets}
    assert list(specs) == [
        "news.example.kz/http",
        "gov.example.kz/portal/http",
        "shop.example.kz/item_id_7/http",
    ]
    news = specs["news.example.kz/http"]
    assert news.kind == "http" and news.params == {"url": "https://news.example.kz/"}
    assert news.labels.country == "KZ" and news.labels.category == "news"
    assert news.source == "Citizen Lab test list kz.csv, added 2019-01-01, source: netwatch-test"
    assert news.note == "made-up row for tests"
    assert specs["gov.example.kz/portal/http"].labels.category == "government"
    assert specs["shop.example.kz/item_id_7/http"].labels.category == "comm"
    mapped = load_citizenlab(FIXTURES / "kz.csv", "UZ", {"COMM": "e-commerce"})
    assert {spec.labels.country for spec in mapped.targets} == {"UZ"}
    assert mapped.targets[2].labels.category == "e-commerce"


def test_citizenlab_bad_rows() -> None:
    path = FIXTURES / "bad.csv"
    with pytest.raises(ConfigError) as caught:
        load_citizenlab(path, "KZ")
    assert str(caught.value).splitlines() == [
        f"{path}:3: url: not an http(s) URL: 'ftp://files.example.kz/'",
        f"{path}:4: expected 6 columns, got 2",
        f"{path}:5: category_code: expected a code like NEWS, got 'news'",
        f"{path}:6: url: duplicate of the URL at line 2 (target id 'ok.example.kz/http')",
    ]


def test_citizenlab_needs_a_country_and_columns(tmp_path: Path) -> None:
    odd = tmp_path / "list.csv"
    odd.write_text("url,category_code\nhttps://a.example/,NEWS\n")
    with pytest.raises(ConfigError) as caught:
        load_citizenlab(odd)
    assert str(caught.value) == (
        f"{odd}: cannot tell the country from the file name: give --country or the 'country' key"
    )
    with pytest.raises(ConfigError) as caught:
        load_citizenlab(odd, "KZ")
    assert str(caught.value) == (
        f"{odd}:1: header: missing columns: category_description, date_added, source, notes"
    )


def test_citizenlab_in_config(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "kz.csv").write_text((FIXTURES / "kz.csv").read_text())
    text = (
        "vantage: {id: v, position: inside}\nresolvers: [{address: 127.0.0.1}]\n"
        "catalogs: [{citizenlab: lists/kz.csv, category_map: {COMM: e-commerce}}]\n"
    )
    config = parse_config(text, tmp_path / "netwatch.yaml", environ={})
    assert config.catalogs == ("citizenlab-kz",)
    assert config.targets[0].params.url == "https://news.example.kz/"
    assert config.targets[0].params.resolvers[0].address == "127.0.0.1"


def test_cli_import_and_list(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "targets.yaml"
    result = runner.invoke(app, ["catalog", "import-citizenlab", str(FIXTURES / "kz.csv"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(out.read_text())
    assert data["name"] == "citizenlab-kz" and len(data["entries"]) == 3
    bad = runner.invoke(app, ["catalog", "import-citizenlab", str(FIXTURES / "bad.csv"), "--country", "KZ"])
    assert bad.exit_code == 2

    config = tmp_path / "netwatch.yaml"
    config.write_text(
        "vantage: {id: v, position: inside}\nresolvers: [{address: 127.0.0.1}]\n"
        "catalogs: [{file: targets.yaml}, controls]\n"
    )
    listed = runner.invoke(app, ["catalog", "list", "--config", str(config), "--format", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert rows[0] == {
        "id": "news.example.kz/http",
        "kind": "http",
        "endpoint": "https://news.example.kz/",
        "region": "",
        "asn": "",
        "operator": "",
        "network_type": "unknown",
        "category": "news",
        "role": "subject",
    }
    assert len(rows) == 3 + len(load_builtin("controls").targets)

    as_csv = runner.invoke(app, ["catalog", "list", "--catalog", "kazakhstan", "--format", "csv"])
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    kaspi = next(row for row in table if row["id"] == "kaspi.kz/http")
    assert kaspi["endpoint"] == "https://kaspi.kz/" and kaspi["category"] == "bank"
    text = runner.invoke(app, ["catalog", "list", "--catalog", "controls"]).stdout
    assert text.splitlines()[0].split() == [
        "ID",
        "KIND",
        "ENDPOINT",
        "REGION",
        "ASN",
        "OPERATOR",
        "NETWORK_TYPE",
        "CATEGORY",
        "ROLE",
    ]
    assert text.endswith(f"{len(load_builtin('controls').targets)} targets\n")
    assert runner.invoke(app, ["catalog", "list", "--catalog", "nope"]).exit_code == 2
