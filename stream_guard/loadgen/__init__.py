"""Load-test harness: calibrated benign traffic, labelled extraction campaigns, scoring.

* :class:`Generator` merges every simulated account into one event-time ordered stream
  of request events (contract version 1) and builds the ground-truth labels document.
* :func:`scenario` gives a named preset (``smoke``, ``standard``, ``hydra``, ``week``,
  ``designs``) with knobs overridden; :class:`Scenario` lists every knob. The newer
  designs (``designs``) come in named variants (``variants``), so some can be held out.
* :func:`score` / :func:`format_report` measure detection quality from alerts + labels;
  ``plot.plot_timeline`` draws the timeline (matplotlib, optional).
* ``commands.register`` adds ``loadgen`` and ``score`` to the ``stream-guard`` CLI.

Calibration figures come from ``calibration.json`` (made by
``scripts/derive_calibration.py`` from public traces); no data file is needed at run time.
This package does not import Faust.
"""

from stream_guard.loadgen.generator import Generator
from stream_guard.loadgen.labels import Labels, read_labels
from stream_guard.loadgen.scenarios import PRESETS, Scenario, scenario
from stream_guard.loadgen.scorer import format_report, read_alerts, score

__all__ = [
    "PRESETS",
    "Generator",
    "Labels",
    "Scenario",
    "format_report",
    "read_alerts",
    "read_labels",
    "scenario",
    "score",
]
