"""deploy/grafana/: the dashboard linted (stable uids, datasource, layout, queries that
parse and use only metrics the worker exports) and its provisioning files."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from deploy_helpers import (
    DASHBOARD_PROVIDERS,
    DASHBOARD_UID,
    DATASOURCE_UID,
    DATASOURCES,
    GRAFANA_VARIABLES,
    MONITORING_DOC,
    PROMETHEUS_SYNTHETIC,
    dashboard_queries,
    exported_families,
    exported_metric_names,
    iter_panels,
    load_dashboard,
    load_yaml,
    metric_names,
    to_promql,
    vector_selectors,
)

#: Exported metric families that no panel needs to show, and why.
NOT_ON_THE_DASHBOARD = {
    "stream_guard_watermark_timestamp_seconds": "shown as 'Event-time lag' (now minus the watermark)",
    "process_virtual_memory_bytes": "generic process metrics",
    "process_start_time_seconds": "generic process metrics",
    "process_open_fds": "generic process metrics",
    "process_max_fds": "generic process metrics",
    "python_info": "generic runtime metrics",
    "python_gc_objects_collected": "generic runtime metrics",
    "python_gc_objects_uncollectable": "generic runtime metrics",
    "python_gc_collections": "generic runtime metrics",
}

DASHBOARD = load_dashboard()
PANELS = [p for p in iter_panels(DASHBOARD) if p["type"] != "row"]


def test_dashboard_uid_and_title_are_stable() -> None:
    assert DASHBOARD["uid"] == DASHBOARD_UID
    assert DASHBOARD["title"] == "stream-guard: operations and security"
    assert DASHBOARD.get("id") is None, "a provisioned dashboard must not carry a database id"
    assert isinstance(DASHBOARD["schemaVersion"], int)


def test_datasource_provisioning_has_the_stable_uid() -> None:
    config = load_yaml(DATASOURCES)
    assert config["apiVersion"] == 1
    (ds,) = config["datasources"]
    assert ds["uid"] == DATASOURCE_UID and ds["type"] == "prometheus"
    url = urlparse(ds["url"])
    assert (url.hostname, url.port) == ("prometheus", 9090), "the compose service of Prometheus"


def test_every_panel_and_query_uses_the_provisioned_datasource() -> None:
    for panel in PANELS:
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID, (panel["title"], target["refId"])
    for var in DASHBOARD["templating"]["list"]:
        if var["type"] == "query":
            assert var["datasource"]["uid"] == DATASOURCE_UID, var["name"]


def test_dashboard_provider_loads_the_dashboard_folder() -> None:
    config = load_yaml(DASHBOARD_PROVIDERS)
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/dashboards"  # mounted by docker-compose.yml


def test_panels_are_well_formed() -> None:
    ids = [p["id"] for p in iter_panels(DASHBOARD)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    titles = [p["title"] for p in PANELS]
    assert len(titles) == len(set(titles)), "duplicate panel titles"
    for panel in PANELS:
        assert panel["targets"], panel["title"]
        assert len(panel.get("description", "")) > 30, f"{panel['title']}: describe what it tells an operator"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        assert panel["type"] in {"timeseries", "stat", "bargauge", "gauge", "table", "heatmap"}, panel["title"]


def test_panels_do_not_overlap_and_fit_the_grid() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in iter_panels(DASHBOARD):
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("where,expr", dashboard_queries(DASHBOARD))
def test_query_parses_and_uses_only_exported_metrics(where: str, expr: str) -> None:
    used = metric_names(expr)
    assert used, where
    unknown = used - exported_metric_names() - PROMETHEUS_SYNTHETIC
    assert not unknown, f"{where}: metrics the worker does not export: {unknown}"


def test_queries_are_filtered_by_job_and_worker() -> None:
    """Every selector picks the scrape job and the workers chosen in the $instance variable."""
    for panel in PANELS:
        for target in panel["targets"]:
            for name, labels in vector_selectors(to_promql(target["expr"])):
                assert labels.get("job") == "=stream-guard", (panel["title"], name)
                assert labels.get("instance") == "=~" + GRAFANA_VARIABLES["$instance"], (panel["title"], name)


def test_every_exported_metric_family_is_on_the_dashboard() -> None:
    used = set().union(*(metric_names(expr) for _, expr in dashboard_queries(DASHBOARD)))
    for family, names in exported_families().items():
        if family in NOT_ON_THE_DASHBOARD:
            continue
        assert names & used, f"metric {family} is shown on no panel (add one, or list it in NOT_ON_THE_DASHBOARD)"


def test_the_panels_an_operator_needs_exist() -> None:
    titles = {p["title"] for p in PANELS}
    assert {
        "Event throughput by outcome",
        "Consumer lag by partition",
        "Processing latency",
        "Dead letters by reason",
        "Alerts by severity",
        "Alerts by detector",
        "Alert score distribution",
        "Tracked accounts and cap",
        "Checkpoint duration",
        "Checkpoint writes and failures",
    } <= titles


@pytest.mark.parametrize("title", [p["title"] for p in PANELS])
def test_panel_is_documented(title: str) -> None:
    assert f"**{title}**" in MONITORING_DOC.read_text(), f"panel {title!r} is not explained in docs/monitoring.md"


# --- links from the alert panels to the case view (stream-guard report) ---------------------
REPORT_VARIABLE = "report_url_base"
INDEX_URL = "${report_url_base:raw}/index.html"  # :raw: Grafana would percent-encode the base's "://"


def _alert_panels() -> list[dict]:
    return [p for p in PANELS if any("stream_guard_alerts_total" in t["expr"] for t in p["targets"])]


def test_the_case_view_url_base_is_an_empty_textbox_named_like_the_setting() -> None:
    from stream_guard.settings import Settings

    (var,) = [v for v in DASHBOARD["templating"]["list"] if v["name"] == REPORT_VARIABLE]
    assert var["type"] == "textbox" and var["query"] == "" and var["current"]["value"] == ""
    assert var["hide"] == 0, "visible, so an operator can set it"
    assert "STREAM_GUARD_REPORT_URL_BASE" in var["description"]
    assert Settings().report_url_base == "", "the setting the variable mirrors"


def test_every_alert_panel_links_to_the_case_view_index() -> None:
    panels = _alert_panels()
    assert len(panels) >= 4
    for panel in panels:
        assert [link["url"] for link in panel.get("links", [])] == [INDEX_URL], panel["title"]
        assert all(link["targetBlank"] for link in panel["links"]), panel["title"]


def test_severity_panels_link_each_series_to_its_section_of_the_index() -> None:
    """A series' data link opens the index at the section of its severity: the anchors are
    the ones the index page has."""
    from stream_guard.core.vocabulary import SEVERITIES
    from stream_guard.report.render import render_index

    index_page = render_index([], generated_at=0.0)
    by_severity = [p for p in _alert_panels() if any("by (severity)" in t["expr"] for t in p["targets"])]
    assert {p["title"] for p in by_severity} >= {"Alerts by severity", "Cluster alerts by severity"}
    for panel in by_severity:
        (link,) = panel["fieldConfig"]["defaults"]["links"]
        assert link["url"] == INDEX_URL + "#severity-${__field.labels.severity}", panel["title"]
    for severity in SEVERITIES:
        assert f'id="severity-{severity}"' in index_page
