"""A supervised model beside the graded evidence: River's online logistic regression,
learning from labelled accounts (analyst verdicts, or the load generator's ground truth in
the benchmark) over the same evidence terms.

**Labels.** The analyst verdicts of a :class:`~stream_guard.core.verdicts.VerdictBook`:
``malicious`` and ``benign`` verdicts on accounts, each from its event time on (a cluster
verdict reaches the members through the cluster stage). They come from the verdicts topic
(the worker), ``replay --verdicts FILE``, or the ``supervised_labels_file`` (the contract's
verdicts, or the older ``{"account_id", "label", "at"}`` lines). A replay and the live worker
learn the same thing at the same boundaries; a later verdict on the same account replaces
an earlier one; ``allow`` is not a label.

**Learning and judging.** At every evaluation of an account that has a verdict by then,
the model learns one example (the evidence terms of that evaluation, the verdict). Every
evaluation is scored with the probability of extraction the model gives; once it has
learned ``supervised_min_examples`` examples of each class, a probability of at least
``supervised_min_probability`` is a verdict (``low``, ``medium`` from halfway between it
and 1). The model learns only from labels, never from its own findings, so an unlabelled
campaign cannot teach it that extraction is normal.

>>> from stream_guard.settings import Settings
>>> book = VerdictBook.from_lines([b'{"account_id": "bad", "label": "malicious", "at": 0}',
...                                b'{"account_id": "good", "label": "benign", "at": 0}'])
>>> book.label_at("bad", 10.0), book.label_at("good", 10.0), book.label_at("other", 10.0)
(True, False, None)
>>> ev = SupervisedEvaluator(Settings(supervised_min_examples=5, supervised_learning_rate=0.5), book)
>>> from stream_guard.core.features import FEATURES
>>> from stream_guard.core.scoring import Case
>>> long = dict.fromkeys(FEATURES, 0.0) | {"mean_output_tokens_day": 3000.0, "day_requests": 500.0}
>>> short = dict.fromkeys(FEATURES, 0.0) | {"mean_output_tokens_day": 80.0, "day_requests": 500.0}
>>> for t in range(200):
...     _ = ev.evaluate(Case(long, {}, "x", "bad", float(t)))
...     _ = ev.evaluate(Case(short, {}, "x", "good", float(t)))
>>> v = ev.evaluate(Case(long, {}, "x", "unlabelled", 300.0))
>>> v.detector, v.severity in ("low", "medium"), ev.evaluate(Case(short, {}, "x", "unlabelled", 300.0))
('supervised_model', True, None)
"""

from __future__ import annotations

import pickle
import zlib

from river import linear_model, optim

from stream_guard.core.evidence import TERMS, term_values
from stream_guard.core.rules import Verdict, reason
from stream_guard.core.scoring import Case
from stream_guard.core.verdicts import VerdictBook
from stream_guard.core.vocabulary import SUPERVISED_MODEL
from stream_guard.settings import Settings

__all__ = ["SupervisedEvaluator"]

_NAMES = tuple(t.name for t in TERMS)


class SupervisedEvaluator:
    """River's logistic regression over the evidence terms, learning from the verdicts of a
    :class:`~stream_guard.core.verdicts.VerdictBook` (an :class:`~stream_guard.core.scoring.Evaluator`)."""

    name = SUPERVISED_MODEL
    checkpoint_name = "supervised"  # its records beside the population models' (core/checkpoint.py)

    def __init__(self, settings: Settings, labels: VerdictBook) -> None:
        self.s = settings
        self.labels = labels
        self.model = linear_model.LogisticRegression(optimizer=optim.SGD(settings.supervised_learning_rate))
        self.examples = {True: 0, False: 0}
        self.clean = 0  # clean evaluations learned as negatives (supervised_clean_weight)

    def evaluate(self, case: Case) -> Verdict | None:
        """Learn the case if its account has a verdict by now; then judge it."""
        x = dict(zip(_NAMES, term_values(case.features), strict=True))
        label = self.labels.label_at(case.account, case.at)
        p = float(self.model.predict_proba_one(x).get(True, 0.0))
        if label is not None:
            self.model.learn_one(x, label)
            self.examples[label] += 1
        s = self.s
        if min(self.examples.values()) < s.supervised_min_examples or p < s.supervised_min_probability:
            return None
        severity = "medium" if p >= (1.0 + s.supervised_min_probability) / 2 else "low"
        return Verdict(self.name, round(p, 4), severity, [reason(
            "supervised_probability", p, s.supervised_min_probability,
            f"probability of extraction from a model trained on {self.examples[True]} malicious and "
            f"{self.examples[False]} benign labelled evaluations")])

    def learn(self, case: Case) -> None:
        """An evaluation where nothing fired, on the account's learning turn: a negative
        example with weight ``supervised_clean_weight`` (0: the model learns from labels only)."""
        w = self.s.supervised_clean_weight
        if w > 0 and self.labels.label_at(case.account, case.at) is None:
            self.model.learn_one(dict(zip(_NAMES, term_values(case.features), strict=True)), False, w=w)
            self.clean += 1

    # --- checkpoints (scoring.Checkpointed) ------------------------------------------------------
    def learned_count(self) -> int:
        """Examples learned so far."""
        return self.examples[True] + self.examples[False]

    def dumps(self) -> bytes:
        """The model and its example counts, pickled and compressed (checkpoints we write only)."""
        return zlib.compress(pickle.dumps((self.model, self.examples), protocol=pickle.HIGHEST_PROTOCOL), 6)

    def loads(self, blob: bytes) -> None:
        """Restore :meth:`dumps` output."""
        self.model, self.examples = pickle.loads(zlib.decompress(blob))
