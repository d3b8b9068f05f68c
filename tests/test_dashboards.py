"""Static checks of the Grafana dashboards, their provisioning and the region gazetteer.

The dashboards' queries are executed against a real Prometheus in ``tests/test_live_stack.py``; here:
the JSON is what ``dashboards/build.py`` produces, follows the conventions (stable unique uids, tags,
``schemaVersion``, the ``${datasource}`` variable everywhere, no hard-coded datasource uid), every metric a
dashboard or rule names is defined by netwatch or recorded by the rule pack, and every region of
ISO 3166-2:KZ has a centre on the map.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from netwatch import metrics
from netwatch.catalog.regions import KZ_REGIONS

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD_DIR = ROOT / "dashboards"
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
GAZETTEER = ROOT / "deploy" / "grafana" / "gazetteer" / "kz-regions.json"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
REFERENCE_REGIONS = ROOT.parent / "shared" / "reference" / "kz_regions_iso3166_2.csv"

EXPECTED_UIDS = {
    "kazakhstan-overview.json": "netwatch-kz-overview",
    "target-detail.json": "netwatch-target-detail",
    "vantages.json": "netwatch-vantages",
}
SCHEMA_VERSION = 41  # Grafana 12 classic dashboard model
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
FILTER_VARIABLES = {"vantage", "region", "operator", "asn", "network_type", "category"}

# Metrics the dashboards read that netwatch does not define yet, asked of the metrics owners (see the
# descriptions of the panels using them). A name leaves this set when netwatch/metrics.py defines it.
REQUESTED_METRICS: set[str] = set()
PROMETHEUS_BUILTINS = {"up", "scrape_duration_seconds", "ALERTS", "ALERTS_FOR_STATE"}
EXPOSITION_SUFFIXES = ("", "_total", "_bucket", "_sum", "_count", "_created", "_info")


def _load_build() -> Any:
    spec = importlib.util.spec_from_file_location("dashboards_build", DASHBOARD_DIR / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _load_build()
DASHBOARDS: dict[str, dict[str, Any]] = {
    p.name: json.loads(p.read_text()) for p in sorted(DASHBOARD_DIR.glob("*.json"))
}


def defined_metrics() -> set[str]:
    """Every exposed name: the constants of netwatch/metrics.py with the exposition's suffixes."""
    names = {
        v
        for k, v in vars(metrics).items()
        if k.isupper() and isinstance(v, str) and v.startswith("netwatch_")
    }
    return {name + suffix for name in names for suffix in EXPOSITION_SUFFIXES}


def recorded_series() -> set[str]:
    return {
        rule["record"]
        for path in RULES
        for g in yaml.safe_load(path.read_text())["groups"]
        for rule in g["rules"]
        if "record" in rule
    }


def rule_expressions() -> Iterator[tuple[str, str]]:
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                yield f"{path.name}: {rule.get('record') or rule.get('alert')}", rule["expr"]


