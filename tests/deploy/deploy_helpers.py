"""Shared helpers of the tests of deploy/, docker-compose.yml and the Dockerfile.

Paths of the deployment files, the metric names the worker exports, PromQL parsing
(``promql-parser``, a binding of the Rust crate used by GreptimeDB), and Grafana query
extraction with Grafana's variables replaced by values Prometheus accepts.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROM_DIR = DEPLOY / "prometheus"
PROM_CONFIG = PROM_DIR / "prometheus.yml"
PROM_K8S_CONFIG = PROM_DIR / "prometheus-k8s.yml"
RULES_FILE = PROM_DIR / "rules" / "stream-guard.rules.yml"
RULE_TESTS_DIR = PROM_DIR / "tests"
GRAFANA_DIR = DEPLOY / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "stream-guard.json"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "stream-guard-prometheus.yml"
DASHBOARD_PROVIDERS = GRAFANA_DIR / "provisioning" / "dashboards" / "stream-guard.yml"
K8S_DIR = DEPLOY / "k8s"
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
MONITORING_DOC = REPO / "docs" / "monitoring.md"

SCRAPE_JOB = "stream-guard"
DATASOURCE_UID = "stream-guard-prometheus"
DASHBOARD_UID = "stream-guard-overview"
#: Series that Prometheus itself adds to every scrape target.
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def load_yaml(path: Path) -> Any:
    with path.open() as fh:
        return yaml.safe_load(fh)


def load_yaml_documents(path: Path) -> list[Any]:
    with path.open() as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


def promtool() -> str:
    """Path of ``promtool``; the test fails (not skips) when it is missing."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install Debian's package (apt-get install -y prometheus)")
    return path


# --- metrics the worker exports ----------------------------------------------------------
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "unknown": ("",),
}


def exported_families() -> dict[str, set[str]]:
    """{metric family name: the sample names it exposes} of a fresh worker registry.

    Labelled metrics without children yet (e.g. alerts by severity) expose no sample
    until the first observation, so their sample names are derived from the type.
    """
    from stream_guard.metrics import Metrics

    families: dict[str, set[str]] = {}
    for family in Metrics().registry.collect():
        names = {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}
        names |= {s.name for s in family.samples}
        families[family.name] = names
    return families


def exported_metric_names() -> set[str]:
    return set().union(*exported_families().values())


# --- PromQL ------------------------------------------------------------------------------
def vector_selectors(expr: str) -> list[tuple[str | None, dict[str, str]]]:
    """(metric name, {label: "op value"}) of every selector in a PromQL expression,
    found by parsing it (promql-parser), not by pattern matching."""
    import promql_parser

    found: list[tuple[str | None, dict[str, str]]] = []
    ops = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}

    def walk(node: Any) -> None:
        kind = type(node).__name__
        if kind == "VectorSelector":
            labels = {}
            for m in getattr(node.matchers, "matchers", []) or []:
                labels[m.name] = ops.get(str(m.op).rsplit(".", 1)[-1], str(m.op)) + m.value
            found.append((node.name, labels))
            return
        if kind == "MatrixSelector":
            walk(node.vector_selector)
            return
        for attr in ("expr", "lhs", "rhs", "param"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, (str, int, float)):
                walk(child)
        for arg in getattr(node, "args", None) or []:
            walk(arg)

    walk(promql_parser.parse(expr))
    return found


def metric_names(expr: str) -> set[str]:
    """Every metric name selected by a PromQL expression."""
    names = set()
    for name, labels in vector_selectors(expr):
        if name:
            names.add(name)
        elif labels.get("__name__", "").startswith("="):
            names.add(labels["__name__"][1:])
    return names


# --- Grafana -----------------------------------------------------------------------------
#: Values of Grafana's variables for running a dashboard query directly against
#: Prometheus (the live check) or parsing it (the lint).
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$instance": ".+",
}
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.+),\s*(?P<label>[a-zA-Z_]\w*)\s*\)\s*$")


def load_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def to_promql(grafana_expr: str) -> str:
    """A Grafana query with its variables replaced by concrete values."""
    out = grafana_expr
    for var in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        out = out.replace(var, GRAFANA_VARIABLES[var])
    assert "$" not in out, f"unreplaced Grafana variable in {grafana_expr!r}"
    return out


def iter_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable."""
    out = []
    for panel in iter_panels(dashboard):
        for target in panel.get("targets", []):
            out.append((f"panel {panel['title']!r} {target['refId']}", to_promql(target["expr"])))
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = _LABEL_VALUES.match(query)
            assert match, f"variable {var['name']}: only label_values(selector, label) is supported"
            out.append((f"variable ${var['name']}", to_promql(match["selector"])))
    return out


# --- rules -------------------------------------------------------------------------------
def rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(RULES_FILE)["groups"] for rule in group["rules"]]


def recording_rules() -> list[dict[str, Any]]:
    return [r for r in rules() if "record" in r]


def alerting_rules() -> list[dict[str, Any]]:
    return [r for r in rules() if "alert" in r]
