"""The Grafana dashboard: well-formed, every query parses, every asked-for view is there."""

from __future__ import annotations

import itertools

import promql_parser

from tests.ops.support import dashboard, dashboard_metric_names, dashboard_queries, panels

# What the operations issue asks the dashboard to show, by the metric that shows it.
REQUIRED_VIEWS = {
    "throughput per topic": "pulse_events_in_total",
    "lag": "pulse_consumer_lag_messages",
    "latency percentiles": "pulse_ingest_to_trigger_latency_seconds_bucket",
    "triggers per rule": "pulse_triggers_total",
    "health band distribution": "pulse_health_band_accounts",
    "dead letters": "pulse_invalid_events_total",
    "Redis errors": "pulse_redis_write_errors_total",
}


def test_dashboard_identity_and_datasource_variable() -> None:
    board = dashboard()
    assert board["uid"] == "pulse-overview"
    assert board["title"] == "Pulse"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_panels_are_well_formed() -> None:
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels():
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            assert target["expr"].strip(), panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_panels_do_not_overlap() -> None:
    def cells(panel: dict) -> set[tuple[int, int]]:
        g = panel["gridPos"]
        columns, rows = range(g["x"], g["x"] + g["w"]), range(g["y"], g["y"] + g["h"])
        return set(itertools.product(columns, rows))

    taken: dict[tuple[int, int], str] = {}
    for panel in panels():
        for cell in cells(panel):
            assert cell not in taken, f"{panel['title']!r} overlaps {taken[cell]!r}"
            taken[cell] = panel["title"]


def test_every_query_is_valid_promql() -> None:
    for title, expr in dashboard_queries():
        try:
            promql_parser.parse(expr)
        except ValueError as error:
            msg = f"{title}: {expr!r}: {error}"
            raise AssertionError(msg) from None


def test_every_asked_for_view_is_there() -> None:
    used = set().union(*dashboard_metric_names().values())
    missing = {view: metric for view, metric in REQUIRED_VIEWS.items() if metric not in used}
    assert not missing, f"dashboard lacks {missing}"


def test_dashboard_uses_pulse_metrics_only() -> None:
    for title, metrics in dashboard_metric_names().items():
        for metric in metrics:
            assert metric.startswith("pulse_") or metric == "up", f"{title} uses {metric}"
