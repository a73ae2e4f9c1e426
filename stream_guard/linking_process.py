"""The cross-account stages in a second process, pipelined with the detectors (``replay``).

``replay`` drives one :class:`~stream_guard.core.flow.Flow`. With :class:`InProcessLinking`
the attribute index and cluster book run between two steps of the detectors, on the same
core. :class:`LinkingProcess` is a :class:`~stream_guard.core.flow.ProfileTransport` that
hands each step's closed profiles to a child process running the same
:class:`~stream_guard.core.linking.LinkingPipeline`, and returns at once: while the child
judges step ``k``, the detectors already work on step ``k + 1``, on the machine's second
core. The child gets the same calls in the same order as the in-process pipeline would, so
it raises the same cross-account alerts; :meth:`LinkingProcess.results` gives them back step
by step, in order, and the caller puts each step's per-account alerts before them, as
:meth:`~stream_guard.core.flow.Flow.advance` does in process. A replay therefore writes the
same alerts in the same order either way (``tests/unit/test_linking_process.py``).

At most ``max_steps`` steps are in flight: the caller waits for the oldest when the child
falls behind, so memory stays bounded. A child that fails or dies is reported as a
:class:`LinkingProcessError` with its reason, never as missing alerts.

>>> from stream_guard.settings import Settings
>>> from stream_guard.core.linking.profile import AccountProfile
>>> s = Settings()
>>> link = LinkingProcess(s)
>>> profiles = [AccountProfile(f"a{i}", 900.0, 3, [("payment", "pm_x", 3)], 26.0, 0.9, 2.0, 0xFFFFFF)
...             for i in range(8)]
>>> link.deliver(profiles, 900.0)   # judged in the child
[]
>>> [[(a["kind"], a["account_count"]) for a in alerts][:1] for alerts in link.results(wait_all=True)]
[[('cluster', 8)]]
>>> link.close().clusters
1
"""

from __future__ import annotations

import multiprocessing.queues
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from stream_guard.core.alerts import Alert
from stream_guard.core.flow import InProcessLinking
from stream_guard.core.linking import LinkingPipeline
from stream_guard.core.linking.profile import AccountProfile
from stream_guard.settings import Settings
from stream_guard.subprocesses import Child, ChildFailed, context, peak_rss_bytes, send_failure

__all__ = ["LinkingProcess", "LinkingProcessError", "LinkingSummary"]

class LinkingProcessError(ChildFailed):
    """The child process running the cross-account stages failed or died."""


@dataclass(frozen=True, slots=True)
class LinkingSummary:
    """The cross-account state at the end of a replay (what ``replay`` reports of it)."""

    values: int  # attribute values held
    memberships: int
    sampled_out: int  # members dropped by hash sampling
    links: int  # values linking their members
    clusters: int  # clusters of at least cluster_min_accounts accounts
    clustered_accounts: int  # accounts in them
    peak_rss_bytes: int = 0  # the linking process's own peak RSS (0: it ran in process)

    @classmethod
    def of(cls, pipeline: LinkingPipeline, settings: Settings, peak_rss_bytes: int = 0) -> LinkingSummary:
        """The summary of a pipeline (and the peak RSS of the process it ran in, if its own)."""
        idx, book = pipeline.index, pipeline.book
        big = [c for c in book.clusters if len(c.members) >= settings.cluster_min_accounts]
        return cls(len(idx), idx.members(), idx.dropped, len(book.links), len(big), sum(len(c.members) for c in big),
                   peak_rss_bytes)


def _serve(settings: Settings, requests: Any, results: Any) -> None:
    """The child: deliver each request to an in-process pipeline, answer with its alerts."""
    try:
        linking = InProcessLinking(settings)
        while True:
            request = requests.get()
            if request is None:
                results.put(("done", LinkingSummary.of(linking.pipeline, settings, peak_rss_bytes())))
                return
            profiles, through = request
            results.put(("alerts", linking.deliver(profiles, through)))
    except BaseException as exc:  # reported to the parent, which raises it; and re-raised here
        send_failure(results, exc)
        raise


class LinkingProcess:
    """The cross-account stages in a child process (see the module docstring)."""

    def __init__(self, settings: Settings, *, max_steps: int = 16) -> None:
        ctx = context()
        self._requests: multiprocessing.queues.Queue[tuple[list[AccountProfile], float] | None] = ctx.Queue()
        answers: multiprocessing.queues.Queue[tuple[str, Any]] = ctx.Queue()
        self._child = Child(_serve, (settings, self._requests, answers), answers, name="stream-guard-linking",
                            what="cross-account process", error=LinkingProcessError)
        self.max_steps = max_steps
        self.in_flight = 0  # steps delivered whose alerts have not been taken yet
        self.summary: LinkingSummary | None = None

    def deliver(self, profiles: list[AccountProfile], through: float) -> list[Alert]:
        """Send a step to the child; its alerts come from :meth:`results` ([] now)."""
        self._requests.put((profiles, through))
        self.in_flight += 1
        return []

    def results(self, *, wait_all: bool = False) -> Iterator[list[Alert]]:
        """The alerts of the steps the child finished, one list per step, oldest first:
        those ready now, and the oldest ones until at most ``max_steps`` stay in flight
        (all of them with ``wait_all``)."""
        while self.in_flight:
            message = self._child.receive(block=wait_all or self.in_flight > self.max_steps)
            if message is None:
                return
            kind, alerts = message
            if kind != "alerts":
                raise LinkingProcessError(kind, f"cross-account process: unexpected answer {kind!r}")
            self.in_flight -= 1
            yield alerts

    def close(self) -> LinkingSummary:
        """Stop the child after the steps in flight (their alerts must have been taken) and
        return its summary of the cross-account state."""
        if self.in_flight:
            raise LinkingProcessError("Unfinished", f"{self.in_flight} steps' alerts were not taken before close")
        if self.summary is None:
            self._requests.put(None)
            message = self._child.receive()
            if message is None or message[0] != "done":
                raise LinkingProcessError("Unexpected", f"cross-account process: unexpected answer {message!r:.80} "
                                                        "at close")
            self.summary = message[1]
            self._child.proc.join(timeout=30.0)
        return self.summary

    def terminate(self) -> None:
        """Stop the child now (after an error elsewhere); its pending work is dropped."""
        self._child.terminate()
