"""deploy/prometheus/: scrape configs and rules checked by promtool, rules unit-tested by
`promtool test rules`, and the conventions an operator relies on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from deploy_helpers import (
    MONITORING_DOC,
    PROM_CONFIG,
    PROM_K8S_CONFIG,
    PROMETHEUS_SYNTHETIC,
    RULE_TESTS_DIR,
    RULES_FILE,
    SCRAPE_JOB,
    alerting_rules,
    exported_families,
    exported_metric_names,
    load_yaml,
    metric_names,
    promtool,
    recording_rules,
    rules,
)

RECORD_NAME = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z0-9][a-z0-9_]*$")
RULE_TEST_FILES = sorted(RULE_TESTS_DIR.glob("*.test.yml"))


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([promtool(), *args], check=False, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _with_repo_rules(config: dict, tmp_path: Path) -> Path:
    """The config with rule_files pointing at the repository's rules (the container path
    /etc/prometheus/rules does not exist here), so that `check config` checks them too."""
    config = dict(config, rule_files=[str(RULES_FILE)])
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_promtool_check_config_compose(tmp_path: Path) -> None:
    config = load_yaml(PROM_CONFIG)
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]  # where docker-compose.yml mounts them
    out = run_promtool("check", "config", str(_with_repo_rules(config, tmp_path)))
    assert "SUCCESS" in out.stdout + out.stderr


def test_promtool_check_config_k8s_template(tmp_path: Path) -> None:
    """Debian's prometheus package is built without Kubernetes service discovery, so its
    promtool rejects `kubernetes_sd_configs`. Everything else of the template (relabel
    rules and their regexes, rule files) is checked with the discovery block swapped for
    a static one, and the discovery block itself is checked for the expected shape."""
    config = load_yaml(PROM_K8S_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    job = jobs[SCRAPE_JOB]
    (sd,) = job.pop("kubernetes_sd_configs")
    assert sd["role"] == "pod"
    assert set(sd) <= {"role", "namespaces", "selectors", "api_server", "kubeconfig_file", "attach_metadata"}
    job["static_configs"] = [{"targets": ["10.0.0.1:9108"]}]
    run_promtool("check", "config", str(_with_repo_rules(config, tmp_path)))


def test_promtool_check_rules() -> None:
    out = run_promtool("check", "rules", str(RULES_FILE))
    assert f"SUCCESS: {len(rules())} rules found" in out.stdout


def test_promtool_test_rules() -> None:
    assert RULE_TEST_FILES, "no promtool test files in deploy/prometheus/tests/"
    out = run_promtool("test", "rules", *[p.name for p in RULE_TEST_FILES], cwd=RULE_TESTS_DIR)
    assert "FAILED" not in out.stdout


def test_every_alerting_rule_has_a_firing_and_a_quiet_unit_test() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TEST_FILES:
        for group in load_yaml(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in alerting_rules()}
    assert names - firing == set(), "alerting rules without a unit test in which they fire"
    assert names - quiet == set(), "alerting rules without a unit test in which they stay quiet"
    assert firing | quiet <= names, "unit tests of alerts that do not exist"


def test_the_alerts_an_operator_needs_exist() -> None:
    names = {rule["alert"] for rule in alerting_rules()}
    assert {
        "StreamGuardWorkerDown",
        "StreamGuardNoWorkerUp",
        "StreamGuardConsumerLagGrowing",
        "StreamGuardDeadLetterSpike",
        "StreamGuardNoEventsProcessed",
        "StreamGuardAlertRateSpike",
        "StreamGuardCheckpointFailures",
        "StreamGuardTrackedAccountsCapReached",
    } <= names


def test_recording_rules_follow_level_metric_operations() -> None:
    exported = exported_metric_names() | set(exported_families())
    for rule in recording_rules():
        name = rule["record"]
        assert RECORD_NAME.match(name), name
        level, metric, operations = name.split(":")
        # the metric part is an exported metric, with _total stripped for rates
        # (Prometheus' naming practice), or a ratio of two of them (`a_per_b`)
        candidates = {metric, metric + "_total"}
        if "_per_" in metric:
            assert operations.startswith("ratio"), name
            candidates = {metric.split("_per_")[0], metric.split("_per_")[0] + "_total"}
        assert candidates & exported, f"{name}: {metric} is not a metric the worker exports"
        # the level names the labels that the output keeps
        if level != "instance":
            kept = set(level.split("_"))
            by = re.search(r"\bby \(([^)]*)\)", rule["expr"])
            if by:
                assert kept == {label.strip() for label in by.group(1).split(",")}, name


def test_alerting_rules_carry_what_an_operator_needs() -> None:
    for rule in alerting_rules():
        name = rule["alert"]
        assert name.startswith("StreamGuard"), name
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert "for" in rule, f"{name}: no `for` (would page on a single evaluation)"
        annotations = rule["annotations"]
        for key in ("summary", "description", "runbook"):
            assert len(annotations.get(key, "").strip()) > 20, f"{name}: annotation {key} missing or too short"
        assert re.search(r"\b1\. .+\b2\. ", annotations["runbook"]), f"{name}: runbook is not a list of steps"


def test_rules_use_only_metrics_the_worker_exports() -> None:
    known = exported_metric_names() | PROMETHEUS_SYNTHETIC | {r["record"] for r in recording_rules()}
    for rule in rules():
        used = metric_names(rule["expr"])
        assert used, rule
        assert used <= known, f"{rule.get('record') or rule.get('alert')}: unknown metrics {used - known}"


def test_rules_select_the_scrape_job() -> None:
    """Raw metrics are selected with job="stream-guard", the job name of both configs."""
    for rule in rules():
        for name in metric_names(rule["expr"]):
            if ":" not in name:
                assert f'{name}{{job="{SCRAPE_JOB}"' in rule["expr"].replace("\n", " "), (
                    f"{rule.get('record') or rule.get('alert')}: {name} not selected by job"
                )
    for config in (PROM_CONFIG, PROM_K8S_CONFIG):
        assert SCRAPE_JOB in {job["job_name"] for job in load_yaml(config)["scrape_configs"]}, config


@pytest.mark.parametrize("name", [r["alert"] for r in alerting_rules()])
def test_alert_is_documented(name: str) -> None:
    assert name in MONITORING_DOC.read_text(), f"{name} is not explained in docs/monitoring.md"
