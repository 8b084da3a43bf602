"""The Grafana dashboard (deploy/grafana/trado.json) reads only series Trado exports: every
metric name in a panel's or variable's query is one the processes register (a renamed metric
fails here, not on a blank panel at 3 a.m.), and every panel says what it shows."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from settings import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "trado.json"
# Series that Prometheus itself adds to every scrape target.
PROMETHEUS_OWN = frozenset({"up"})
# The entry points register every metric as they import the code they run.
ENTRY_POINTS = ("commands.api", "commands.bridge", "commands.feed")
# What `_total`, `_bucket`... a family of each type is exported as.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "unknown": ("",),
}
# PromQL words that look like a metric name but are not one.
KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
    | {"and", "or", "unless", "inf", "nan"}
)


def exported_names(registry: CollectorRegistry = REGISTRY) -> set[str]:
    """Every series name the registry's collectors export, whether or not a sample exists yet
    (a labelled metric has none until it is first labelled), once the entry points are in."""
    for module in ENTRY_POINTS:
        importlib.import_module(module)
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: what is left once label matchers, ranges,
    strings, grouping clauses and function calls are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        following = expr[match.end() :].lstrip()
        word = match.group()
        if following.startswith("(") or word.lower() in KEYWORDS:
            continue
        if match.start() > 0 and expr[match.start() - 1] in "$.0123456789":
            continue  # a Grafana variable, or an exponent such as 1e3
        names.add(word)
    return names


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", text)
            yield f"variable {variable['name']!r}", inner.group(1) if inner else text


def unknown_metrics(dashboard: dict[str, Any], known: set[str]) -> list[str]:
    return sorted(
        f"{where}: {name}"
        for where, expr in queries(dashboard)
        for name in metric_names(expr)
        if name not in known
    )


def load() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def test_every_metric_the_dashboard_reads_is_one_trado_exports() -> None:
    known = exported_names() | PROMETHEUS_OWN
    assert unknown_metrics(load(), known) == []


def test_the_dashboard_reads_the_main_series() -> None:
    read = {name for _, expr in queries(load()) for name in metric_names(expr)}
    expected = {
        "trado_graphql_operation_seconds_bucket",
        "trado_graphql_operation_seconds_count",
        "trado_tick_age_seconds_bucket",
        "trado_live_connections",
        "trado_consumer_lag",
        "trado_bridge_backlog_ticks",
        "trado_conflated_drops_total",
        "trado_deliveries_total",
        "trado_backend_up",
        "trado_database_sync_standbys",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    }
    assert expected <= read


def test_a_renamed_metric_is_caught() -> None:
    dashboard = load()
    target = next(panel for panel in panels(dashboard) if panel.get("targets"))
    target["targets"][0]["expr"] = 'sum(rate(trado_tick_age_renamed_bucket{stage="x"}[5m]))'
    known = exported_names() | PROMETHEUS_OWN
    assert unknown_metrics(dashboard, known) == [
        f"panel {target['title']!r}: trado_tick_age_renamed_bucket"
    ]


def test_metric_names_are_read_out_of_promql() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (stage, le) (rate(trado_tick_age_seconds_bucket"
        '{job=~"$job", stage="received"}[$__rate_interval]))) / on (job) group_left(instance) '
        "process_max_fds or vector(0) > 1e3 and up offset 5m"
    )
    assert metric_names(expr) == {"trado_tick_age_seconds_bucket", "process_max_fds", "up"}


def test_every_panel_says_what_it_shows() -> None:
    dashboard = load()
    assert dashboard["schemaVersion"] >= 39
    assert dashboard["uid"]
    for panel in panels(dashboard):
        assert panel.get("title"), panel
        if panel["type"] == "row":
            continue
        assert len(panel.get("description", "")) > 40, f"{panel['title']}: no description"
        assert panel.get("targets"), f"{panel['title']}: no query"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_the_datasource_is_a_variable() -> None:
    variables = {v["name"]: v for v in load()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
