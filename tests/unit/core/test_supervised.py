"""The supervised model (stream_guard.core.supervised): verdicts by event time, learning from
labels only, judging unlabelled accounts like the labelled ones."""

from __future__ import annotations

from typing import Any

import pytest
from stream_guard.core.detector import Detector
from stream_guard.core.evidence import TERMS, term_values
from stream_guard.core.features import FEATURES
from stream_guard.core.scoring import Case, Scorer
from stream_guard.core.supervised import SupervisedEvaluator
from stream_guard.core.verdicts import VerdictBook, VerdictError, verdict_from_label
from stream_guard.settings import Settings

T0 = 1_772_000_000.0


def features(**values: float) -> dict[str, float]:
    return dict.fromkeys(FEATURES, 0.0) | values


LONG = features(mean_output_tokens_day=2500.0, day_requests=400.0, out_in_ratio_long=20.0)
SHORT = features(mean_output_tokens_day=90.0, day_requests=400.0, out_in_ratio_long=0.5)


def test_a_verdict_applies_from_its_time_and_a_later_one_replaces_it() -> None:
    book = VerdictBook.from_lines([
        b'{"account_id": "a", "label": "benign", "at": "2026-03-01T00:00:00Z"}',
        b'{"account_id": "a", "label": "malicious", "at": "2026-03-02T00:00:00Z"}',
        b"",
    ])
    day1 = 1772323200.0  # 2026-03-01T00:00:00Z
    assert book.label_at("a", day1 - 1) is None
    assert book.label_at("a", day1) is False
    assert book.label_at("a", day1 + 86400) is True
    assert book.label_at("b", day1 + 86400) is None and len(book) == 2  # verdicts, not accounts


@pytest.mark.parametrize("line", [
    b"not json", b'{"label": "malicious", "at": 0}', b'{"account_id": "a", "label": "bad", "at": 0}',
    b'{"account_id": "a", "label": "benign", "at": "yesterday"}', b'{"account_id": 7, "label": "benign", "at": 0}',
    b'{"account_id": "a", "label": "benign", "at": true}', b'{"account_id": "a", "label": "benign"}',
])
def test_a_bad_verdict_line_is_refused_by_number(line: bytes) -> None:
    good = b'{"account_id": "a", "label": "benign", "at": 0}'
    with pytest.raises(VerdictError, match="verdicts line 2"):
        VerdictBook.from_lines([good, line])


def train(ev: SupervisedEvaluator, n: int = 300) -> None:
    for i in range(n):
        ev.evaluate(Case(LONG, {}, "p", "bad", T0 + i))
        ev.evaluate(Case(SHORT, {}, "p", "good", T0 + i))


def label(account: str, malicious: bool, at: float) -> Any:
    return verdict_from_label({"account_id": account, "label": "malicious" if malicious else "benign", "at": at})


def book() -> VerdictBook:
    b = VerdictBook()
    b.add(label("bad", True, T0))
    b.add(label("good", False, T0))
    return b


def test_unlabelled_accounts_shaped_like_a_labelled_campaign_are_reported() -> None:
    ev = SupervisedEvaluator(Settings(supervised_min_examples=20, supervised_learning_rate=0.5), book())
    train(ev)
    v = ev.evaluate(Case(LONG, {}, "p", "other", T0 + 1000))
    assert v is not None and v.detector == "supervised_model" and v.reasons[0]["signal"] == "supervised_probability"
    assert ev.evaluate(Case(SHORT, {}, "p", "other", T0 + 1000)) is None
    assert ev.examples == {True: 300, False: 300}


def test_without_labels_or_before_enough_of_each_it_never_reports() -> None:
    nothing = SupervisedEvaluator(Settings(supervised_min_examples=1), VerdictBook())
    for i in range(100):
        assert nothing.evaluate(Case(LONG, {}, "p", "x", T0 + i)) is None
    assert nothing.examples == {True: 0, False: 0}
    one_sided = VerdictBook()
    one_sided.add(label("bad", True, T0))
    ev = SupervisedEvaluator(Settings(supervised_min_examples=1, supervised_learning_rate=0.5), one_sided)
    for i in range(100):
        ev.evaluate(Case(LONG, {}, "p", "bad", T0 + i))
    assert ev.evaluate(Case(LONG, {}, "p", "x", T0 + 200)) is None  # no benign example learned yet


def test_with_a_clean_weight_quiet_unlabelled_evaluations_are_negatives() -> None:
    """supervised_clean_weight > 0: an evaluation where nothing fired on an account without a
    verdict teaches "not extraction" (an account with a verdict is learned from the verdict only)."""
    ev = SupervisedEvaluator(Settings(supervised_clean_weight=1.0, supervised_learning_rate=0.5), book())
    ev.learn(Case(LONG, {}, "p", "other", T0))
    ev.learn(Case(LONG, {}, "p", "bad", T0 + 1))  # labelled: not a clean negative
    assert ev.clean == 1 and ev.model.predict_proba_one(
        dict(zip([t.name for t in TERMS], term_values(LONG), strict=True)))[True] < 0.5


