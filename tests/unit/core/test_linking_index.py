"""AttributeIndex and its scoring helpers (stream_guard.core.linking.index) on hand-made profiles.

Groups used throughout:

- *hydra*: young (2 days), extraction-like (likeness 0.9), evenly loaded (26 requests a
  day each), around-the-clock (all 24 hours) accounts sharing one value;
- *corporate NAT*: old accounts with heavy-tailed volumes, low likeness and office hours
  sharing an IP and a company card.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import sys
from array import array
from typing import Any

import pytest
import xxhash
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from stream_guard.core.linking.index import (
    AttributeIndex,
    LinkVerdict,
    MemberRow,
    MemberTable,
    Mover,
    PivotVerdict,
    evenness,
    fitting_members,
    fitting_table,
    group_evidence,
    majority_mask,
    majority_mask_python,
    member_fit,
    suspicion,
    synchrony,
    verdict_from_wire,
)
from stream_guard.core.linking.profile import UNKNOWN_AGE, AccountProfile
from stream_guard.core.signals import native, text_kernel
from stream_guard.settings import Settings

ALL_DAY = 0xFFFFFF
OFFICE = sum(1 << b for b in range(8, 17))  # nine hours
T = 900.0


def prof(account: str, at: float, values: list[tuple[str, str, int]], *, requests: int | None = None,
         day: float = 26.0, likeness: float = 0.9, age: float = 2.0, hours: int = ALL_DAY) -> AccountProfile:
    if requests is None:
        requests = max((n for _, _, n in values), default=1)
    return AccountProfile(account, at, requests, values, day, likeness, age, hours)


def hydra(index: AttributeIndex, n: int, at: float = T, kind: str = "payment", value: str = "pm_x",
          prefix: str = "h") -> list[str]:
    names = [f"{prefix}{i}" for i in range(n)]
    for a in names:
        index.observe(prof(a, at, [(kind, value, 3)]))
    return names


# --- helpers ------------------------------------------------------------------------------
def test_evenness_synchrony_majority_by_hand() -> None:
    assert evenness([26.0, 26.0, 26.0]) == 1.0
    assert evenness([10.0, 30.0]) == 0.5  # mean 20, sd 10
    assert evenness([1.0, 2.0, 50.0, 3.0]) == 0.0
    assert evenness([5.0]) == 0.0 and evenness([0.0, 0.0]) == 0.0
    assert majority_mask([0b011, 0b010, 0b110]) == 0b010
    assert synchrony([0b1111] * 3) == 1.0
    assert synchrony([0b0001, 0b0010, 0b0100, 0b1000]) == 0.0
    assert synchrony([0b11, 0b11, 0b01]) == pytest.approx((1 + 1 + 0.5) / 3)
    assert synchrony([0b1, 0, 0]) == 0.0  # one non-empty mask: nothing to compare


def test_group_evidence_by_hand() -> None:
    rows = [MemberRow("a", 26.0, 0.9, 2.0, ALL_DAY), MemberRow("b", 26.0, 0.9, 20.0, ALL_DAY)]
    ev = group_evidence(rows, Settings())
    # likeness: (52 * 0.9 + 0.25 * 10) / (52 + 10)
    assert ev == {"likeness": round(49.3 / 62, 4), "young_share": 0.5, "evenness": 1.0, "synchrony": 1.0,
                  "day_requests": 52.0}
    light = group_evidence([MemberRow("a", 2.0, 0.9, 1.0, 0b1), MemberRow("b", 2.0, 0.9, 1.0, 0b1)], Settings())
    assert light["evenness"] == 0.2  # 1.0 scaled by 2 / link_evenness_basis_requests
    assert light["synchrony"] == round(1 / 6, 4)  # 1.0 scaled by 1 hour / link_synchrony_basis_hours


def test_group_evidence_and_suspicion_follow_the_settings() -> None:
    light = [MemberRow("a", 2.0, 0.9, 1.0, 0b1), MemberRow("b", 2.0, 0.9, 1.0, 0b1)]
    s = Settings(link_evenness_basis_requests=2.0, link_synchrony_basis_hours=1.0, link_likeness_prior=0.9)
    ev = group_evidence(light, s)
    assert (ev["likeness"], ev["evenness"], ev["synchrony"]) == (0.9, 1.0, 1.0)  # shrunk toward 0.9: stays
    ev = {"likeness": 0.8, "young_share": 1.0, "evenness": 0.0, "synchrony": 0.0}
    assert suspicion(ev, Settings()) == round(0.35 * 0.8 + 0.25, 4)
    only_likeness = Settings(link_evidence_weights="likeness=1,young_share=0,evenness=0,synchrony=0")
    assert suspicion(ev, only_likeness) == 0.8
    assert suspicion(dict(ev, likeness=0.2), only_likeness) == 0.1  # damped by 0.2 / link_likeness_gate
    assert suspicion(dict(ev, likeness=0.2), Settings(link_evidence_weights=only_likeness.link_evidence_weights,
                                                       link_likeness_gate=0.2)) == 0.2


def test_member_floors_follow_the_settings() -> None:
    a, heavy = MemberRow("a", 26.0, 0.9, 2.0, ALL_DAY), MemberRow("x", 60.0, 0.9, 2.0, ALL_DAY)
    assert fitting_members([a, heavy], 26.0, ALL_DAY, Settings()) == [a]  # 60 > twice the median
    assert fitting_members([a, heavy], 26.0, ALL_DAY, Settings(link_member_max_volume_ratio=3.0)) == [a, heavy]
    assert fitting_members([a], 26.0, ALL_DAY, Settings(link_member_min_likeness=0.9)) == []
    assert fitting_members([a], 26.0, ALL_DAY, Settings(link_member_min_fit=0.98)) == []  # its fit: 0.975


def test_unknown_age_counts_as_not_young() -> None:
    rows = [MemberRow("a", 26.0, 0.9, UNKNOWN_AGE, ALL_DAY), MemberRow("b", 26.0, 0.9, 2.0, ALL_DAY)]
    assert group_evidence(rows, Settings())["young_share"] == 0.5
    assert member_fit(rows[0], 26.0, ALL_DAY, 14.0) == round((0.9 + 0 + 1 + 1) / 4, 4)


def test_member_fit_by_hand() -> None:
    assert member_fit(MemberRow("a", 26.0, 0.9, 2.0, ALL_DAY), 26.0, ALL_DAY, 14.0) == 0.975
    # an old eval run: 400 requests (> 4x the median: volume term 0), 3 hours of 24
    old_eval = MemberRow("e", 400.0, 0.7, 300.0, 0b111)
    assert member_fit(old_eval, 26.0, ALL_DAY, 14.0) == round((0.7 + 0 + 0 + 3 / 24) / 4, 4)


# --- linking ------------------------------------------------------------------------------
def test_hydra_sharing_a_payment_fingerprint_links() -> None:
    idx = AttributeIndex(Settings())
    names = hydra(idx, 6)
    links, pivots = idx.evaluate(T)
    assert pivots == []
    (v,) = links
    likeness = round((6 * 26 * 0.9 + 2.5) / (6 * 26 + 10), 4)
    assert (v.kind, v.value, v.at, v.accounts, v.linked) == ("payment", "pm_x", T, 6, True)
    assert v.score == round(1.0 * (0.35 * likeness + 0.25 + 0.2 + 0.2), 4) == 0.9513
    assert v.stats == {"likeness": likeness, "young_share": 1.0, "evenness": 1.0, "synchrony": 1.0,
                       "day_requests": 156.0, "sampled": 0.0, "unfit_members": 0.0}
    assert v.members == [MemberRow(a, 26.0, 0.9, 2.0, ALL_DAY) for a in names]
    assert [r.account for r in v.members] == names
    assert idx.evaluate(T) == ([], [])  # nothing touched since


def test_wire_round_trip_of_verdicts() -> None:
    idx = AttributeIndex(Settings())
    hydra(idx, 4)
    (v,), _ = idx.evaluate(T)
    wire = json.loads(json.dumps(v.to_wire()))
    assert wire["members"]["accounts"] == [r.account for r in v.members]  # members as columns
    again = verdict_from_wire(wire)
    assert again == v and isinstance(again, LinkVerdict) and type(again.members[0]) is MemberRow
    wire["members"] = [list(r) for r in v.members]  # the rows as JSON arrays (before the columns)
    assert verdict_from_wire(json.loads(json.dumps(wire))) == v
    decoded = verdict_from_wire(json.loads(json.dumps(v.to_wire())))
    assert isinstance(decoded, LinkVerdict)
    assert all(a is sys.intern(a) for a in decoded.table.accounts)  # one string per account, not per verdict
    p = PivotVerdict("m-new", 4500.0, 5400.0, [Mover("a", 1.0, 0.0, 30.0, 0.8, 2.0)])
    wire = json.loads(json.dumps(p.to_wire()))
    assert wire["movers"] == [["a", 1.0, 0.0, 30.0, 0.8, 2.0]]
    again = verdict_from_wire(wire)
    assert again == p and isinstance(again, PivotVerdict) and type(again.movers[0]) is Mover


@pytest.mark.parametrize(("kind", "weight"), [("user_agent", 0.25), ("asn", 0.2)])
def test_same_hydra_on_a_low_weight_kind_does_not_link(kind: str, weight: float) -> None:
    s = Settings()
    assert s.link_weights[kind] == weight
    idx = AttributeIndex(s)
    hydra(idx, 12, kind=kind, value="v")
    assert idx.evaluate(T) == ([], [])
    assert len(idx) == 0  # a kind weighing less than link_min_score can never link: not indexed


def test_kind_missing_from_weights_is_not_indexed() -> None:
    idx = AttributeIndex(Settings(link_kind_weights="payment=1.0"))
    for i in range(6):
        idx.observe(prof(f"h{i}", T, [("ip", "10.0.0.1", 3), ("payment", "pm_x", 3)]))
    assert set(idx.values) == set()  # routed at the first evaluation at or after T
    links, _ = idx.evaluate(T)
    assert set(idx.values) == {("payment", "pm_x")}
    assert [(v.kind, v.linked) for v in links] == [("payment", True)]


def corporate_nat(idx: AttributeIndex, at: float = T) -> None:
    volumes = [3.0, 5.0, 8.0, 12.0, 20.0, 40.0, 90.0, 400.0]  # heavy-tailed
    for i, day in enumerate(volumes):
        idx.observe(prof(
            f"emp{i}", at, [("ip", "198.51.100.1", 2), ("payment", "pm_corp", 2), ("client", "proxy_fp", 2)],
            day=day, likeness=0.05 + 0.01 * i, age=400.0 + 50 * i, hours=OFFICE if i % 2 else OFFICE >> 1,
        ))


def test_corporate_nat_sharing_ip_and_payment_does_not_link() -> None:
    idx = AttributeIndex(Settings())
    corporate_nat(idx)
    assert idx.evaluate(T) == ([], [])
    assert len(idx) == 3 and idx.members() == 24


def test_fewer_than_min_accounts_do_not_link() -> None:
    idx = AttributeIndex(Settings())
    assert Settings().link_min_accounts == 3
    hydra(idx, 2)
    assert idx.evaluate(T) == ([], [])
    idx4 = AttributeIndex(Settings(link_min_accounts=4))
    hydra(idx4, 3)
    assert idx4.evaluate(T) == ([], [])
    hydra(idx4, 1, prefix="x")
    (v,), _ = idx4.evaluate(T)
    assert (v.accounts, v.linked) == (4, True)


def test_value_that_stops_being_suspicious_unlinks_once() -> None:
    idx = AttributeIndex(Settings())
    names = hydra(idx, 6)
    (v,), _ = idx.evaluate(T)
    assert v.linked
    # the same accounts now look like old, ordinary, uneven office users
    for i, a in enumerate(names):
        idx.observe(prof(a, 2 * T, [("payment", "pm_x", 1)], day=[2, 5, 9, 30, 80, 300][i],
                         likeness=0.05, age=400.0, hours=OFFICE >> (i % 3)))
    (u,), _ = idx.evaluate(2 * T)
    assert (u.kind, u.value, u.linked, u.accounts, u.members) == ("payment", "pm_x", False, 6, [])
    assert u.score < Settings().link_min_score
    for a in names:  # touched again, still not suspicious: no new verdict
        idx.observe(prof(a, 3 * T, [("payment", "pm_x", 1)], day=50.0, likeness=0.05, age=400.0, hours=OFFICE))
    assert idx.evaluate(3 * T) == ([], [])


def test_value_that_falls_below_min_accounts_unlinks_once() -> None:
    idx = AttributeIndex(Settings(link_ttl_s=1800.0))
    hydra(idx, 3)
    (v,), _ = idx.evaluate(T)
    assert v.linked
    hydra(idx, 1, at=4 * T, prefix="late")  # the three originals expire (last seen 900 < 3600 - 1800)
    (u,), _ = idx.evaluate(4 * T)
    assert (u.linked, u.accounts, u.score, u.members) == (False, 1, 0.0, [])
    hydra(idx, 1, at=5 * T, prefix="later")
    assert idx.evaluate(5 * T) == ([], [])


def _h(account: str) -> int:
    return xxhash.xxh3_64_intdigest(account.encode())


def test_member_cap_sampling_bounds_members_and_scales_accounts() -> None:
    cap = 8
    idx = AttributeIndex(Settings(link_member_cap=cap))
    names = hydra(idx, 40)
    (v,), _ = idx.evaluate(T)
    vs = idx.values[("payment", "pm_x")]
    assert vs.level >= 1
    assert len(vs) <= cap
    mask = (1 << vs.level) - 1
    assert set(vs.accounts) == {a for a in names if _h(a) & mask == 0}  # hash sampling, deterministic
    assert idx.dropped > 0
    assert v.accounts == len(vs) << vs.level
    assert 40 / 4 <= v.accounts <= 40 * 4
    assert v.stats["sampled"] == 1.0
    assert v.stats["day_requests"] == round(26.0 * len(vs) * (v.accounts / len(vs)), 1)
    assert sorted(r[0] for r in v.members) == sorted(vs.accounts)
    # many more accounts: still bounded
    hydra(idx, 400, prefix="more")
    idx.evaluate(T)
    assert len(idx.values[("payment", "pm_x")]) <= cap


def test_members_expire_after_ttl() -> None:
    ttl = 3600.0
    idx = AttributeIndex(Settings(link_ttl_s=ttl))
    hydra(idx, 3, at=T, prefix="old")
    hydra(idx, 3, at=T + ttl, prefix="mid")
    (v,), _ = idx.evaluate(T + ttl)  # horizon = T: last seen exactly at the horizon is kept
    assert v.accounts == 6
    hydra(idx, 3, at=T + ttl + 900, prefix="new")
    (v,), _ = idx.evaluate(T + ttl + 900)
    assert v.accounts == 6
    assert [r[0] for r in v.members] == ["mid0", "mid1", "mid2", "new0", "new1", "new2"]
    # expire() drops values whose members all went quiet, keeps the others
    hydra(idx, 3, at=T, kind="ip", value="10.9.9.9", prefix="q")
    idx.evaluate(T)  # routes the late profiles
    assert len(idx) == 2
    assert idx.expire(T + ttl + 901) == 1
    assert set(idx.values) == {("payment", "pm_x")}
    assert idx.expire(T + 2 * ttl + 901) == 1
    assert len(idx) == 0


def test_member_fit_excludes_an_eval_run_from_a_hydra_link() -> None:
    idx = AttributeIndex(Settings())
    names = hydra(idx, 6)
    idx.observe(prof("eval", T, [("payment", "pm_x", 3)], day=400.0, likeness=0.7, age=300.0, hours=0b111))
    (v,), _ = idx.evaluate(T)
    assert v.linked and v.accounts == 7
    assert [r[0] for r in v.members] == names
    assert v.stats["unfit_members"] == 1.0
    assert v.stats["young_share"] == round(6 / 7, 4)


# --- model-release pivots -----------------------------------------------------------------
PIVOT = Settings(pivot_window_s=7200.0, pivot_min_requests=5.0, pivot_min_share=0.5)


def _started(idx: AttributeIndex) -> None:
    for a in ("o1", "o2", "o3"):
        idx.observe(prof(a, T, [("model", "m-old", 10)], requests=10))
    assert idx.evaluate(T) == ([], [])  # present from the start: no pivot, and models never link


def test_pivot_movers_of_a_model_released_an_hour_after_start() -> None:
    idx = AttributeIndex(PIVOT)
    _started(idx)
    release = T + PIVOT.pivot_new_model_after_s
    idx.observe(prof("m1", release, [("model", "m-new", 10)], requests=10, likeness=0.8))  # all on it
    idx.observe(prof("m2", release, [("model", "m-new", 5), ("model", "m-old", 15)], requests=20))  # 25 %
    idx.observe(prof("m3", release, [("model", "m-new", 3)], requests=3))  # too few requests
    idx.observe(prof("m4", release + 900, [("model", "m-new", 6), ("model", "m-old", 4)], requests=10,
                     likeness=0.6))  # 60 %
    links, (p,) = idx.evaluate(release + 900)
    assert links == []
    assert (p.model, p.released_at, p.at) == ("m-new", release, release + 900)
    assert p.movers == [Mover("m1", 1.0, 0.0, 10.0, 0.8, 1.0), Mover("m4", 0.6, 900.0, 6.0, 0.6, 1.0)]
    # m1 speeds up: day requests 26 -> 78
    idx.observe(prof("m1", release + 1800, [("model", "m-new", 10)], requests=10, day=78.0, likeness=0.8))
    # a late adopter, past the pivot window
    idx.observe(prof("late", release + 7200 + 900, [("model", "m-new", 10)], requests=10))
    _, (p,) = idx.evaluate(release + 7200 + 900)
    assert p.movers == [Mover("m1", 1.0, 0.0, 20.0, 0.8, 3.0), Mover("m4", 0.6, 900.0, 6.0, 0.6, 1.0)]


def test_model_first_seen_within_the_first_hour_is_no_release() -> None:
    idx = AttributeIndex(PIVOT)
    _started(idx)
    early = T + PIVOT.pivot_new_model_after_s - 900
    idx.observe(prof("m1", early, [("model", "m-early", 10)], requests=10))
    assert idx.evaluate(early) == ([], [])
    # and the old model stays no release, whoever moves to it later
    idx.observe(prof("m9", T + 3 * PIVOT.pivot_new_model_after_s, [("model", "m-old", 10)], requests=10))
    assert idx.evaluate(T + 3 * PIVOT.pivot_new_model_after_s) == ([], [])


def test_the_release_delay_follows_the_settings() -> None:
    soon = Settings(pivot_window_s=7200.0, pivot_min_requests=5.0, pivot_min_share=0.5, pivot_new_model_after_s=900.0)
    idx = AttributeIndex(soon)
    _started(idx)
    idx.observe(prof("m1", T + 900.0, [("model", "m-new", 10)], requests=10))
    _, (p,) = idx.evaluate(T + 900.0)  # an hour by default: no release yet
    assert p.model == "m-new" and [m.account for m in p.movers] == ["m1"]


def test_hydra_of_unknown_age_on_payment_links_on_the_other_terms() -> None:
    idx = AttributeIndex(Settings())
    for i in range(6):
        idx.observe(prof(f"h{i}", T, [("payment", "pm_x", 3)], age=UNKNOWN_AGE))
    (v,), _ = idx.evaluate(T)
    assert v.stats["young_share"] == 0.0
    assert v.score == round(0.35 * v.stats["likeness"] + 0.2 + 0.2, 4) and v.linked
    # not young, so each member's fit is (0.9 + 0 + 1 + 1) / 4 = 0.725 >= 0.5: all kept
    assert len(v.members) == 6


def test_hydra_on_a_model_value_never_links() -> None:
    idx = AttributeIndex(Settings())
    hydra(idx, 8, kind="model", value="m")
    assert idx.evaluate(T) == ([], [])


def test_model_present_from_the_start_stays_no_release_after_a_quiet_spell() -> None:
    ttl = 3600.0
    idx = AttributeIndex(Settings(link_ttl_s=ttl, pivot_window_s=7200.0, pivot_min_requests=5.0))
    _started(idx)
    idx.observe(prof("busy", T + ttl, [("model", "m-other", 10)], requests=10))  # the stream goes on
    idx.evaluate(T + ttl)
    idx.expire(T + ttl + 900)  # m-old has had no traffic for longer than the ttl: dropped
    back = T + ttl + 1800
    idx.observe(prof("o1", back, [("model", "m-old", 10)], requests=10))
    assert idx.evaluate(back) == ([], [])


# --- checkpoints --------------------------------------------------------------------------
def _filled() -> AttributeIndex:
    idx = AttributeIndex(Settings())
    hydra(idx, 7)
    for i in range(3):
        idx.observe(prof(f"m{i}", T, [("model", "m-new", 5), ("ip", "10.0.0.9", 5)], requests=8,
                         day=40.0 + i, age=UNKNOWN_AGE, hours=OFFICE))
    idx.evaluate(T)
    hydra(idx, 3, at=2 * T, prefix="late")  # members joined after a judgement
    return idx


def test_export_load_round_trip_gives_the_same_judgements() -> None:
    idx = _filled()
    data = json.loads(json.dumps(idx.export()))  # what a checkpoint holds
    again = AttributeIndex(Settings())
    again.load(data)
    assert again.export() == idx.export()
    assert again.members() == idx.members() == 7 + 3 + 3  # (the late ones wait in pending)
    assert again.evaluate(2 * T) == idx.evaluate(2 * T)


def test_load_reads_the_format_with_one_list_per_member() -> None:
    idx = _filled()
    new = idx.export()
    old = dict(new)  # the version before the columns: [account, 9 fields] per member, pivot fields on all
    old["values"] = []
    for kind, value, first_seen, level, linked, judged_at, accounts, _cols in new["values"]:
        vs = idx.values[(kind, value)]
        rows = []
        for a in accounts:
            i = vs.rows[a] * vs.stride
            fields = list(vs.cols[i:i + vs.stride]) + [0.0] * (9 - vs.stride)
            fields[3] = int(fields[3])  # hours were an int
            rows.append([a, *fields])
        old["values"].append([kind, value, first_seen, level, linked, judged_at, rows])
    again = AttributeIndex(Settings())
    again.load(json.loads(json.dumps(old)))
    assert again.export() == new


def test_load_refuses_columns_that_do_not_fit_the_members() -> None:
    data = _filled().export()
    kind, value, first_seen, level, linked, judged_at, accounts, cols = data["values"][0]
    data["values"][0] = [kind, value, first_seen, level, linked, judged_at, accounts + ["extra"], cols]
    with pytest.raises(ValueError, match="fields"):
        AttributeIndex(Settings()).load(data)


def test_a_whole_checkpoint_and_the_changes_after_it_restore_the_index_at_every_step() -> None:
    # hydra accounts joining and leaving values over intervals, a member cap that thins
    # (hash sampling), values that expire (deleted), model pivots, judgements (judged_at,
    # linked flips): the whole index once, then only its changes; at every step, a fresh
    # index from the whole one plus the changes so far equals the live one, and judges alike
    # (big values are judged at most every 2 intervals: judged later than they changed)
    s = Settings(link_member_cap=12, link_ttl_s=3 * T, link_big_value_members=5, link_big_value_every_s=2 * T)
    idx = AttributeIndex(s)
    base = json.loads(json.dumps(idx.checkpoint_data(changes=False)))
    deltas: list[dict[str, Any]] = []
    sizes = []
    for k in range(1, 9):
        at = k * T
        for i in range(3 * k if k < 6 else 2):
            idx.observe(prof(f"a{k}-{i}", at, [("payment", f"pm_{i % 3}", 3), ("ip", "10.0.0.1", 3),
                                               ("model", "m-new" if k > 2 else "m", 3)]))
        if k % 2:
            idx.observe(prof(f"nat{k}", at, [("ip", "10.9.9.9", 1)], age=400.0, hours=OFFICE))
        idx.evaluate(at)
        if k % 3 == 0:
            idx.evaluate(at + T / 2)  # the deferred big values, with nothing new routed
        idx.expire(at)
        deltas.append(json.loads(json.dumps(idx.checkpoint_data(changes=True))))
        sizes.append(len(deltas[-1]["values"]))
        again = AttributeIndex(s)
        again.load(base)
        for d in deltas:
            again.apply_changes(d)
        assert again.export() == idx.export(), f"after interval {k}"
        assert again.changed == set()
    assert idx.dropped > 0 and any(d["deleted"] for d in deltas), "thinning and expiry should have happened"
    assert sizes[-1] < len(idx.values), "a pass of changes holds only the changes"
    assert again.evaluate(9 * T) == idx.evaluate(9 * T)


def test_values_left_alone_are_not_in_the_next_pass_of_changes() -> None:
    idx = _filled()
    idx.checkpoint_data(changes=False)
    idx.observe(prof("solo", 2 * T, [("payment", "pm_solo", 1)]))
    idx.evaluate(2 * T)
    changes = idx.export_changes()
    assert {(v[0], v[1]) for v in changes["values"]} == {("payment", "pm_solo"), ("payment", "pm_x")}
    assert idx.export_changes()["values"] == []  # nothing since


def test_member_table_reads_like_the_list_of_rows_it_holds() -> None:
    rows = [MemberRow(f"a{i}", 26.0 + i, 0.9, 2.0, ALL_DAY >> i) for i in range(5)]
    t = MemberTable(rows)
    assert list(t) == rows and t == rows and t == tuple(rows) and t == MemberTable(rows)
    assert t[-1] == rows[-1] and t[1:4] == rows[1:4] and t[::-2] == rows[::-2]
    assert type(t[0].hours) is int and t != rows[:4] and t != MemberTable(rows[:4])
    with pytest.raises(IndexError):
        t[5]
    with pytest.raises(TypeError):
        hash(t)
    v = LinkVerdict("payment", "pm_x", T, 5, 0.9, True, {}, rows)  # a list is stored as a table
    assert isinstance(v.members, MemberTable) and v.members == rows


@pytest.mark.parametrize("damage", [
    {"accounts": ["a", "b"]},  # two accounts, one row of fields
    {"cols": "not base64!"},
    {"accounts": ["a", 7]},
    {"accounts": "ab"},
    {"cols": base64.b64encode(array("d", [float("nan"), 0.9, 2.0, 7.0]).tobytes()).decode()},
    {"cols": base64.b64encode(b"\x00" * 31).decode()},  # not a whole number of doubles
])
def test_member_table_from_wire_refuses_columns_that_do_not_fit(damage: dict[str, Any]) -> None:
    wire = MemberTable([MemberRow("a", 26.0, 0.9, 2.0, 7)]).to_wire()
    with pytest.raises((ValueError, TypeError)):
        MemberTable.from_wire({**wire, **damage})


@given(st.lists(st.integers(0, (1 << 24) - 1), min_size=1, max_size=8), st.lists(st.integers(0, 7), max_size=300))
@hyp_settings(max_examples=300, deadline=None)
def test_majority_mask_is_the_bits_set_in_at_least_half_of_the_masks(patterns: list[int], picks: list[int]) -> None:
    # (the bit-sliced counter against a plain count per bit, on masks repeating a few patterns)
    masks = [patterns[i % len(patterns)] for i in picks] or patterns
    expected = sum(1 << b for b in range(24) if 2 * sum(m >> b & 1 for m in masks) >= len(masks))
    assert majority_mask(masks) == majority_mask_python(masks) == expected


_MEMBER = st.tuples(
    st.one_of(st.sampled_from([0.0, 0.5, 1.0, 26.0, 27.0, 53.0, 60.0, 400.0]),
              st.floats(0.0, 5000.0, allow_nan=False)),  # day requests
    st.one_of(st.sampled_from([0.0, 0.1, 0.58, 0.7, 0.9, 1.0]), st.floats(0.0, 1.0)),  # likeness
    st.sampled_from([UNKNOWN_AGE, 0.0, 0.5, 13.999, 14.0, 300.0]),  # age days (young below 14)
    st.one_of(st.sampled_from([0, 1, 0b111, OFFICE, ALL_DAY]), st.integers(0, ALL_DAY)),  # hours
)


@given(st.lists(_MEMBER, max_size=40), st.sampled_from([1.0, 26.0, 60.0]), st.integers(0, ALL_DAY),
       st.sampled_from([0.3, 0.5, 0.7]), st.sampled_from([Settings(), Settings(link_member_max_volume_ratio=3.0)]))
@hyp_settings(max_examples=400, deadline=None)
def test_fitting_table_keeps_what_fitting_members_keeps(
    members: list[tuple[float, float, float, int]], median: float, major: int, floor: float, s: Settings,
) -> None:
    # the compiled kernel (when built) reads a value's columns at the rows' offsets, in the
    # order given; it must keep exactly the members the row-wise reference keeps
    rows = [MemberRow(f"a{i:02d}", day, likeness, age, hours) for i, (day, likeness, age, hours) in enumerate(members)]
    table = MemberTable(reversed(rows))  # rows stored in another order than judged
    order = [(r.account, 4 * (len(rows) - 1 - i)) for i, r in enumerate(rows)]
    expected = MemberTable(fitting_members(rows, median, major, s, floor))
    assert fitting_table(order, table.cols, median, major, s, floor) == expected
    was = native()
    native(False)
    try:
        assert fitting_table(order, table.cols, median, major, s, floor) == expected
    finally:
        native(was)


@pytest.mark.skipif(text_kernel() is None, reason="the compiled extension is not built")
def test_the_member_kernels_are_built_and_used() -> None:
    # (else the parity tests above compare the reference with itself)
    from stream_guard._native import fitting_rows
    from stream_guard._native import majority_mask as compiled_majority

    t = MemberTable([MemberRow("a", 26.0, 0.9, 2.0, ALL_DAY), MemberRow("e", 400.0, 0.7, 300.0, 0b111)])
    fit, packed = fitting_rows(t.cols, [0, 4], 26.0, ALL_DAY, 0.5, 0.5, 0.5, 14.0, 10.0, 0.2, math.log(4.0))
    assert fit == [0] and array("d", packed) == t.cols[:4]
    assert compiled_majority([0b011, 0b010, 0b110], 24) == 0b010
    with pytest.raises(ValueError, match="hours"):  # the caller falls back to the reference
        fitting_rows(array("d", [26.0, 0.9, 2.0, 0.5]), [0], 26.0, ALL_DAY, 0.5, 0.5, 0.5, 14.0, 10.0, 0.2, 1.4)
    with pytest.raises(ValueError, match="offset"):
        fitting_rows(t.cols, [5], 26.0, ALL_DAY, 0.5, 0.5, 0.5, 14.0, 10.0, 0.2, 1.4)


@pytest.mark.parametrize("median", [1.0, 26.0, 60.0])
@pytest.mark.parametrize("major", [ALL_DAY, OFFICE, 1, 0])
@pytest.mark.parametrize("floor", [0.3, 0.5, 0.7])
def test_fitting_table_on_a_grid_of_members(median: float, major: int, floor: float) -> None:
    # every combination of values at and around the cut-offs (youth at 0 and 14 days, unknown
    # age, volumes at and beyond the median's ratio, likeness around the floors and a fit
    # within the rounding of the 0.5 cut-off, hours)
    grid = itertools.product([0.0, 0.5, 1.0, 26.0, 27.0, 53.0, 60.0, 400.0],  # day requests
                             [0.0, 0.1, 0.3, 0.5, 0.55, 0.58, 0.7, 0.9, 0.9999, 1.0],  # likeness
                             [UNKNOWN_AGE, 0.0, 0.5, 13.999, 14.0, 300.0], [0, 1, 0b111, OFFICE, ALL_DAY])
    rows = [MemberRow(f"a{i:04d}", day, likeness, age, hours) for i, (day, likeness, age, hours) in enumerate(grid)]
    order = [(r.account, 4 * i) for i, r in enumerate(rows)]
    got = fitting_table(order, MemberTable(rows).cols, median, major, Settings(), floor)
    assert got == MemberTable(fitting_members(rows, median, major, Settings(), floor))


def test_index_changes_are_counted_only_from_the_first_whole_pass_on() -> None:
    idx = _filled()  # judged and routed, no checkpoint pass asked for yet
    assert len(idx.changed) == 0
    with pytest.raises(RuntimeError, match="whole"):
        idx.export_changes()
    idx.checkpoint_data(changes=False)
    idx.observe(prof("solo", 2 * T, [("payment", "pm_solo", 1)]))
    idx.evaluate(2 * T)
    assert ("payment", "pm_solo") in idx.changed
