"""deploy/k8s/: every manifest validated against the Kubernetes JSON schemas (strict:
unknown fields are errors) with `kubernetes-validate`, which ships the schemas, so no
network is needed; plus the wiring between the manifests, the worker and Prometheus."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from deploy_helpers import (
    DOCKERFILE,
    K8S_DIR,
    PROM_K8S_CONFIG,
    SCRAPE_JOB,
    load_yaml,
    load_yaml_documents,
)

#: The oldest Kubernetes minor the manifests support, and the newest schema shipped.
KUBERNETES_VERSIONS = ("1.29.0", "latest")
MANIFESTS = sorted(K8S_DIR.glob("*.yaml"))
DOCS = [(path, doc) for path in MANIFESTS for doc in load_yaml_documents(path)]


def by_kind(kind: str) -> dict[str, Any]:
    (doc,) = [d for _, d in DOCS if d["kind"] == kind]
    return doc


def test_manifests_exist() -> None:
    kinds = {d["kind"] for _, d in DOCS}
    assert {"Namespace", "ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget"} <= kinds


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_against_kubernetes_schema(path: Path, version: str) -> None:
    import kubernetes_validate

    if version == "latest":
        version = kubernetes_validate.latest_version()
    for doc in load_yaml_documents(path):
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']} (Kubernetes {version}): {exc}")


def test_the_schema_check_catches_mistakes() -> None:
    import copy

    import kubernetes_validate

    broken = copy.deepcopy(by_kind("StatefulSet"))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = "/healthz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_everything_lives_in_one_namespace() -> None:
    namespace = by_kind("Namespace")["metadata"]["name"]
    for path, doc in DOCS:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, path.name


def _worker() -> dict[str, Any]:
    (container,) = by_kind("StatefulSet")["spec"]["template"]["spec"]["containers"]
    return container


def _config() -> dict[str, str]:
    return by_kind("ConfigMap")["data"]


def test_configmap_holds_real_settings_that_parse() -> None:
    from stream_guard.settings import Settings

    known = {var for var, _, _ in Settings.describe()}
    data = _config()
    assert set(data) <= known, f"unknown settings: {set(data) - known}"
    env = dict(data, **{e["name"]: e["value"] for e in _worker().get("env", [])})
    assert set(env) <= known
    Settings.from_env(env)


def test_worker_runs_a_real_subcommand_with_config_from_the_configmap() -> None:
    from stream_guard.cli import build_parser

    container = _worker()
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert container["args"][0] == "worker" and "worker" in sub.choices
    parser.parse_args(container["args"])
    refs = [e["configMapRef"]["name"] for e in container["envFrom"]]
    assert refs == [by_kind("ConfigMap")["metadata"]["name"]]


def test_probes_resources_and_metrics_port() -> None:
    container = _worker()
    port = int(_config()["STREAM_GUARD_METRICS_PORT"])
    (metrics_port,) = [p for p in container["ports"] if p["name"] == "metrics"]
    assert metrics_port["containerPort"] == port
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    data_dir = {e["name"]: e["value"] for e in container["env"]}["STREAM_GUARD_DATA_DIR"]
    assert data_dir in mounts, "the worker's data dir is on a volume (read-only root filesystem)"


def test_statefulset_selects_its_pods_and_its_service() -> None:
    sts = by_kind("StatefulSet")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert sts["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = by_kind("Service")
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert by_kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert sts["spec"]["podManagementPolicy"] == "Parallel"


def test_prometheus_k8s_template_scrapes_these_pods_as_the_rules_expect() -> None:
    """The pod annotations and labels are the ones the scrape template keeps."""
    template = by_kind("StatefulSet")["spec"]["template"]
    annotations, labels = template["metadata"]["annotations"], template["metadata"]["labels"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == _config()["STREAM_GUARD_METRICS_PORT"]
    assert annotations["prometheus.io/path"] == "/metrics"
    (job,) = [j for j in load_yaml(PROM_K8S_CONFIG)["scrape_configs"] if j["job_name"] == SCRAPE_JOB]
    keep = {tuple(r["source_labels"]): r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"}
    assert keep[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)] == labels["app.kubernetes.io/name"]
    assert keep[("__meta_kubernetes_pod_annotation_prometheus_io_scrape",)] == "true"
    namespaces = job["kubernetes_sd_configs"][0]["namespaces"]["names"]
    assert namespaces == [by_kind("Namespace")["metadata"]["name"]]


def test_scaling_note_explains_workers_versus_partitions() -> None:
    readme = (K8S_DIR / "README.md").read_text()
    assert "at most one worker per input" in readme.replace("\n", " ")
    assert "STREAM_GUARD_TOPIC_PARTITIONS" in readme


def test_pod_runs_as_the_images_non_root_user() -> None:
    security = by_kind("StatefulSet")["spec"]["template"]["spec"]["securityContext"]
    (user,) = [line.split()[1] for line in DOCKERFILE.read_text().splitlines() if line.startswith("USER ")]
    uid, _, gid = user.partition(":")
    assert security["runAsNonRoot"] is True
    assert (str(security["runAsUser"]), str(security["runAsGroup"])) == (uid, gid or uid)
    assert _worker()["securityContext"]["readOnlyRootFilesystem"] is True
