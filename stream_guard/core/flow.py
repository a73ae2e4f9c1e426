"""The detection flow: decoded events and event-time progress in, alerts out, in one object.

A :class:`Flow` holds one :class:`~stream_guard.core.detector.Detector` per input partition
(the worker's assigned Kafka partitions; ``replay`` splits accounts over the same number of
partitions with Kafka's partitioner) and hands the account profiles the detectors close to
the cross-account stages through a :class:`ProfileTransport`:

* :class:`InProcessLinking` (``replay``, tests): the attribute index and cluster book in this
  process (:class:`~stream_guard.core.linking.LinkingPipeline`); their alerts come back at once;
* the worker's Kafka outbox (``stream.linking.ProfileOutbox``): profiles re-keyed by
  attribute value onto the link-profiles topic; their alerts come from the cluster stage.

The worker, ``replay`` and the tests drive this one object with the same two calls,
:meth:`Flow.process` per event and :meth:`Flow.advance` per watermark step, so what the live
worker raises and what a replay raises differ only by the transport and the clock source
(the real-Kafka parity test, ``tests/integration/test_worker.py``, still checks it).

>>> from stream_guard.settings import Settings
>>> s = Settings(eval_interval_s=60, rule_short_requests=50, rule_day_requests=200)
>>> flow = Flow(s, InProcessLinking(s, clock=lambda: 0.0), partitions=2, clock=lambda: 0.0)
>>> for i in range(400):   # 2 requests/s of templated, step-by-step prompts
...     ev = {"event_id": f"e{i}", "account_id": "x", "model": "m", "input_tokens": 50,
...           "output_tokens": 1500, "prompt": f"Problem {i}: think step by step."}
...     flow.process(1, ev, 1000.0 + i / 2)
>>> alerts = flow.advance(1200.0) + flow.flush()
>>> sorted({a["subject"] for a in alerts}), sorted(flow.detectors)
(['x'], [0, 1])
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from stream_guard.core.alerts import Alert
from stream_guard.core.detector import Detector
from stream_guard.core.linking.pipeline import LinkingPipeline, linked_boundary
from stream_guard.core.linking.profile import AccountProfile
from stream_guard.core.scoring import Evaluator
from stream_guard.core.verdicts import VerdictBook
from stream_guard.settings import Settings

__all__ = ["Flow", "InProcessLinking", "ProfileTransport"]


class ProfileTransport(Protocol):
    """Where closed account profiles go: the cross-account stages."""

    def deliver(self, profiles: list[AccountProfile], through: float) -> list[Alert]:
        """Take the profiles closed since the last call (sorted by (end, account) per
        partition), complete up to link boundary ``through``; return the alerts the
        cross-account stages raised now ([] when they run elsewhere)."""
        ...


class InProcessLinking:
    """The cross-account stages in this process: profiles in, cluster alerts back at once."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time,
                 verdicts: VerdictBook | None = None) -> None:
        self.pipeline = LinkingPipeline(settings, clock=clock, verdicts=verdicts)

    def deliver(self, profiles: list[AccountProfile], through: float) -> list[Alert]:
        """Feed the index and judge every link boundary up to ``through``."""
        self.pipeline.feed(profiles)
        return self.pipeline.advance(through)


class Flow:
    """Detectors per partition, one event-time clock, and the hand-off to cross-account."""

    def __init__(
        self,
        settings: Settings,
        transport: ProfileTransport | None = None,
        *,
        partitions: int = 0,
        clock: Callable[[], float] = time.time,
        evaluators: Sequence[Evaluator] = (),
        verdicts: VerdictBook | None = None,
    ) -> None:
        self.s = settings
        # the analyst verdicts every partition's detector consults (give the in-process
        # linking the same book: cluster verdicts reach members through it)
        self.verdicts = verdicts if verdicts is not None else VerdictBook.of(settings)
        self.transport = transport if settings.cross_account else None
        self.clock = clock
        self.evaluators = evaluators  # extra evaluators, shared by every partition's detector
        self.detectors: dict[int, Detector] = {}
        self.scores: list[float] = []  # scores of finalised evaluations not yet collected
        self._latest_profile = -math.inf
        for p in range(partitions):
            self.detector(p)

    # --- partitions ---------------------------------------------------------------------------
    def detector(self, partition: int) -> Detector:
        """The detector of ``partition``, created empty on first use."""
        det = self.detectors.get(partition)
        if det is None:
            det = self.adopt(partition, Detector(self.s, clock=self.clock, evaluators=self.evaluators,
                                                    verdicts=self.verdicts))
        return det

    def adopt(self, partition: int, detector: Detector) -> Detector:
        """Make ``detector`` (a restored one) the detector of ``partition``."""
        self.detectors[partition] = detector
        if len(self.detectors) > 1 and partition < max(self.detectors):
            # advance() visits partitions in order: the same order in every process
            self.detectors = dict(sorted(self.detectors.items()))
        return detector

    def drop(self, partition: int) -> Detector | None:
        """Forget ``partition`` (revoked); returns its detector."""
        return self.detectors.pop(partition, None)

    def __iter__(self) -> Iterator[Detector]:
        return iter(self.detectors.values())

    # --- the flow -----------------------------------------------------------------------------
    def process(self, partition: int, event: dict[str, Any], ts: float, offset: int = -1) -> None:
        """Account for one valid event of ``partition`` (see :meth:`Detector.process`)."""
        self.detector(partition).process(event, ts, offset)

    def advance(self, watermark: float) -> list[Alert]:
        """Evaluate every partition up to ``watermark`` and move the closed profiles on;
        returns the alerts raised (per-account ones, then in-process cross-account ones)."""
        alerts: list[Alert] = []
        profiles: list[AccountProfile] = []
        for det in self.detectors.values():
            alerts += det.advance(watermark)
            if det.scores:
                self.scores += det.scores
                det.scores.clear()
            profiles += det.take_profiles()
        if self.transport is not None:
            if profiles:
                self._latest_profile = max(self._latest_profile, max(p.at for p in profiles))
            alerts += self.transport.deliver(profiles, linked_boundary(self.s, watermark, self._latest_profile))
        return alerts

    def flush(self) -> list[Alert]:
        """Evaluate everything pending (the end of a replay)."""
        return self.advance(math.inf)

    def take_scores(self) -> list[float]:
        """Scores of the evaluations finalised since the last call."""
        out, self.scores = self.scores, []
        return out

    @property
    def max_ts(self) -> float:
        """The newest event time any partition has seen (0 before any)."""
        return max((d.max_ts for d in self.detectors.values()), default=0.0)
