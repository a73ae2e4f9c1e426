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


def test_broker_forms() -> None:
    s = Settings(broker="kafka://h1:1,h2:2")
    assert s.broker_url == "kafka://h1:1;h2:2" and s.bootstrap_servers == "h1:1,h2:2"


@pytest.mark.parametrize("command", ["worker", "replay", "demo", "settings"])
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
