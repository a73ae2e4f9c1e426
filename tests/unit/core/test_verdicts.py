"""Analyst verdicts (stream_guard.core.verdicts): the contract, the book by event time, and
what they do in the detector: silence, clean learning, labels."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stream_guard.core.detector import Detector
from stream_guard.core.verdicts import AnalystVerdict, VerdictBook, VerdictError, parse_line, verdict_from_json
from stream_guard.settings import Settings

T0 = 1_772_323_200.0  # 2026-03-01T00:00:00Z
HOUR = 3600.0


def doc(**over: Any) -> dict[str, Any]:
    base = {"verdict_id": "v1", "subject": "a", "subject_kind": "account", "verdict": "benign",
            "at": "2026-03-01T00:00:00Z", "reason": "evaluation partner", "analyst": "ana"}
    return {**base, **over}


def verdict(subject: str, kind: str, at: float, expires: float = math.inf, vid: str = "",
            subject_kind: str = "account") -> AnalystVerdict:
    return AnalystVerdict(vid or f"{subject}-{kind}-{at}", subject, subject_kind, kind, at, expires,  # type: ignore[arg-type]
                          "test", "ana")  # (literal kinds given as str: the tests build them by name)


def test_the_contract_form_round_trips_and_times_parse() -> None:
    v = verdict_from_json(doc(expires_at="2026-03-02T00:00:00Z"))
    assert (v.at, v.expires_at) == (T0, T0 + 86400)
    assert verdict_from_json(orjson.loads(orjson.dumps(v.to_json()))) == v


@pytest.mark.parametrize(("change", "message"), [
    ({"verdict": "maybe"}, "verdict"),
    ({"subject_kind": "team"}, "subject_kind"),
    ({"verdict": "allow"}, "expires_at"),  # an allow needs an expiry
    ({"expires_at": "2026-02-28T00:00:00Z"}, "must be after"),
    ({"at": "yesterday"}, "at"),
    ({"at": -5}, "at"),
    ({"subject": ""}, "subject"),
    ({"verdict_id": 7}, "verdict_id"),
    ({"at": 1e300}, "at"),
])
def test_a_bad_verdict_is_refused_with_the_field_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(VerdictError, match=message):
        verdict_from_json(doc(**change))


@given(st.binary(max_size=300))
def test_any_bytes_give_a_verdict_or_a_verdict_error(raw: bytes) -> None:
    try:
        parse_line(raw)
    except VerdictError:
        pass


def test_allow_silences_until_it_expires_and_benign_for_its_quiet_period() -> None:
    book = VerdictBook(benign_quiet_s=10 * HOUR)
    book.add(verdict("a", "allow", T0, T0 + 2 * HOUR))
    book.add(verdict("b", "benign", T0))
    book.add(verdict("c", "benign", T0, T0 + HOUR))
    assert book.silenced("a", T0 - 1) is None and book.silenced("a", T0 + HOUR) is not None
    assert book.silenced("a", T0 + 2 * HOUR) is None
    assert book.silenced("b", T0 + 9 * HOUR) is not None and book.silenced("b", T0 + 10 * HOUR) is None
    assert book.silenced("c", T0 + 2 * HOUR) is None  # its own expiry beats the quiet period
    assert (book.label_at("a", T0), book.label_at("b", T0 + 99 * HOUR)) == (None, False)  # allow is no label


def test_the_latest_verdict_replaces_earlier_ones_and_ids_are_idempotent() -> None:
    book = VerdictBook()
    assert book.add(verdict("a", "benign", T0, vid="x"))
    assert not book.add(verdict("a", "malicious", T0 + HOUR, vid="x"))  # same id: ignored
    assert book.add(verdict("a", "malicious", T0 + HOUR, vid="y"))
    assert book.label_at("a", T0 + 1) is False and book.label_at("a", T0 + HOUR) is True
    assert book.silenced("a", T0 + HOUR) is None and len(book) == 2


def test_a_file_may_mix_contract_verdicts_and_older_label_lines(tmp_path: Any) -> None:
    path = tmp_path / "v.jsonl"
    path.write_bytes(orjson.dumps(doc()) + b"\n\n" + b'{"account_id": "b", "label": "malicious", "at": 5}\n')
    book = VerdictBook.load(str(path))
    assert book.label_at("a", T0) is False and book.label_at("b", 5.0) is True
    path.write_bytes(orjson.dumps(doc()) + b"\n{not json\n")
    with pytest.raises(VerdictError, match="line 2"):
        VerdictBook.load(str(path))


# --- in the detector ------------------------------------------------------------------------

S = Settings(eval_interval_s=60.0, cross_account=False, cooldown_s=HOUR)


def extractor(det: Detector, hours: float, start: float = T0, account: str = "x") -> list[dict[str, Any]]:
    """A blunt extractor: 2 templated step-by-step requests a second with long outputs."""
    alerts = []
    for i in range(int(hours * 3600 / 30)):
        ts = start + 30.0 * i
        det.process({"event_id": f"{account}{ts}", "account_id": account, "model": "m", "input_tokens": 50,
                     "output_tokens": 1800, "prompt": f"Problem {i}: solve it step by step."}, ts)
        alerts += det.advance(ts)
    return alerts


def test_without_a_verdict_the_extractor_alerts() -> None:
    assert extractor(Detector(S, clock=lambda: 0.0), 3)


def test_an_allow_listed_account_is_tracked_but_silent_until_expiry() -> None:
    book = VerdictBook()
    book.add(verdict("x", "allow", T0, T0 + 2 * HOUR))
    det = Detector(S, clock=lambda: 0.0, verdicts=book)
    alerts = extractor(det, 3)
    assert "x" in det.accounts and det.evaluations > 100 and det.silenced > 0
    assert alerts and min(a["raised_at"] for a in alerts) >= "2026-03-01T02:00:00.000Z"
    assert alerts[0]["evidence"]["episode"] == "new"  # a fresh episode once the allow ends


def test_a_benign_account_is_silent_and_its_evaluations_teach_the_population_models() -> None:
    def learned(book: VerdictBook) -> tuple[int, int]:
        det = Detector(S, clock=lambda: 0.0, verdicts=book)
        alerts = extractor(det, 3)
        return len(alerts), sum(det.scorer.models.learned().values())

    plain = learned(VerdictBook())
    book = VerdictBook()
    book.add(verdict("x", "benign", T0))
    cleared = learned(book)
    assert plain[0] > 0 and cleared[0] == 0
    assert cleared[1] > plain[1]  # evaluations that fired are learned as clean once judged benign
