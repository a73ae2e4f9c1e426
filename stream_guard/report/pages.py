"""Case pages as files: their names, their URLs, and writing them.

A subject's page is ``<name>.html``, where the name is the subject id itself when that is
a plain file name (letters, digits, ``.``, ``_``, ``-``, not starting with a dot, at most
100 characters, not ``index``), else a sanitised stem plus 12 hex digits of the id's
SHA-256: an id holding ``/``, ``..`` or anything else never leaves the output folder
and two ids never share a page. Served under a URL base (the ``report_url_base`` setting),
the page is at ``<base>/<name>.html`` and the index of an ``--all`` run at
``<base>/index.html``.

>>> page_name("acct-1"), page_name("cluster-b2887c197f784743")
('acct-1.html', 'cluster-b2887c197f784743.html')
>>> page_name("../etc/passwd"), page_name("index")
('etc_passwd-7fef78f53440.html', 'index-1bc04b5291c2.html')
>>> page_url("https://cases.example/sg/", "acct 1.html"), page_url("", "acct-1.html")
('https://cases.example/sg/acct%201.html', 'acct-1.html')
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from stream_guard.report.activity import Activity, scan_events
from stream_guard.report.case import AlertIndex, Subject, build_case
from stream_guard.report.load import ReportError, read_alerts, read_verdicts
from stream_guard.report.render import IndexEntry, index_entry, render_case, render_index

__all__ = ["INDEX", "ReportRequest", "ReportResult", "WrittenPage", "page_name", "page_names", "page_url",
           "write_report"]

#: File name of the index page (``--all``).
INDEX = "index.html"
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def page_name(subject_id: str) -> str:
    """The file name of a subject's page (see the module's description)."""
    if _PLAIN.fullmatch(subject_id) and subject_id.lower() != "index":
        return subject_id + ".html"
    stem = _UNSAFE.sub("_", subject_id).strip("._-")[:80] or "subject"
    return f"{stem}-{_digest(subject_id)}.html"


def page_names(subjects: Iterable[Subject]) -> dict[Subject, str]:
    """A distinct file name per subject, the same whichever pages are written: an account
    and a cluster with one id, or ids differing only in case (one file on a case-blind
    file system), give the later subject (in sorted order) a name with its digest.

    >>> names = page_names([Subject("x", "cluster"), Subject("x", "account"), Subject("X", "account")])
    >>> names[Subject("X", "account")], names[Subject("x", "account")], names[Subject("x", "cluster")]
    ('X.html', 'x-eef9390b785e.html', 'x-d49a6fb5d972.html')
    """
    out: dict[Subject, str] = {}
    taken: set[str] = set()
    for s in sorted(set(subjects)):
        name = page_name(s.id)
        if name.lower() in taken:
            name = f"{name.removesuffix('.html')}-{_digest(s.kind + ':' + s.id)}.html"
        taken.add(name.lower())
        out[s] = name
    return out


def page_url(base: str, name: str) -> str:
    """URL of the page file ``name`` under ``base`` (empty: a relative link)."""
    return f"{base.rstrip('/')}/{quote(name)}" if base else quote(name)


@dataclass(frozen=True)
class ReportRequest:
    """What ``stream-guard report`` was asked: the inputs, whose case (``None``: every
    subject with alerts), and where to write (``out`` a file, or ``out_dir``)."""

    alerts: Path
    subject: Subject | None
    now: float
    events: Path | None = None
    verdicts: Path | None = None
    out: Path | None = None
    out_dir: Path | None = None
    url_base: str = ""
    link_kinds: Collection[str] = ()  # attribute kinds shown from the events (the linking ones)
    hash_key: bytes = b""  # the link_hash_key setting: pseudonyms as in the alerts


@dataclass(frozen=True)
class WrittenPage:
    """A page written: whose (``None``: the index), where, and its URL under the base."""

    subject: Subject | None
    path: Path
    url: str | None


@dataclass(frozen=True)
class ReportResult:
    pages: tuple[WrittenPage, ...]
    notes: tuple[str, ...]  # lines skipped in the inputs, in short


def _write(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a page being served is never half-written)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportError(f"{path}: cannot write it ({exc.strerror or exc})") from None


def _target(req: ReportRequest, name: str) -> Path:
    if req.out is not None:
        if req.out.is_dir():
            raise ReportError(f"--out {req.out}: is a directory (use --out-dir)")
        return req.out
    folder = req.out_dir if req.out_dir is not None else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"{folder}: cannot create it ({exc.strerror or exc})") from None
    path = folder / name
    if path.resolve().parent != folder.resolve():  # page_name makes none such: a guard, not a path taken
        raise ReportError(f"page name {name!r} leaves {folder}")
    return path


def write_report(req: ReportRequest) -> ReportResult:
    """Read the inputs once, write the case page(s) (and with ``subject=None`` the index);
    a subject without alerts, or an input that cannot be read, is a :class:`ReportError`."""
    if req.subject is None and req.out is not None:
        raise ReportError("every subject's page needs a folder (--out-dir), not one --out file")
    alerts = read_alerts(req.alerts)
    index = AlertIndex(alerts.records)
    if not alerts.records:
        raise ReportError(f"no valid alert in {req.alerts} ({alerts.skipped.count} lines skipped: "
                          f"{'; '.join(alerts.skipped.examples) or 'empty file'})")
    subjects = [req.subject] if req.subject is not None else index.subjects
    if req.subject is not None and not index.case_alerts(req.subject):
        raise ReportError(index.no_alert_message(req.subject, str(req.alerts)))
    verdicts = read_verdicts(req.verdicts) if req.verdicts is not None else None
    activity: Activity | None = None
    if req.events is not None:
        accounts: set[str] = set()
        for s in subjects:
            accounts |= index.accounts(s)
        activity = scan_events(req.events, accounts, kinds=set(req.link_kinds), hash_key=req.hash_key)
    names = page_names(index.subjects + subjects)
    every = req.subject is None
    with_pages = set(index.subjects)

    def link_for(s: Subject) -> str | None:
        return page_url(req.url_base, names[s]) if s in with_pages else None

    index_url = page_url(req.url_base, INDEX) if every or req.url_base else None
    written: list[WrittenPage] = []
    entries: list[IndexEntry] = []
    for subject in subjects:
        case = build_case(subject, index, alerts, activity=activity, verdicts=verdicts, now=req.now)
        path = _target(req, names[subject])
        _write(path, render_case(case, link_for=link_for, index_url=index_url))
        written.append(WrittenPage(subject, path, page_url(req.url_base, names[subject]) if req.url_base else None))
        entries.append(index_entry(case, page_url("", names[subject])))
    if every:
        path = _target(req, INDEX)
        _write(path, render_index(entries, generated_at=req.now, skipped_lines=alerts.skipped.count))
        written.append(WrittenPage(None, path, index_url if req.url_base else None))
    notes = [f"{what} {loaded.path}: lines skipped: {loaded.skipped.count:,} (first: {loaded.skipped.examples[0]})"
             for what, loaded in (("alerts", alerts), ("verdicts", verdicts), ("events", activity))
             if loaded is not None and loaded.skipped.count]
    return ReportResult(tuple(written), tuple(notes))
