"""The one vocabulary agrees with the alert contract and with the detectors' own names."""

from __future__ import annotations

import json
from importlib import resources

from stream_guard.core import vocabulary
from stream_guard.core.linking.mixture import MixtureDetector
from stream_guard.core.models import PopulationModels
from stream_guard.core.rules import PatternRule, VolumeRule


def test_severities_are_the_alert_contracts_enum_in_order() -> None:
    schema = json.loads(resources.files("stream_guard.contracts").joinpath("alert.schema.json").read_text())
    assert tuple(schema["properties"]["severity"]["enum"]) == vocabulary.SEVERITIES


def test_detectors_carry_the_vocabulary_names() -> None:
    assert VolumeRule.name == vocabulary.VOLUME_RULE
    assert PatternRule.name == vocabulary.PATTERN_RULE
    assert PopulationModels.name == vocabulary.POPULATION_MODEL
    assert MixtureDetector.name == vocabulary.MIXTURE_RULE
    assert sorted(vocabulary.PER_ACCOUNT_DETECTORS) == list(vocabulary.PER_ACCOUNT_DETECTORS)


def test_alert_kinds_are_the_alert_contracts_enum() -> None:
    schema = json.loads(resources.files("stream_guard.contracts").joinpath("alert.schema.json").read_text())
    assert tuple(schema["properties"]["kind"]["enum"]) == vocabulary.ALERT_KINDS
    assert set(vocabulary.CROSS_ACCOUNT_DETECTORS) == set(vocabulary.ALERT_KINDS)


def test_modules_that_name_severities_share_the_one_tuple() -> None:
    from stream_guard.core import rules
    from stream_guard.loadgen import scorer

    assert rules.SEVERITIES is vocabulary.SEVERITIES and scorer.SEVERITIES is vocabulary.SEVERITIES


def test_the_alert_record_type_has_the_contracts_fields() -> None:
    from stream_guard.core.alerts import Alert

    schema = json.loads(resources.files("stream_guard.contracts").joinpath("alert.schema.json").read_text())
    assert list(Alert.__annotations__) == schema["required"]
    assert Alert.__required_keys__ == frozenset(schema["required"])