def dashboard_expressions() -> Iterator[tuple[str, str]]:
    for name, dash in DASHBOARDS.items():
        for panel in dash["panels"]:
            for t in panel.get("targets", []):
                yield f"{name}: {panel['title']} [{t['refId']}]", t["expr"]
        for ann in dash["annotations"]["list"]:
            yield f"{name}: annotation {ann['name']}", ann["expr"]
        for var in dash["templating"]["list"]:
            if var["type"] == "query":
                yield f"{name}: variable {var['name']}", var["definition"]


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{")
_NETWATCH = re.compile(r"\bnetwatch[_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: names before a selector's ``{`` and every netwatch name."""
    bare = _STRINGS.sub('""', expr)
    names = set(_SELECTOR.findall(bare)) | set(_NETWATCH.findall(bare))
    return names - {"by", "without", "on", "ignoring", "group_left", "group_right"}


def test_metric_name_extraction() -> None:
    expr = (
        'sum by (a) (rate(netwatch_x_total{job="netwatch_not_a_metric"}[5m])) / on () up{a="b"} + netwatch:y'
    )
    assert metric_names(expr) == {"netwatch_x_total", "up", "netwatch:y"}


# --- the JSON is the build's output -------------------------------------------------------------------------


def test_dashboard_json_is_what_build_py_produces() -> None:
    assert set(DASHBOARDS) == set(BUILD.DASHBOARDS), "a dashboard JSON without a builder, or the reverse"
    for name, build in BUILD.DASHBOARDS.items():
        assert (DASHBOARD_DIR / name).read_text() == BUILD.render(build), (
            f"{name} is stale: run python dashboards/build.py"
        )


# --- conventions ------------------------------------------


def test_uids_are_stable_and_unique() -> None:
    assert {name: d["uid"] for name, d in DASHBOARDS.items()} == EXPECTED_UIDS


@pytest.mark.parametrize("name", sorted(EXPECTED_UIDS))
def test_dashboard_conventions(name: str) -> None:
    dash = DASHBOARDS[name]
    assert dash["schemaVersion"] == SCHEMA_VERSION
    assert dash["id"] is None  # Grafana assigns ids; a fixed one collides across instances
    assert "netwatch" in dash["tags"] and len(dash["tags"]) >= 2
    assert dash["title"].startswith("netwatch / ")
    panels = dash["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    titles = [p["title"] for p in panels if p["type"] != "row"]
    assert len(set(titles)) == len(titles), (
        "panel titles identify panels in tests and links: keep them unique"
    )
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert all(t["datasource"] == DATASOURCE for t in panel["targets"]), panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
        for t in panel.get("transformations", []):
            assert t["id"] != "formatTime", "formatTime is migrated away by schema 43: use convertFieldType"
    for var in variables.values():
        if var["type"] == "query":
            assert var["datasource"] == DATASOURCE, var["name"]
    for ann in dash["annotations"]["list"]:
        assert ann["datasource"] == DATASOURCE, ann["name"]


def _datasource_refs(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            else:
                yield from _datasource_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _datasource_refs(item)


@pytest.mark.parametrize("name", sorted(EXPECTED_UIDS))
def test_no_hard_coded_datasource(name: str) -> None:
    refs = list(_datasource_refs(DASHBOARDS[name]))
    assert refs
    for ref in refs:
        assert ref == DATASOURCE, ref
    assert "-- Grafana --" not in json.dumps(DASHBOARDS[name])


def test_filter_variables() -> None:
    for name in ("kazakhstan-overview.json", "target-detail.json"):
        names = {v["name"] for v in DASHBOARDS[name]["templating"]["list"]}
        assert names >= {"datasource", *FILTER_VARIABLES}, name
        exprs = json.dumps([p.get("targets") for p in DASHBOARDS[name]["panels"]])
        for var in FILTER_VARIABLES:
            assert f"${var}" in exprs, f"{name}: variable {var} is used by no panel"
    assert {v["name"] for v in DASHBOARDS["vantages.json"]["templating"]["list"]} >= {"datasource", "vantage"}
    detail = {v["name"]: v for v in DASHBOARDS["target-detail.json"]["templating"]["list"]}
    assert "target" in detail and "kind" in detail


@pytest.mark.parametrize("name", sorted(EXPECTED_UIDS))
def test_panels_do_not_overlap(name: str) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in DASHBOARDS[name]["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_overview_has_the_required_panels() -> None:
    panels = {p["title"]: p for p in DASHBOARDS["kazakhstan-overview.json"]["panels"]}
    outages = panels["Open outages"]
    assert outages["type"] == "table"
    columns = set(outages["transformations"][1]["options"]["renameByName"].values())
    assert columns >= {
        "Scope",
        "Entity",
        "Layer",
        "Start (UTC)",
        "Start (Asia/Almaty)",
        "Duration",
        "Uncertainty",
    }
    zones = [
        c["timezone"]
        for t in outages["transformations"]
        for c in t["options"].get("conversions", [])
        if "timezone" in c
    ]
    assert zones == ["utc", "Asia/Almaty"]  # an IANA zone, never a fixed offset
    assert panels["Reachability by region"]["type"] == "geomap"
    assert panels["Regions"]["type"] == "table"
    assert "mobile|fixed" in json.dumps(panels["Mobile vs fixed operators"]["targets"])
    assert panels["Failure share per layer"]["type"] == "timeseries"
    assert DASHBOARDS["kazakhstan-overview.json"]["annotations"]["list"]


# --- every metric exists ------------------------------------------


def test_every_metric_a_dashboard_names_exists() -> None:
    known = defined_metrics() | recorded_series() | PROMETHEUS_BUILTINS | REQUESTED_METRICS
    unknown = {
        (where, name)
        for where, expr in dashboard_expressions()
        for name in metric_names(expr)
        if name not in known
    }
    assert not unknown, sorted(unknown)


def test_every_metric_a_rule_names_exists() -> None:
    known = defined_metrics() | recorded_series() | PROMETHEUS_BUILTINS | REQUESTED_METRICS
    unknown = {
        (where, name)
        for where, expr in rule_expressions()
        for name in metric_names(expr)
        if name not in known
    }
    assert not unknown, sorted(unknown)


def test_requested_metrics_are_not_yet_defined() -> None:
    """A requested metric that netwatch now defines leaves REQUESTED_METRICS: keeps the list honest."""
    assert not REQUESTED_METRICS & defined_metrics()


def test_label_names_the_dashboards_filter_on_exist() -> None:
    exported = set(metrics.TARGET_LABELS) | {"vantage", "position", "watched_country", "job", "instance"}
    for where, expr in dashboard_expressions():
        for label in re.findall(r"\b(\w+)=~?\"", expr):
            assert label in exported | {
                "failure",
                "phase",
                "scope",
                "entity",
                "layer",
                "group_type",
                "group",
            }, (
                where,
                label,
            )


# --- region centres ------------------------------------------


def test_gazetteer_has_every_region_at_its_admin_centre() -> None:
    entries = json.loads(GAZETTEER.read_text())
    by_code = {e["key"]: e for e in entries}
    assert len(by_code) == len(entries) == 20
    assert set(by_code) == set(KZ_REGIONS)
    for code, entry in by_code.items():
        assert entry["name"] == KZ_REGIONS[code]
        # Kazakhstan's bounding box: 40.5-55.5 N, 46.4-87.4 E.
        assert 40.5 < entry["latitude"] < 55.5 and 46.4 < entry["longitude"] < 87.4, code
    assert by_code["KZ-75"]["latitude"] == pytest.approx(43.24, abs=0.05)  # Almaty
    assert by_code["KZ-71"]["longitude"] == pytest.approx(71.45, abs=0.05)  # Astana
    assert by_code["KZ-47"]["admin_centre"] == "Aktau"  # Mangystau, where January 2022 began


def test_gazetteer_matches_the_reference_admin_centres() -> None:
    if not REFERENCE_REGIONS.exists():
        pytest.skip(f"{REFERENCE_REGIONS} not beside the repository")
    with REFERENCE_REGIONS.open(newline="") as f:
        reference = {row["iso3166_2"]: row["admin_centre"] for row in csv.DictReader(f)}
    entries = {e["key"]: e["admin_centre"] for e in json.loads(GAZETTEER.read_text())}
    assert set(entries) == set(reference)
    for code, centre in entries.items():
        assert reference[code].startswith(centre), (code, centre, reference[code])


def test_geomap_uses_the_shipped_gazetteer() -> None:
    (geomap,) = [p for p in DASHBOARDS["kazakhstan-overview.json"]["panels"] if p["type"] == "geomap"]
    location = geomap["options"]["layers"][0]["location"]
    assert location == {"mode": "lookup", "lookup": "region", "gazetteer": "public/gazetteer/kz-regions.json"}
    assert "avg by (region)" in geomap["targets"][0]["expr"]  # the lookup field is the query's only label


# --- provisioning ------------------------------------------


def test_provisioning_files() -> None:
    (source,) = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert source["type"] == "prometheus" and source["access"] == "proxy"
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "netwatch.yaml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
    assert provider["allowUiUpdates"] is False
