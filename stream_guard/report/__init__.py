"""The case view: ``stream-guard report`` renders a static HTML page for an account or a
cluster from the alerts (and optionally the events and the analysts' verdicts).

``load`` reads the inputs (tolerantly: bad lines are counted, not fatal), ``activity``
scans an events file, ``case`` builds the typed :class:`Case`, ``timeline`` draws its
inline SVG, ``render`` writes the HTML, ``pages`` names the files and writes them.
"""

from stream_guard.report.case import AlertIndex, Case, Subject, build_case
from stream_guard.report.load import ReportError, read_alerts, read_verdicts
from stream_guard.report.pages import ReportRequest, page_name, write_report
from stream_guard.report.render import render_case, render_index

__all__ = [
    "AlertIndex",
    "Case",
    "ReportError",
    "ReportRequest",
    "Subject",
    "build_case",
    "page_name",
    "read_alerts",
    "read_verdicts",
    "render_case",
    "render_index",
    "write_report",
]
