"""Fixtures for integration tests against a real Kafka 4.x broker.

``kafka_bootstrap`` (session scope) starts one single-node KRaft broker on a
free 127.0.0.1 port via ``scripts/kafka_local.py`` (resolving the jars from
Maven Central on first use, cached in ~/.cache/stream-guard) and stops it at
the end of the session, also when tests fail. Set
``STREAM_GUARD_TEST_BOOTSTRAP=host:port`` to use an already running broker
instead. ``kafka_local`` gives the script's module (start/stop/status), e.g.
for tests that start or restart brokers of their own. Everything under
tests/integration/ gets the ``integration`` marker (fixtures live here at the
tests root so that tests/deploy can use the broker too) (registered in
pyproject.toml), so ``pytest -m "not integration"`` skips these tests.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
INTEGRATION = HERE / "integration"
# The bench toolkit (bench/harness_common.py: broker, worker processes, metrics) serves the
# integration tests too; appended, so that no bench script shadows an installed module.
sys.path.append(str(HERE.parent / "bench"))

import harness_common  # noqa: E402

KAFKA_LOCAL = harness_common.kafka_local()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if INTEGRATION in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_local():
    """The scripts/kafka_local.py module (start/stop/status/api_versions_probe)."""
    return KAFKA_LOCAL


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> Iterator[str]:
    """``"127.0.0.1:PORT"`` of a running Kafka 4.x broker for this test session."""
    existing = os.environ.get("STREAM_GUARD_TEST_BOOTSTRAP")
    if existing:
        yield existing
        return
    data_dir = tmp_path_factory.mktemp("kafka")
    try:
        # die_with_parent: the broker gets SIGTERM should pytest itself be killed.
        yield KAFKA_LOCAL.start(data_dir, timeout=120, die_with_parent=True)
    finally:
        KAFKA_LOCAL.stop(data_dir)


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory) -> Iterator[dict]:
    """A second Kafka 4.x broker (this session's own, also when STREAM_GUARD_TEST_BOOTSTRAP is
    set) with a PLAINTEXT, a SASL_SSL (PLAIN, SCRAM-SHA-256/512) and an SSL listener that
    requires client certificates; its CA and certificates are generated at start.

    The dict holds ``PLAINTEXT``, ``SASL_SSL`` and ``SSL`` (``127.0.0.1:PORT``), ``tls``
    (``ca``, ``client_cert``, ``client_key``, ``client_key_encrypted``,
    ``client_key_password``, see ``kafka_local.make_tls``), ``users`` (name -> password,
    PLAIN and SCRAM), ``scram_users`` (SCRAM only: unique random passwords found nowhere in
    the broker's files, usable as canaries) and ``data_dir``.
    """
    import secrets

    data_dir = tmp_path_factory.mktemp("kafka-secure")
    users = {"sg-plain": "p" + secrets.token_hex(12)}
    scram_users = {"sg-scram": "canarypw" + secrets.token_hex(12)}
    try:
        KAFKA_LOCAL.start(data_dir, timeout=120, die_with_parent=True, sasl_ssl=True, ssl_listener=True,
                          users=users, scram_users=scram_users)
        yield {**KAFKA_LOCAL.endpoints(data_dir), "users": users, "scram_users": scram_users,
               "data_dir": Path(data_dir)}
    finally:
        KAFKA_LOCAL.stop(data_dir)
