"""Builds the Grafana dashboards in this directory: ``python dashboards/build.py`` rewrites the JSON.

The JSON files are what Grafana loads (``deploy/grafana/provisioning/dashboards``); this script is their
source, so that uids, variables, datasource references and selectors stay uniform across panels.
``tests/test_dashboards.py`` fails when the JSON differs from what this script produces.

Conventions (checked by the tests):
- classic dashboard JSON, ``schemaVersion`` ``SCHEMA_VERSION`` (Grafana 12), fixed ``uid``, tag ``netwatch``;
- every panel, query, variable and annotation names its datasource as ``${datasource}`` (a datasource
  template variable of type prometheus): no datasource uid is hard-coded;
- every metric named here is defined in ``netwatch/metrics.py``, recorded in ``deploy/prometheus/rules``,
  built into Prometheus, or listed in ``REQUESTED_METRICS`` (asked of the metrics owners, see the test).
Label values come from config and closed vocabularies; none of these queries builds a label from free text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMA_VERSION = 41  # Grafana 12.x classic model; migrations 42/43 touch features not used here
DS: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}
GAZETTEER = "public/gazetteer/kz-regions.json"  # deploy/grafana/gazetteer/kz-regions.json, mounted
ALMATY_TZ = "Asia/Almaty"

Json = dict[str, Any]

# --- selectors ------------------------------------------------------------------------------------

COUNTRY = 'watched_country=~"$watched_country"'
VANTAGE = 'vantage=~"$vantage"'
# Every per-target series carries these labels (netwatch.metrics.TARGET_LABELS) plus vantage/position/
# watched_country from the scrape config.
FILTERS = (
    f'{COUNTRY}, {VANTAGE}, region=~"$region", operator=~"$operator", asn=~"$asn", '
    'network_type=~"$network_type", category=~"$category"'
)
SUBJECTS = f'{FILTERS}, role="subject"'
TARGET = f'{FILTERS}, kind=~"$kind", target=~"$target"'
LAYER_OF_FAILURE = "(dns|tcp|tls|http)_.*"  # the failure vocabulary's prefixes: the four layers


# --- building blocks --------------------------------------------------------------------------------


def target(
    expr: str, legend: str = "", *, ref: str = "A", instant: bool = False, table: bool = False
) -> Json:
    return {
        "datasource": DS,
        "refId": ref,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
        "format": "table" if table else "time_series",
        "editorMode": "code",
    }


def panel(
    kind: str,
    title: str,
    grid: tuple[int, int, int, int],
    targets: list[Json],
    *,
    description: str = "",
    unit: str | None = None,
    minmax: tuple[float, float] | None = None,
    thresholds: list[tuple[float | None, str]] | None = None,
    options: Json | None = None,
    custom: Json | None = None,
    mappings: list[Json] | None = None,
    overrides: list[Json] | None = None,
    transformations: list[Json] | None = None,
) -> Json:
    x, y, w, h = grid
    defaults: Json = {}
    if unit:
        defaults["unit"] = unit
    if minmax:
        defaults["min"], defaults["max"] = minmax
    if thresholds:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in thresholds],
        }
    if custom:
        defaults["custom"] = custom
    if mappings:
        defaults["mappings"] = mappings
    result: Json = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
    }
    if transformations:
        result["transformations"] = transformations
    return result


def row(title: str, y: int) -> Json:
    return {"type": "row", "title": title, "collapsed": False, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}}


def timeseries(title: str, grid: tuple[int, int, int, int], targets: list[Json], **kw: Any) -> Json:
    kw.setdefault("options", {"legend": {"displayMode": "table", "placement": "right", "showLegend": True}})
    return panel("timeseries", title, grid, targets, **kw)


def stat(title: str, grid: tuple[int, int, int, int], targets: list[Json], **kw: Any) -> Json:
    kw.setdefault(
        "options",
        {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
        },
    )
    return panel("stat", title, grid, targets, **kw)


def table(title: str, grid: tuple[int, int, int, int], targets: list[Json], **kw: Any) -> Json:
    kw.setdefault("options", {"showHeader": True, "cellHeight": "sm"})
    return panel("table", title, grid, targets, **kw)


def rename(names: dict[str, str], exclude: tuple[str, ...] = ("Time",)) -> Json:
    return {
        "id": "organize",
        "options": {"renameByName": names, "excludeByName": dict.fromkeys(exclude, True)},
    }


def name_override(field: str, display: str) -> Json:
    return {
        "matcher": {"id": "byName", "options": field},
        "properties": [{"id": "displayName", "value": display}],
    }


def query_variable(name: str, label: str, query: str, *, multi: bool = True, all_: bool = True) -> Json:
    variable: Json = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "definition": query,
        "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "multi": multi,
        "includeAll": all_,
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
    }
    if all_:
        variable["allValue"] = ".*"  # matches series without the label too (national targets have region="")
        variable["current"] = {"text": ["All"], "value": ["$__all"]}
    return variable


def datasource_variable() -> Json:
    return {
        "type": "datasource",
        "name": "datasource",
        "label": "Prometheus",
        "query": "prometheus",
        "options": [],
        "regex": "",
        "refresh": 1,
        "hide": 0,
    }


def country_variable() -> Json:
    return query_variable(
        "watched_country",
        "Watched country",
        "label_values(netwatch_probe_last_run_timestamp_seconds, watched_country)",
        multi=False,
        all_=False,
    ) | {"current": {"text": "KZ", "value": "KZ"}}


def filter_variables() -> list[Json]:
    """vantage, region, operator, asn, network type, category: each narrowed by the ones before it."""
    sel = [COUNTRY]
    out = []
    for name, label in (
        ("vantage", "Vantage"),
        ("region", "Region (ISO 3166-2)"),
        ("operator", "Operator"),
        ("asn", "ASN"),
        ("network_type", "Network type"),
        ("category", "Category"),
    ):
        out.append(
            query_variable(name, label, f"label_values(netwatch_probe_success{{{', '.join(sel)}}}, {name})")
        )
        sel.append(f'{name}=~"${name}"')
    return out


def annotation(name: str, expr: str, title: str, color: str, *, tags: str, text: str = "") -> Json:
    return {
        "name": name,
        "datasource": DS,
        "enable": True,
        "hide": False,
        "iconColor": color,
        "expr": expr,
        "step": "60s",
        "titleFormat": title,
        "textFormat": text,
        "tagKeys": tags,
        "useValueForTime": False,
        "target": {"refId": "Anno", "expr": expr, "interval": "60s"},
    }


def dashboard(uid: str, title: str, description: str, tags: list[str], panels: list[Json], **kw: Any) -> Json:
    for number, p in enumerate(panels, start=1):
        p["id"] = number
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["netwatch", *tags],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "id": None,
        "editable": True,
        "graphTooltip": 1,
        "timezone": "utc",
        "time": {"from": kw.get("time_from", "now-6h"), "to": "now"},
        "refresh": "1m",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "links": [
            {
                "type": "dashboards",
                "title": "netwatch",
                "tags": ["netwatch"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "annotations": {"list": kw.get("annotations", [])},
        "templating": {"list": kw["variables"]},
        "panels": panels,
    }


PERCENT_RYG = [(None, "red"), (0.5, "orange"), (0.9, "green")]
BARS = {"drawStyle": "bars", "fillOpacity": 60, "stacking": {"mode": "normal", "group": "A"}}
STEPS = {"lineInterpolation": "stepAfter", "fillOpacity": 10}


def time_conversions(fields: dict[str, str]) -> list[Json]:
    """Epoch-millisecond fields → time → a string in the given zone (IANA name, never an offset)."""
    return [
        {
            "id": "convertFieldType",
            "options": {"conversions": [{"targetField": f, "destinationType": "time"} for f in fields]},
        },
        {
            "id": "convertFieldType",
            "options": {
                "conversions": [
                    {
                        "targetField": f,
                        "destinationType": "string",
                        "dateFormat": "YYYY-MM-DD HH:mm:ss",
                        "timezone": zone,
                    }
                    for f, zone in fields.items()
                ]
            },
        },
    ]


# --- Kazakhstan overview ------------------------------------------------------------------------------


def overview() -> Json:
    outage_by = "watched_country, scope, entity, layer"
    start = f'min by ({outage_by}) (netwatch_outage_start_time_seconds{{{COUNTRY}, scope!="vantage"}})'
    earliest = (
        f'min by ({outage_by}) (netwatch_outage_start_earliest_seconds{{{COUNTRY}, scope!="vantage"}})'
    )
    layer_share = (
        "sum by (layer) (label_replace("
        f'increase(netwatch_probe_failures_total{{{SUBJECTS}, failure=~"{LAYER_OF_FAILURE}"}}'
        "[$__rate_interval]),"
        f' "layer", "$1", "failure", "{LAYER_OF_FAILURE}"))'
        " / on () group_left () "
        f"sum(increase(netwatch_probe_runs_total{{{SUBJECTS}}}[$__rate_interval]))"
    )
    panels = [
        row("National state now", 0),
        stat(
            "National verdict",
            (0, 1, 6, 5),
            [
                target(
                    f"max(netwatch:country_outage_vantages:count{{{COUNTRY}}}) or on () vector(0)",
                    instant=True,
                )
            ],
            description=(
                "Voting vantages that report a country-wide outage (any connectivity layer), from the "
                "recording "
                "rule netwatch:country_outage_vantages:count. The national alert needs the quorum set in "
                "deploy/prometheus/rules/netwatch-settings.yml."
            ),
            thresholds=[(None, "green"), (1, "red")],
            mappings=[
                {"type": "value", "options": {"0": {"text": "No national outage", "color": "green"}}},
                {
                    "type": "range",
                    "options": {"from": 1, "to": 1000, "result": {"text": "NATIONAL OUTAGE", "color": "red"}},
                },
            ],
        ),
        stat(
            "Subject targets reachable (latest probes)",
            (6, 1, 6, 5),
            [target(f"avg(netwatch_probe_success{{{SUBJECTS}}})", instant=True)],
            description="Share of the selected subject targets whose latest probe succeeded, over the "
            "selected "
            "vantages. Raw measurements, before the detector's hysteresis.",
            unit="percentunit",
            minmax=(0, 1),
            thresholds=PERCENT_RYG,
        ),
        stat(
            "Reachability inside / outside (detector)",
            (12, 1, 6, 5),
            [
                target(
                    "netwatch:group_reachability_ratio:median_by_position"
                    f'{{{COUNTRY}, group_type="country"}}',
                    "{{position}}",
                    instant=True,
                )
            ],
            description="Median over voting vantages of the detector's country reachability ratio, inside "
            "and "
            "outside the country separately (recording rule).",
            unit="percentunit",
            minmax=(0, 1),
            thresholds=PERCENT_RYG,
        ),
        stat(
            "Outages open now",
            (18, 1, 3, 5),
            [
                target(
                    f"count(max by ({outage_by}) (netwatch:outage_active:voting{{{COUNTRY}}})) or on () "
                    f"vector(0)",
                    instant=True,
                )
            ],
            description="Distinct open outages (scope, entity, layer) reported by at least one voting "
            "vantage.",
            thresholds=[(None, "green"), (1, "red")],
        ),
        stat(
            "Vantages voting",
            (21, 1, 3, 5),
            [target(f"count(netwatch:vantage_voting{{{COUNTRY}}}) or on () vector(0)", instant=True)],
            description="Vantages that are scraped, probing and online by their own controls "
            "(netwatch:vantage_voting). Offline or silent vantages never vote.",
            thresholds=[(None, "red"), (2, "green")],
        ),
        table(
            "Open outages",
            (0, 6, 24, 7),
            [
                target(f"netwatch:outage_vantages:count{{{COUNTRY}}}", ref="A", instant=True, table=True),
                target(f"{start} * 1000", ref="B", instant=True, table=True),
                target(f"{start} * 1000", ref="C", instant=True, table=True),
                target(f"time() - {start}", ref="D", instant=True, table=True),
                target(f"{start} - {earliest}", ref="E", instant=True, table=True),
            ],
            description=(
                "Open outages agreed by voting vantages. Start = the detector's started_at (earliest over "
                "vantages); the truth lies between 'start earliest' (the last good measurement) and the "
                "start, "
                "so 'uncertainty' is that window. Times are shown in UTC and in Asia/Almaty (IANA zone: "
                "Kazakhstan changed zones in 2024). From netwatch_outage_start_time_seconds and "
                "netwatch_outage_start_earliest_seconds (the earliest over vantages)."
            ),
            transformations=[
                {"id": "merge", "options": {}},
                rename(
                    {
                        "watched_country": "Country",
                        "scope": "Scope",
                        "entity": "Entity",
                        "layer": "Layer",
                        "Value #A": "Vantages",
                        "Value #B": "Start (UTC)",
                        "Value #C": f"Start ({ALMATY_TZ})",
                        "Value #D": "Duration",
                        "Value #E": "Uncertainty",
                    }
                ),
                *time_conversions({"Start (UTC)": "utc", f"Start ({ALMATY_TZ})": ALMATY_TZ}),
            ],
            overrides=[
                {
                    "matcher": {"id": "byName", "options": name},
                    "properties": [{"id": "unit", "value": "dtdurations"}],
                }
                for name in ("Duration", "Uncertainty")
            ],
        ),
        row("Regions", 13),
        panel(
            "geomap",
            "Reachability by region",
            (0, 14, 12, 12),
            [
                target(
                    f'avg by (region) (netwatch_probe_success{{{SUBJECTS}, region!=""}})',
                    instant=True,
                    table=True,
                )
            ],
            description="Share of subject targets reachable per region (latest probes of the selected "
            "vantages), "
            "at the region's administrative centre. Coordinates: deploy/grafana/gazetteer/kz-regions.json.",
            unit="percentunit",
            minmax=(0, 1),
            thresholds=PERCENT_RYG,
            options={
                "view": {"id": "coords", "lat": 48.0, "lon": 67.0, "zoom": 4.2},
                "controls": {"showZoom": True, "mouseWheelZoom": True},
                "basemap": {"type": "default", "name": "Basemap"},
                "tooltip": {"mode": "details"},
                "layers": [
                    {
                        "type": "markers",
                        "name": "Regions",
                        "tooltip": True,
                        "location": {"mode": "lookup", "lookup": "region", "gazetteer": GAZETTEER},
                        "config": {
                            "showLegend": True,
                            "style": {
                                "size": {"fixed": 12},
                                "color": {"field": "Value"},
                                "opacity": 0.8,
                                "text": {"field": "region", "mode": "field"},
                                "textConfig": {"fontSize": 10, "offsetY": -14},
                            },
                        },
                    }
                ],
            },
        ),
        table(
            "Regions",
            (12, 14, 12, 12),
            [
                target(
                    f'avg by (region) (netwatch_probe_success{{{SUBJECTS}, region!=""}})',
                    ref="A",
                    instant=True,
                    table=True,
                ),
                target(
                    f'count by (region) (netwatch_probe_success{{{SUBJECTS}, region!=""}})',
                    ref="B",
                    instant=True,
                    table=True,
                ),
                target(
                    "label_replace(min by (group) (netwatch:group_reachability_ratio:median_by_position{"
                    f'{COUNTRY}, group_type="region", group=~"$region"}}), "region", "$1", "group", "(.*)")',
                    ref="C",
                    instant=True,
                    table=True,
                ),
            ],
            description="Per region: share reachable in the latest probes, number of target series, and the "
            "detector's reachability (worst of the inside/outside medians over voting vantages).",
            transformations=[
                {"id": "merge", "options": {}},
                rename(
                    {
                        "region": "Region",
                        "Value #A": "Reachable (latest probes)",
                        "Value #B": "Target series",
                        "Value #C": "Detector reachability",
                    },
                    exclude=("Time", "group"),
                ),
            ],
            overrides=[
                {
                    "matcher": {"id": "byName", "options": name},
                    "properties": [
                        {"id": "unit", "value": "percentunit"},
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                        {
                            "id": "thresholds",
                            "value": {
                                "mode": "absolute",
                                "steps": [{"color": c, "value": v} for v, c in PERCENT_RYG],
                            },
                        },
                    ],
                }
                for name in ("Reachable (latest probes)", "Detector reachability")
            ],
        ),
        timeseries(
            "Reachability by region over time",
            (0, 26, 24, 8),
            [target(f'avg by (region) (netwatch_probe_success{{{SUBJECTS}, region!=""}})', "{{region}}")],
            unit="percentunit",
            minmax=(0, 1),
            custom=STEPS,
        ),
        row("Networks and layers", 34),
        timeseries(
            "Mobile vs fixed operators",
            (0, 35, 12, 9),
            [
                target(
                    f"avg by (network_type) "
                    f'(netwatch_probe_success{{{SUBJECTS}, network_type=~"mobile|fixed"}})',
                    "{{network_type}} (all operators)",
                    ref="A",
                ),
                target(
                    "avg by (network_type, operator, asn) "
                    f'(netwatch_probe_success{{{SUBJECTS}, network_type=~"mobile|fixed"}})',
                    "{{operator}} AS{{asn}} ({{network_type}})",
                    ref="B",
                ),
                target(
                    "netwatch:group_reachability_ratio:median_by_position"
                    f'{{{COUNTRY}, group_type="network_type", group=~"mobile|fixed"}}',
                    "{{group}} detector median ({{position}})",
                    ref="C",
                ),
            ],
            description="Share of subject targets reachable on mobile and fixed networks, per operator, "
            "and the "
            "detector's per-network-type reachability. Throttling of mobile networks (January 2022) shows "
            "here first.",
            unit="percentunit",
            minmax=(0, 1),
            custom=STEPS,
        ),
        timeseries(
            "Failure share per layer",
            (12, 35, 12, 9),
            [target(layer_share, "{{layer}}")],
            description=(
                "Failed probes of the selected subject targets by layer of their failure name (dns_*, tcp_*, "
                "tls_*, http_*), as a share of the probe runs in the window "
                "(netwatch_probe_runs_total)."
            ),
            unit="percentunit",
            minmax=(0, 1),
            custom=BARS,
            overrides=[
                name_override(value, display)
                for value, display in (("dns", "DNS"), ("tcp", "TCP/IP"), ("tls", "TLS"), ("http", "HTTP"))
            ],
        ),
    ]
    return dashboard(
        "netwatch-kz-overview",
        "netwatch / Kazakhstan overview",
        "Is Kazakhstan's internet reachable now, where not, on which networks and at which layer.",
        ["kazakhstan", "overview"],
        panels,
        variables=[datasource_variable(), country_variable(), *filter_variables()],
        annotations=[
            annotation(
                "Outages",
                f"max by ({outage_by}) (netwatch:outage_active:voting{{{COUNTRY}}})",
                "{{layer}} outage: {{scope}} {{entity}}",
                "red",
                tags="scope,entity,layer",
            ),
            annotation(
                "National outage (quorum met)",
                f"max by (watched_country) (netwatch:country_outage_quorum_met{{{COUNTRY}}})",
                "National outage: {{watched_country}}",
                "dark-red",
                tags="watched_country",
            ),
        ],
    )


# --- Target detail ----------------------------------------------------------------------------------------


def target_detail() -> Json:
    failures = f"netwatch_probe_failures_total{{{TARGET}}}"
    panels = [
        stat(
            "Latest result",
            (0, 0, 8, 4),
            [target(f"netwatch_probe_success{{{TARGET}}}", "{{target}} @ {{vantage}}", instant=True)],
            thresholds=[(None, "red"), (1, "green")],
            mappings=[{"type": "value", "options": {"0": {"text": "FAIL"}, "1": {"text": "OK"}}}],
        ),
        stat(
            "Success ratio over the time range",
            (8, 0, 8, 4),
            [
                target(
                    f"avg_over_time(netwatch_probe_success{{{TARGET}}}[$__range])",
                    "{{target}} @ {{vantage}}",
                    instant=True,
                )
            ],
            unit="percentunit",
            minmax=(0, 1),
            thresholds=PERCENT_RYG,
        ),
        stat(
            "Time since last run",
            (16, 0, 8, 4),
            [
                target(
                    f"time() - netwatch_probe_last_run_timestamp_seconds{{{TARGET}}}",
                    "{{target}} @ {{vantage}}",
                    instant=True,
                )
            ],
            unit="s",
            thresholds=[(None, "green"), (300, "orange"), (600, "red")],
        ),
        timeseries(
            "Success",
            (0, 4, 24, 7),
            [target(f"netwatch_probe_success{{{TARGET}}}", "{{target}} @ {{vantage}}")],
            minmax=(0, 1),
            custom=STEPS,
        ),
        timeseries(
            "Probe duration",
            (0, 11, 12, 8),
            [target(f"netwatch_probe_duration_seconds{{{TARGET}}}", "{{target}} @ {{vantage}}")],
            unit="s",
        ),
        timeseries(
            "Phase timings",
            (12, 11, 12, 8),
            [target(f"netwatch_probe_phase_seconds{{{TARGET}}}", "{{target}} @ {{vantage}}: {{phase}}")],
            description="Seconds spent in each phase (resolve, connect, tls, first_byte, transfer) of the "
            "latest "
            "probe.",
            unit="s",
        ),
        timeseries(
            "Failure reasons",
            (0, 19, 12, 8),
            [
                target(
                    f"sum by (target, vantage, failure) (increase({failures}[$__rate_interval]))",
                    "{{failure}}: {{target}} @ {{vantage}}",
                )
            ],
            description="Failed probes by failure name (the closed vocabulary of netwatch.model.Failure).",
            custom=BARS,
        ),
        table(
            "Failure reasons over the time range",
            (12, 19, 12, 8),
            [
                target(
                    f"sum by (target, vantage, failure) (increase({failures}[$__range])) > 0",
                    instant=True,
                    table=True,
                )
            ],
            transformations=[
                rename({"target": "Target", "vantage": "Vantage", "failure": "Failure", "Value": "Failures"})
            ],
        ),
        timeseries(
            "DNS answer anomalies",
            (0, 27, 12, 8),
            [
                target(
                    "sum by (target, vantage, failure) (increase(netwatch_probe_failures_total{"
                    f'{TARGET}, failure=~"dns_bogon_answer|dns_unexpected_answer|dns_nxdomain|dns_no_answer"'
                    "}[$__rate_interval]))",
                    "{{failure}}: {{target}} @ {{vantage}}",
                    ref="A",
                ),
                target(
                    f"changes(netwatch_probe_dns_answer_hash{{{TARGET}}}[$__rate_interval])",
                    "answer set changed: {{target}} @ {{vantage}}",
                    ref="B",
                ),
            ],
            description="Answers that point at bogons or outside the expected set, NXDOMAIN/NODATA for names "
            "that exist, and (B) changes of the answer set: netwatch_probe_dns_answer_hash is a requested "
            "metric (a numeric hash of the sorted answers as the sample value, no extra labels).",
            custom=BARS,
        ),
        timeseries(
            "TLS certificate problems and issuer changes",
            (12, 27, 12, 8),
            [
                target(
                    "sum by (target, vantage, failure) (increase(netwatch_probe_failures_total{"
                    f'{TARGET}, failure=~"tls_.*"}}[$__rate_interval]))',
                    "{{failure}}: {{target}} @ {{vantage}}",
                    ref="A",
                ),
                target(
                    f"changes(netwatch_probe_tls_issuer_hash{{{TARGET}}}[$__rate_interval])",
                    "issuer changed: {{target}} @ {{vantage}}",
                    ref="B",
                ),
            ],
            description="TLS failures (an untrusted issuer is the mark of interception) and (B) changes "
            "of the "
            "issuing certificate: netwatch_probe_tls_issuer_hash is a requested metric (numeric hash of the "
            "issuer certificate's fingerprint as the sample value, no extra labels).",
            custom=BARS,
        ),
        timeseries(
            "Outage verdicts for this target",
            (0, 35, 24, 6),
            [
                target(
                    f'netwatch_outage_active{{{COUNTRY}, {VANTAGE}, scope="target", entity=~"$target"}}',
                    "{{entity}} @ {{vantage}}: {{layer}}",
                )
            ],
            description="The detector's per-target verdicts (after hysteresis), per vantage.",
            minmax=(0, 1),
            custom=STEPS,
        ),
    ]
    variables = [
        datasource_variable(),
        country_variable(),
        *filter_variables(),
        query_variable("kind", "Probe kind", f"label_values(netwatch_probe_success{{{FILTERS}}}, kind)"),
        query_variable(
            "target",
            "Target",
            f'label_values(netwatch_probe_success{{{FILTERS}, kind=~"$kind"}}, target)',
            all_=False,
        ),
    ]
    return dashboard(
        "netwatch-target-detail",
        "netwatch / Target detail",
        "One target (or a few) from every vantage: results, timings, failure reasons, DNS and TLS evidence.",
        ["target"],
        panels,
        variables=variables,
        time_from="now-24h",
        annotations=[
            annotation(
                "Target outages",
                f"max by (entity, layer, vantage) "
                f'(netwatch_outage_active{{{COUNTRY}, {VANTAGE}, scope="target", '
                'entity=~"$target"} == 1)',
                "{{layer}}: {{entity}} @ {{vantage}}",
                "red",
                tags="entity,layer,vantage",
            )
        ],
    )


# --- Vantages and agent health ---------------------------------------------------------------------------


def vantages() -> Json:
    sel = f"{COUNTRY}, {VANTAGE}"
    by = "watched_country, vantage, position"
    lag = f"sum by (vantage, le) (rate(netwatch_scheduler_lag_seconds_bucket{{{sel}}}[$__rate_interval]))"
    panels = [
        table(
            "Vantages now",
            (0, 0, 24, 7),
            [
                target(f'max by ({by}) (up{{job=~"netwatch.*", {sel}}})', ref="A", instant=True, table=True),
                target(
                    f"max by ({by}) (netwatch:vantage_last_probe_age_seconds{{{sel}}})",
                    ref="B",
                    instant=True,
                    table=True,
                ),
                target(
                    f'avg by ({by}) (netwatch_probe_success{{{sel}, role="control"}})',
                    ref="C",
                    instant=True,
                    table=True,
                ),
                target(
                    f"max by ({by}) (netwatch_targets_configured{{{sel}}})", ref="D", instant=True, table=True
                ),
                target(
                    f"min by ({by}) (netwatch_config_last_reload_successful{{{sel}}})",
                    ref="E",
                    instant=True,
                    table=True,
                ),
                target(
                    f"count by ({by}) (netwatch:vantage_voting{{{sel}}})", ref="F", instant=True, table=True
                ),
            ],
            description="One row per vantage: scraped (up), age of its newest probe run, share of its "
            "control "
            "targets reachable, targets configured, last config load, and whether its verdicts count as "
            "votes.",
            transformations=[
                {"id": "merge", "options": {}},
                rename(
                    {
                        "watched_country": "Country",
                        "vantage": "Vantage",
                        "position": "Position",
                        "Value #A": "Scraped",
                        "Value #B": "Newest run age",
                        "Value #C": "Controls reachable",
                        "Value #D": "Targets",
                        "Value #E": "Config OK",
                        "Value #F": "Voting",
                    }
                ),
            ],
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "Newest run age"},
                    "properties": [{"id": "unit", "value": "s"}],
                },
                {
                    "matcher": {"id": "byName", "options": "Controls reachable"},
                    "properties": [{"id": "unit", "value": "percentunit"}],
                },
            ],
        ),
        timeseries(
            "Control targets reachable",
            (0, 7, 12, 8),
            [target(f'avg by (vantage) (netwatch_probe_success{{{sel}, role="control"}})', "{{vantage}}")],
            description="Controls are references abroad (or at home) that tell whether the vantage itself is "
            "online. When they fail, the detector reports the vantage offline instead of the country down.",
            unit="percentunit",
            minmax=(0, 1),
            custom=STEPS,
        ),
        timeseries(
            "Vantage verdicts",
            (12, 7, 12, 8),
            [
                target(
                    f'netwatch_outage_active{{{sel}, scope="vantage"}}', "{{vantage}}: {{layer}}", ref="A"
                ),
                target(
                    f'netwatch_outage_active{{{sel}, scope="country", layer="international_cut"}}',
                    "{{vantage}}: international cut seen from inside",
                    ref="B",
                ),
                target(f"netwatch:vantage_voting{{{sel}}}", "{{vantage}} voting", ref="C"),
            ],
            minmax=(0, 1),
            custom=STEPS,
        ),
        timeseries(
            "Staleness: age of the newest probe run",
            (0, 15, 12, 8),
            [
                target(f"netwatch:vantage_last_probe_age_seconds{{{sel}}}", "{{vantage}}", ref="A"),
                target("max(netwatch_agent_stale_seconds)", "stale threshold", ref="B"),
            ],
            description="Grows without bound when an agent stops probing; past the threshold "
            "(netwatch-settings.yml) its votes stop counting and NetwatchAgentSilent fires.",
            unit="s",
        ),
        table(
            "Stalest targets",
            (12, 15, 12, 8),
            [
                target(
                    f"topk(15, time() - netwatch_probe_last_run_timestamp_seconds{{{sel}}})",
                    instant=True,
                    table=True,
                )
            ],
            transformations=[
                rename(
                    {"vantage": "Vantage", "target": "Target", "kind": "Kind", "Value": "Since last run"},
                    exclude=(
                        "Time",
                        "__name__",
                        "job",
                        "instance",
                        "region",
                        "asn",
                        "operator",
                        "network_type",
                        "category",
                        "role",
                        "watched_country",
                        "position",
                    ),
                )
            ],
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "Since last run"},
                    "properties": [{"id": "unit", "value": "s"}],
                }
            ],
        ),
        timeseries(
            "Scheduler lag",
            (0, 23, 12, 8),
            [
                target(f"histogram_quantile(0.5, {lag})", "{{vantage}} p50", ref="A"),
                target(f"histogram_quantile(0.99, {lag})", "{{vantage}} p99", ref="B"),
            ],
            description="Delay between a run's scheduled time (jitter included) and its start.",
            unit="s",
        ),
        timeseries(
            "Scheduler skips",
            (12, 23, 12, 8),
            [
                target(
                    "sum by (vantage, reason) "
                    f"(increase(netwatch_scheduler_skipped_runs_total{{{sel}}}[$__rate_interval]))",
                    "{{vantage}}: {{reason}}",
                )
            ],
            description="Runs that did not happen, by reason (a previous run still going, concurrency "
            "full...).",
            custom=BARS,
        ),
        timeseries(
            "Measurements per second",
            (0, 31, 8, 8),
            [
                target(
                    f"sum by (vantage, kind) (rate(netwatch_measurements_total{{{sel}}}[$__rate_interval]))",
                    "{{vantage}}: {{kind}}",
                    ref="A",
                ),
                target(f"netwatch_probes_in_flight{{{sel}}}", "{{vantage}} in flight", ref="B"),
            ],
        ),
        timeseries(
            "Store write errors",
            (8, 31, 8, 8),
            [
                target(
                    "sum by (vantage, sink) "
                    f"(increase(netwatch_store_write_errors_total{{{sel}}}[$__rate_interval]))",
                    "{{vantage}}: {{sink}}",
                )
            ],
            description="Measurements a sink (sqlite store, JSON Lines) failed to write. Anything above "
            "zero is "
            "lost evidence: see docs/operators.md.",
            custom=BARS,
        ),
        timeseries(
            "Config reloads",
            (16, 31, 8, 8),
            [
                target(
                    f"netwatch_config_last_reload_successful{{{sel}}}", "{{vantage}} last load OK", ref="A"
                ),
                target(
                    f"changes(netwatch_config_last_reload_success_timestamp_seconds{{{sel}}}[$__rate_interval])",
                    "{{vantage}} successful loads",
                    ref="B",
                ),
            ],
            custom=STEPS,
        ),
        table(
            "Agent builds",
            (0, 39, 12, 5),
            [
                target(
                    f"max by ({by}, version, python) (netwatch_build_info{{{sel}}})", instant=True, table=True
                )
            ],
            transformations=[
                rename(
                    {"vantage": "Vantage", "version": "netwatch", "python": "Python"},
                    exclude=("Time", "Value"),
                )
            ],
        ),
        timeseries(
            "Scrape duration",
            (12, 39, 12, 5),
            [target(f'scrape_duration_seconds{{job=~"netwatch.*", {sel}}}', "{{vantage}}")],
            unit="s",
        ),
    ]
    return dashboard(
        "netwatch-vantages",
        "netwatch / Vantages and agent health",
        "Are the instruments working: controls, staleness, scheduler, store and configuration per vantage.",
        ["vantages", "health"],
        panels,
        variables=[
            datasource_variable(),
            country_variable(),
            query_variable(
                "vantage",
                "Vantage",
                f"label_values(netwatch_probe_last_run_timestamp_seconds{{{COUNTRY}}}, vantage)",
            ),
        ],
        time_from="now-24h",
        annotations=[
            annotation(
                "Vantage offline",
                f'max by (vantage) (netwatch_outage_active{{{sel}, scope="vantage"}} == 1)',
                "{{vantage}} offline",
                "orange",
                tags="vantage",
            ),
            annotation(
                "Config load failed",
                f"max by (vantage) (netwatch_config_last_reload_successful{{{sel}}} == 0)",
                "{{vantage}}: config load failed",
                "yellow",
                tags="vantage",
            ),
        ],
    )


DASHBOARDS = {
    "kazakhstan-overview.json": overview,
    "target-detail.json": target_detail,
    "vantages.json": vantages,
}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    for name, build in DASHBOARDS.items():
        (HERE / name).write_text(render(build))


if __name__ == "__main__":
    main()