def test_it_learns_from_labels_only_not_from_what_nothing_fired_on() -> None:
    ev = SupervisedEvaluator(Settings(), book())
    before = dict(ev.model.weights)
    ev.learn(Case(LONG, {}, "p", "other", T0))  # the scorer's clean-evaluation hook
    assert dict(ev.model.weights) == before
    ev.evaluate(Case(LONG, {}, "p", "bad", T0 - 1))  # before the verdict: not learned
    assert ev.examples == {True: 0, False: 0}


def test_the_scorer_builds_it_from_the_settings(tmp_path: Any) -> None:
    path = tmp_path / "verdicts.jsonl"
    path.write_text('{"account_id": "bad", "label": "malicious", "at": 0}\n')
    scorer = Scorer(Settings(per_account_evaluators="evidence,supervised", supervised_labels_file=str(path)))
    ev = scorer.evaluators[1]
    assert isinstance(ev, SupervisedEvaluator) and ev.labels.label_at("bad", 1.0) is True


def test_in_the_detector_labels_apply_at_their_event_time(tmp_path: Any) -> None:
    """A labelled extractor and a labelled chat user teach the model; an unlabelled extractor
    of the same shape is then reported by it (evidence switched off to see it alone)."""
    path = tmp_path / "verdicts.jsonl"
    path.write_text(f'{{"account_id": "x1", "label": "malicious", "at": {T0}}}\n'
                    f'{{"account_id": "c1", "label": "benign", "at": {T0}}}\n')
    s = Settings(per_account_evaluators="supervised", supervised_labels_file=str(path), supervised_min_examples=30,
                 supervised_learning_rate=0.5, eval_interval_s=60.0)
    det = Detector(s, clock=lambda: 0.0)
    alerts = []
    for i in range(4 * 60):  # four hours, one request a minute each
        ts = T0 + 60.0 * i + 1
        for account, out, prompt in (("x1", 1800, "Item {i}: derive it step by step."), ("c1", 120, "hi again {i}"),
                                     ("x2", 1800, "Task {i}: derive it step by step.")):
            if account == "x2" and i < 120:
                continue  # the unlabelled one starts after two hours
            det.process({"event_id": f"{account}{i}", "account_id": account, "model": "m", "input_tokens": 40,
                         "output_tokens": out, "prompt": prompt.format(i=i)}, ts)
        alerts += det.advance(ts)
    named = {a["subject"] for a in alerts if "supervised_model" in a["detectors"]}
    assert "x2" in named and "c1" not in named


def test_the_model_is_checkpointed_with_the_partition_and_restored(tmp_path: Any) -> None:
    """The supervised model rides in the partition's checkpoint passes beside the population
    models (``#models/supervised/<slot>``); a restored detector has the same model."""
    from stream_guard.core.checkpoint import PartitionCheckpoints, restore_partition

    path = tmp_path / "verdicts.jsonl"
    path.write_text(f'{{"account_id": "x1", "label": "malicious", "at": {T0}}}\n'
                    f'{{"account_id": "c1", "label": "benign", "at": {T0}}}\n')
    s = Settings(per_account_evaluators="evidence,supervised", supervised_labels_file=str(path),
                 cross_account=False)
    det = Detector(s, clock=lambda: 0.0)
    writer = PartitionCheckpoints(0)
    table: dict[bytes, bytes | None] = {}
    offset = 0

    def feed(lo: int, hi: int) -> None:
        nonlocal offset
        for i in range(lo, hi):
            ts = T0 + 60.0 * i + 1
            for account, out in (("x1", 1800), ("c1", 120)):
                det.process({"event_id": f"{account}{i}", "account_id": account, "model": "m", "input_tokens": 40,
                             "output_tokens": out, "prompt": f"Item {i}: explain step by step."}, ts, offset)
                offset += 1
            det.advance(ts)
        table.update(writer.records(det, next_offset=offset))

    def supervised(d: Detector) -> SupervisedEvaluator:
        (ev,) = [e for e in d.scorer.evaluators if isinstance(e, SupervisedEvaluator)]
        return ev

    feed(0, 60)
    first = supervised(det).learned_count()
    feed(60, 120)  # a second pass: the model goes to the other slot
    live = supervised(det)
    assert live.learned_count() > first > 0
    assert any(k.startswith(b"0#models/supervised/") for k in table)
    again = restore_partition(s, 0, [(k, v) for k, v in table.items() if v is not None], clock=lambda: 0.0)
    restored = supervised(again.detector)
    assert restored.examples == live.examples
    probe = dict(zip([t.name for t in TERMS], term_values(LONG), strict=True))
    assert restored.model.predict_proba_one(probe) == live.model.predict_proba_one(probe)
