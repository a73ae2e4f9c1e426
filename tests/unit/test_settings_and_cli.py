"""Settings from the environment, and the command line's help."""

from __future__ import annotations

import pytest
from stream_guard.cli import build_parser, main
from stream_guard.settings import Settings, SettingsError


def test_every_knob_can_be_set_from_the_environment() -> None:
    for name, _default, doc in Settings.describe():
        assert name.startswith("STREAM_GUARD_") and doc
    s = Settings.from_env({"STREAM_GUARD_COOLDOWN_S": "10", "STREAM_GUARD_INPUT_TOPIC": "x"})
    assert (s.cooldown_s, s.input_topic) == (10.0, "x")


def test_inconsistent_windows_are_refused() -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({"STREAM_GUARD_SHORT_WINDOW_S": "10", "STREAM_GUARD_EVAL_INTERVAL_S": "60"})


def test_a_negative_gc_threshold_is_refused() -> None:
    with pytest.raises(SettingsError, match="gc_threshold"):
        Settings.from_env({"STREAM_GUARD_GC_THRESHOLD": "-1"})
    assert Settings.from_env({"STREAM_GUARD_GC_THRESHOLD": "0"}).gc_threshold == 0


def test_broker_forms() -> None:
    s = Settings(broker="kafka://h1:1,h2:2")
    assert s.broker_url == "kafka://h1:1;h2:2" and s.bootstrap_servers == "h1:1,h2:2"


@pytest.mark.parametrize("command", ["worker", "replay", "demo", "settings", "label", "report"])
def test_each_command_explains_its_options(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: stream-guard " + command in out and "-h, --help" in out


def test_a_bad_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STREAM_GUARD_METRICS_PORT", "many")
    assert main(["settings"]) == 2
    assert "STREAM_GUARD_METRICS_PORT" in capsys.readouterr().err


@pytest.mark.parametrize("env", [
    {"STREAM_GUARD_LINK_STATS_SAMPLE": "0"},
    {"STREAM_GUARD_NEAR_DUP_SKETCH_EVERY": "0"},
    {"STREAM_GUARD_NEAR_DUP_SKETCH_EVERY": "257"},  # the checkpoint keeps the turn in one byte
    {"STREAM_GUARD_LINK_SPECIFIC_VALUE_ACCOUNTS": "0"},
    {"STREAM_GUARD_CLUSTER_CRITICAL_SCORE": "1.5"},
    {"STREAM_GUARD_CLUSTER_MEDIUM_SCORE": "0.8"},  # above cluster_high_score
    {"STREAM_GUARD_PATTERN_MEDIUM_SCORE": "0.95"},  # above pattern_high_score
    {"STREAM_GUARD_LINK_LIKENESS_GATE": "0"},
    {"STREAM_GUARD_LINK_PRIOR_REQUESTS": "0"},
    {"STREAM_GUARD_LINK_MEMBER_MAX_VOLUME_RATIO": "0.5"},
    {"STREAM_GUARD_PIVOT_NEW_MODEL_AFTER_S": "-1"},
    {"STREAM_GUARD_LINK_EVIDENCE_WEIGHTS": "likeness=0.9,young_share=0.5,evenness=0,synchrony=0"},  # sum > 1
    {"STREAM_GUARD_CLUSTER_EVIDENCE_WEIGHTS": "likeness=1"},  # a term missing
    {"STREAM_GUARD_LINK_EVIDENCE_WEIGHTS": "likeness=x,young_share=0,evenness=0,synchrony=0"},
])
def test_unusable_detection_tuning_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


def test_evidence_weights_are_read_in_term_order() -> None:
    weights = "synchrony=0.1,evenness=0.2,young_share=0.3,likeness=0.4"
    s = Settings.from_env({"STREAM_GUARD_CLUSTER_EVIDENCE_WEIGHTS": weights})
    assert s.cluster_evidence == (0.4, 0.3, 0.2, 0.1)
    assert Settings().link_evidence == (0.35, 0.25, 0.2, 0.2)


def test_label_refuses_an_incomplete_or_invalid_verdict_before_any_broker(capsys: pytest.CaptureFixture[str]) -> None:
    """No broker runs here: each of these must fail on the verdict itself (exit 2)."""
    assert main(["label", "add", "--account", "a", "--verdict", "benign"]) == 2  # no --reason
    assert "needs --account or --cluster, --verdict and --reason" in capsys.readouterr().err
    assert main(["label", "add", "--account", "a", "--verdict", "allow", "--reason", "r"]) == 2
    assert '"expires_at" is a required property' in capsys.readouterr().err
    assert main(["label", "add", "--account", "a", "--verdict", "benign", "--reason", "r", "--at", "yesterday"]) == 2
    assert "not a time" in capsys.readouterr().err


def test_label_times_take_rfc3339_epoch_or_a_duration() -> None:
    from stream_guard.cli import _label_time

    assert _label_time("2026-03-01T00:00:00Z") == _label_time("1772323200") == 1772323200.0
    assert _label_time("12h", after=100.0) == 100.0 + 12 * 3600 and _label_time("1.5d", after=0.0) == 129600.0
    with pytest.raises(ValueError, match="not a time"):
        _label_time("12h")  # a duration needs a start
