"""A supervised model beside the graded evidence: River's online logistic regression,
learning from labelled accounts (analyst verdicts, or the load generator's ground truth in
the benchmark) over the same evidence terms.

**Labels.** A :class:`LabelBook` holds verdicts on accounts with the event time each was
given: ``{"account_id": ..., "label": "malicious" | "benign", "at": RFC 3339 or epoch
seconds}`` per line of a JSON Lines file (``supervised_labels_file``). A verdict applies
from its ``at`` on, so a replay and the live worker learn the same thing at the same
boundaries; a later verdict on the same account replaces an earlier one.

**Learning and judging.** At every evaluation of an account that has a verdict by then,
the model learns one example (the evidence terms of that evaluation, the verdict). Every
evaluation is scored with the probability of extraction the model gives; once it has
learned ``supervised_min_examples`` examples of each class, a probability of at least
``supervised_min_probability`` is a verdict (``low``, ``medium`` from halfway between it
and 1). The model learns only from labels, never from its own findings, so an unlabelled
campaign cannot teach it that extraction is normal.

>>> from stream_guard.settings import Settings
>>> book = LabelBook.from_lines([b'{"account_id": "bad", "label": "malicious", "at": 0}',
...                              b'{"account_id": "good", "label": "benign", "at": 0}'])
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

import math
import pickle
import zlib
from bisect import bisect_right
from collections.abc import Iterable
from pathlib import Path

import orjson
from river import linear_model, optim

from stream_guard.contracts import parse_ts
from stream_guard.core.evidence import TERMS, term_values
from stream_guard.core.rules import Verdict, reason
from stream_guard.core.scoring import Case
from stream_guard.core.vocabulary import SUPERVISED_MODEL
from stream_guard.settings import Settings

__all__ = ["LabelBook", "LabelError", "SupervisedEvaluator"]

_NAMES = tuple(t.name for t in TERMS)


class LabelError(ValueError):
    """A labels file has a line that is not a verdict."""


def _epoch(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise LabelError(f"'at' must be RFC 3339 or epoch seconds, got {value!r}")
    try:
        out = parse_ts(value)  # the events' own event-time parser
    except ValueError:
        raise LabelError(f"'at' is not RFC 3339: {value!r}") from None
    if not math.isfinite(out):
        raise LabelError(f"'at' must be finite, got {value!r}")
    return out


class LabelBook:
    """Verdicts on accounts, each from an event time on (see the module docstring)."""

    def __init__(self) -> None:
        self._times: dict[str, list[float]] = {}
        self._labels: dict[str, list[bool]] = {}

    def add(self, account: str, malicious: bool, at: float) -> None:
        """Record a verdict on ``account`` from event time ``at`` on."""
        times = self._times.setdefault(account, [])
        labels = self._labels.setdefault(account, [])
        i = bisect_right(times, at)
        times.insert(i, at)
        labels.insert(i, malicious)

    def label_at(self, account: str, at: float) -> bool | None:
        """The verdict on ``account`` in force at event time ``at`` (``True``: malicious)."""
        times = self._times.get(account)
        if not times:
            return None
        i = bisect_right(times, at)
        return self._labels[account][i - 1] if i else None

    def __len__(self) -> int:
        return len(self._times)

    @classmethod
    def from_lines(cls, lines: Iterable[bytes]) -> LabelBook:
        """A book from JSON Lines verdicts; raises :class:`LabelError` naming the bad line."""
        book = cls()
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
                account, label = doc["account_id"], doc["label"]
                if not isinstance(account, str) or label not in ("malicious", "benign"):
                    raise LabelError("need a string account_id and a label 'malicious' or 'benign'")
                book.add(account, label == "malicious", _epoch(doc["at"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, LabelError) as exc:
                raise LabelError(f"labels line {n}: {exc}") from None
        return book

    @classmethod
    def load(cls, path: str) -> LabelBook:
        """The verdicts in the JSON Lines file ``path``."""
        with Path(path).open("rb") as fh:
            return cls.from_lines(fh)


class SupervisedEvaluator:
    """River's logistic regression over the evidence terms, learning from a :class:`LabelBook`
    (an :class:`~stream_guard.core.scoring.Evaluator`)."""

    name = SUPERVISED_MODEL
    checkpoint_name = "supervised"  # its records beside the population models' (core/checkpoint.py)

    def __init__(self, settings: Settings, labels: LabelBook) -> None:
        self.s = settings
        self.labels = labels
        self.model = linear_model.LogisticRegression(optimizer=optim.SGD(settings.supervised_learning_rate))
        self.examples = {True: 0, False: 0}

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
        """Nothing: the model learns from labels only (in :meth:`evaluate`)."""

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
