"""The operator-facing text (docs/monitoring.md, deploy/k8s/README.md, the rules'
annotations and the dashboard's descriptions) names only settings that exist."""

from __future__ import annotations

import re

import pytest
from deploy_helpers import DASHBOARD, K8S_DIR, MONITORING_DOC, RULES_FILE

#: Environment variables that are not worker settings.
NOT_SETTINGS = {"STREAM_GUARD_TEST_BOOTSTRAP"}
VARIABLE = re.compile(r"STREAM_GUARD_[A-Z0-9_]*[A-Z0-9*]")


@pytest.mark.parametrize("path", [MONITORING_DOC, K8S_DIR / "README.md", RULES_FILE, DASHBOARD],
                         ids=lambda p: p.name)
def test_named_settings_exist(path) -> None:
    from stream_guard.settings import Settings

    known = {var for var, _, _ in Settings.describe()}
    for name in set(VARIABLE.findall(path.read_text())) - NOT_SETTINGS:
        if name.endswith("*"):
            assert any(k.startswith(name[:-1]) for k in known), f"{path.name}: no setting matches {name}"
        else:
            assert name in known, f"{path.name}: {name} is not a setting (see `stream-guard settings`)"
