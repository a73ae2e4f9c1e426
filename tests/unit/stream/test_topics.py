"""The topics a deployment needs (stream_guard.stream.topics), `stream-guard topics` and secrets
in `stream-guard settings`, without a broker (the real-broker checks are in
tests/integration/test_topics_cli.py and test_secure_kafka.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from stream_guard import cli
from stream_guard.settings import Settings
from stream_guard.stream.topics import (
    CLUSTER_TABLE,
    TopicsError,
    TopicSpec,
    TopicState,
    _raise_topic_errors,
    changelog_topic,
    leader_topic,
    link_verdicts_topic,
    needed_topics,
    profiles_topic,
)


def test_needed_topics_names_partitions_and_replication() -> None:
    s = Settings(app_id="sg", topic_partitions=6, topic_replication_factor=3)
    specs = {t.name: t for t in needed_topics(s)}
    assert list(specs) == [
        "llm.requests", "llm.alerts", "llm.requests.dlq", "llm.verdicts", "sg-link-profiles", "sg-link-verdicts",
        "sg-cluster-state-changelog", "sg-account-state-changelog", "sg-__assignor-__leader",
    ]
    assert {t.replication_factor for t in specs.values()} == {3}
    assert specs[link_verdicts_topic(s)].partitions == specs[leader_topic(s)].partitions == 1
    assert specs["llm.requests"].partitions == specs[changelog_topic(s)].partitions == 6


def test_derived_topics_follow_an_existing_input_topic() -> None:
    s = Settings(app_id="sg", topic_partitions=6)
    specs = {t.name: t for t in needed_topics(s, input_partitions=12)}
    # the state table and the link profiles are co-partitioned with the input topic as it is
    assert specs[changelog_topic(s)].partitions == specs[profiles_topic(s)].partitions == 12
    assert specs["llm.alerts"].partitions == 6
    assert specs["llm.verdicts"].partitions == 12  # an account's verdicts go where its events go


def test_topic_configs_apply_to_all_and_the_changelog_stays_compacted() -> None:
    s = Settings(topic_configs="min.insync.replicas=2, cleanup.policy=delete,retention.ms=604800000")
    for spec in needed_topics(s):
        assert spec.configs["min.insync.replicas"] == "2"
        expected = "compact" if spec.name.endswith("-changelog") else "delete"
        assert spec.configs["cleanup.policy"] == expected
        # the analyst verdicts are kept forever whatever the default: workers rebuild from them
        assert spec.configs["retention.ms"] == ("-1" if spec.name == s.verdicts_topic else "604800000")
        new = spec.new_topic()
        assert (new.name, new.num_partitions, new.replication_factor) == (spec.name, spec.partitions, 1)
        assert new.topic_configs == spec.configs


def test_without_cross_account_there_are_no_link_topics() -> None:
    names = [t.name for t in needed_topics(Settings(cross_account=False))]
    assert not [n for n in names if "link-" in n]
    assert changelog_topic(Settings()) in names


def test_the_checkpoint_topic_names_are_the_ones_faust_tables_had() -> None:
    # the worker once kept its checkpoints in Faust tables, which name their changelog
    # <app_id>-<table>-changelog; the names stay, so a deployment keeps its state
    s = Settings(app_id="sg")
    assert changelog_topic(s) == "sg-account-state-changelog"
    assert changelog_topic(s, CLUSTER_TABLE) == "sg-cluster-state-changelog"


def test_topic_state_problems() -> None:
    spec = TopicSpec("t", "input", 4, 3)
    assert TopicState(spec, 0, 0).problems() == ["missing"]
    assert TopicState(spec, 4, 3).problems() == []
    assert TopicState(spec, 4, 5).problems() == []  # more replicas is fine
    assert TopicState(spec, 2, 1).problems() == ["partitions 2 != 4", "replication 1 < 3"]


def test_create_errors_other_than_already_exists_raise() -> None:
    ok = SimpleNamespace(topic_errors=[("a", 0, None), ("b", 36, "Topic 'b' already exists.")])
    assert _raise_topic_errors(ok) == ["a"]
    bad = SimpleNamespace(topic_errors=[("a", 0, None), ("c", 38, "Replication factor: 3 larger than brokers: 1")])
    with pytest.raises(TopicsError, match="c: InvalidReplicationFactorError Replication factor: 3"):
        _raise_topic_errors(bad)


def test_settings_command_prints_secrets_as_stars(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STREAM_GUARD_SASL_PASSWORD", "s3cret-canary-1")
    monkeypatch.setenv("STREAM_GUARD_SSL_KEY_PASSWORD", "s3cret-canary-2")
    monkeypatch.setenv("STREAM_GUARD_SASL_USERNAME", "svc-user")
    assert cli.main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "s3cret-canary" not in out
    assert "STREAM_GUARD_SASL_PASSWORD = '***'" in out and "STREAM_GUARD_SSL_KEY_PASSWORD = '***'" in out
    assert "STREAM_GUARD_SASL_USERNAME = 'svc-user'" in out  # not a secret
    assert cli.main(["settings", "--format", "markdown"]) == 0
    assert "s3cret-canary" not in capsys.readouterr().out


def test_topics_command_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["topics", "--help"])
    out = capsys.readouterr().out
    assert "create" in out and "list" in out and "changelog" in out
    with pytest.raises(SystemExit):
        cli.main(["topics", "drop"])


def test_topics_command_reports_an_unreachable_broker(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert cli.main(["topics", "list", "--broker", f"127.0.0.1:{port}", "--timeout", "0.5"]) == 1
    assert "not reachable" in capsys.readouterr().err


class _SlowMetadataAdmin:
    """An admin client of a cluster where a topic just created (here by someone else a
    moment before: "already exists") shows its partitions only after ``lag`` lookups."""

    def __init__(self, lag: int) -> None:
        self.lag = lag
        self.lookups = 0
        self.topics: set[str] = set()

    async def list_topics(self) -> list[str]:
        self.lookups += 1
        return sorted(self.topics) if self.lookups > self.lag else []

    async def describe_topics(self, names: list[str]) -> list[dict[str, object]]:
        return [{"topic": n, "error_code": 0, "partitions": [{"replicas": [1]}] * 4} for n in names]

    async def create_topics(self, new: list[object]) -> SimpleNamespace:
        self.topics.update(t.name for t in new)  # type: ignore[attr-defined]  # aiokafka NewTopic
        return SimpleNamespace(topic_errors=[(t.name, 0, None) for t in new])  # type: ignore[attr-defined]


def test_a_new_topic_whose_partitions_show_late_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from stream_guard.stream import topics

    monkeypatch.setattr(topics, "_POLL_S", 0.001)
    s = Settings(input_topic="in", app_id="sg")
    # 200 lookups (40 s at the real pace: longer than the 10 s the worker used to wait)
    states = asyncio.run(topics._create(_SlowMetadataAdmin(lag=200), s, wait_s=5.0))  # type: ignore[arg-type]
    assert {st.spec.name: st.partitions for st in states}["in"] == 4
    with pytest.raises(RuntimeError, match="has no partitions after 0 s"):
        asyncio.run(topics._create(_SlowMetadataAdmin(lag=10**9), s, wait_s=0.05))  # type: ignore[arg-type]
