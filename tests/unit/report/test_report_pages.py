"""stream_guard.report.pages and ``stream-guard report``: safe file names, the pages written,
the URLs, the command's exit codes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from report_helpers import CLUSTER_ID, MEMBERS, PROMPT, T0, alert, scenario, write_jsonl
from stream_guard.cli import main
from stream_guard.report import ReportError, ReportRequest, Subject, page_name, write_report
from stream_guard.report.pages import INDEX, page_names


@given(st.text(min_size=1, max_size=300))
def test_a_page_name_is_one_plain_file_name(subject: str) -> None:
    name = page_name(subject)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.html", name), name
    assert len(name.encode()) <= 120 and name != INDEX


@given(st.lists(st.text(min_size=1, max_size=40), min_size=2, max_size=8, unique=True))
def test_distinct_subjects_get_distinct_names_even_on_a_case_blind_file_system(ids: list[str]) -> None:
    names = page_names(Subject(i, k) for i in ids for k in ("account", "cluster"))
    assert len({n.lower() for n in names.values()}) == len(names)


@pytest.mark.parametrize("subject", ["../../etc/passwd", "a/b", "..", ".hidden", "index", "C:\\x", "a" * 300, "é"])
def test_hostile_subject_ids_stay_in_the_folder(tmp_path, subject) -> None:
    alerts = write_jsonl(tmp_path / "alerts.jsonl", [alert(subject, T0)])
    out = tmp_path / "site"
    result = write_report(ReportRequest(alerts, Subject(subject, "account"), T0, out_dir=out))
    (page,) = result.pages
    assert page.path.parent == out and page.path.exists() and page.path.name == page_name(subject)
    assert sorted(p.name for p in tmp_path.rglob("*.html")) == [page.path.name]


def test_every_subject_and_the_index_with_urls_under_the_base(tmp_path) -> None:
    paths = scenario(tmp_path)
    out = tmp_path / "site"
    result = write_report(ReportRequest(paths["alerts"], None, T0, events=paths["events"], verdicts=paths["verdicts"],
                                        out_dir=out, url_base="https://cases.example/sg/", link_kinds={"payment"}))
    names = sorted(p.path.name for p in result.pages)
    assert names == sorted([f"{CLUSTER_ID}.html", "acct-1.html", f"{MEMBERS[0]}.html", INDEX])
    assert {p.url for p in result.pages} == {f"https://cases.example/sg/{n}" for n in names}
    cluster_page = (out / f"{CLUSTER_ID}.html").read_text()
    assert f'href="https://cases.example/sg/{MEMBERS[0]}.html"' in cluster_page  # a member with a page
    assert f'href="https://cases.example/sg/{MEMBERS[1]}.html"' not in cluster_page  # one without
    assert 'href="https://cases.example/sg/index.html"' in cluster_page
    assert f'href="{CLUSTER_ID}.html"' in (out / INDEX).read_text()  # the index links relatively
    assert result.notes == (f"alerts {paths['alerts']}: lines skipped: 2 (first: line 7: not JSON)",
                            f"verdicts {paths['verdicts']}: lines skipped: 1 (first: line 4: not a verdict "
                            "(needs a non-empty subject and verdict))")
    assert not any(PROMPT in p.read_text() for p in out.iterdir())


def test_one_page_to_a_file_has_no_index_link_without_a_base(tmp_path) -> None:
    paths = scenario(tmp_path)
    out = tmp_path / "case.html"
    (page,) = write_report(ReportRequest(paths["alerts"], Subject("acct-1", "account"), T0, out=out)).pages
    assert page.path == out and page.url is None and "all cases" not in out.read_text()
    assert not list(tmp_path.glob(".*.tmp"))


def test_errors(tmp_path) -> None:
    paths = scenario(tmp_path)
    with pytest.raises(ReportError, match="no alert on account 'nobody'"):
        write_report(ReportRequest(paths["alerts"], Subject("nobody", "account"), T0, out_dir=tmp_path))
    with pytest.raises(ReportError, match="is a directory"):
        write_report(ReportRequest(paths["alerts"], Subject("acct-1", "account"), T0, out=tmp_path))
    with pytest.raises(ReportError, match="needs a folder"):
        write_report(ReportRequest(paths["alerts"], None, T0, out=tmp_path / "x.html"))
    empty = write_jsonl(tmp_path / "empty.jsonl", ["{"])
    with pytest.raises(ReportError, match=r"no valid alert in .*line 1: not JSON"):
        write_report(ReportRequest(empty, None, T0, out_dir=tmp_path))


def test_the_command(tmp_path, capsys, monkeypatch) -> None:
    paths = scenario(tmp_path)
    monkeypatch.setenv("STREAM_GUARD_REPORT_URL_BASE", "https://cases.example")
    out = tmp_path / "site"
    rc = main(["report", "--alerts", str(paths["alerts"]), "--cluster", CLUSTER_ID, "--events", str(paths["events"]),
               "--verdicts", str(paths["verdicts"]), "--out-dir", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out == (f"wrote {out / CLUSTER_ID}.html (served as https://cases.example/{CLUSTER_ID}.html)\n")
    assert "lines skipped: 2" in captured.err
    rc = main(["report", "--alerts", str(paths["alerts"]), "--account", "acct-1", "--url-base", "",
               "--out", str(tmp_path / "a.html")])
    assert rc == 0 and capsys.readouterr().out == f"wrote {tmp_path / 'a.html'}\n"


@pytest.mark.parametrize("args,message", [
    (["--account", "acct-x"], "error: no alert on account 'acct-x'"),
    (["--all"], "error: --all writes one page per subject: give --out-dir DIR"),
])
def test_the_command_fails_clearly(tmp_path, capsys, args, message) -> None:
    paths = scenario(tmp_path)
    assert main(["report", "--alerts", str(paths["alerts"]), *args]) == 2
    assert message in capsys.readouterr().err


def test_the_command_needs_one_subject(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", "--alerts", "a.jsonl", "--account", "a", "--cluster", "c"])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
