"""Long work (writing, illustrating, narrating, exporting) as cancellable jobs per visitor.

A flow is a generator of ``Progress`` events; the tab maps each to a UI update. The Cancel button
calls ``jobs.cancel(owner, kind)``, which sets the token the running flow checks (diffusers checks
it every denoising step, page loops every page).
"""
from __future__ import annotations

import contextlib
import logging
import math
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from studio.backends.base import BackendError, Cancelled, CancelToken
from studio.messages import has_key, text


class LimitReached(BackendError):
    """A per-visitor limit on a shared server (message key + values, shown to the visitor)."""


@dataclass
class Progress:
    done: int
    total: int
    message: str = ""  # a message key (locales/), or plain text from a library
    payload: dict[str, Any] = field(default_factory=dict)  # e.g. {"page_id": ..., "preview": PIL}
    values: dict[str, Any] = field(default_factory=dict)  # the message's {placeholders}

    def text(self, lang: str | None = None) -> str:
        """The message in the visitor's language."""
        if not self.message or not has_key(self.message):
            return self.message
        return text(self.message, lang, **self.values)

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)


class VisitorLimits:
    """Limits per visitor on a shared server (public/kiosk; none locally): one long job at a
    time (across tabs: every ``Jobs`` of the app shares this), and ``pages_per_hour`` pictures
    in any sliding hour."""

    def __init__(self, one_job_at_a_time: bool = False, pages_per_hour: int = 0,
                 clock: Callable[[], float] = time.time) -> None:
        self.one_job_at_a_time, self.pages_per_hour, self.clock = one_job_at_a_time, int(pages_per_hour), clock
        self._running: dict[str, tuple[str, CancelToken]] = {}
        self._pages: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.job_log = None  # a studio.job_log.JobLog: every finished job is recorded (dashboard)
        self.started = 0  # jobs started and not finished, across every tab (the dashboard's queue)

    @classmethod
    def from_settings(cls, settings: Any) -> "VisitorLimits":
        shared = getattr(settings, "mode", "local") != "local"
        return cls(one_job_at_a_time=shared, pages_per_hour=getattr(settings, "pages_per_hour", 0) if shared else 0)

    def claim(self, owner: str, kind: str, token: CancelToken) -> None:
        if not self.one_job_at_a_time:
            return
        with self._lock:
            running = self._running.get(owner)
            if running is not None and not running[1].cancelled:  # a stopped job may still be winding down
                raise LimitReached("spaces.busy")
            self._running[owner] = (kind, token)

    def forget_owner(self, owner: str) -> None:
        """A visitor who left (kiosk): their page counts go too, so a day of visitors stays flat."""
        with self._lock:
            self._pages.pop(owner, None)

    def release(self, owner: str, token: CancelToken) -> None:
        with self._lock:
            if self._running.get(owner, (None, None))[1] is token:
                del self._running[owner]

    @contextlib.contextmanager
    def page(self, owner: str) -> Iterator[None]:
        """One picture: counted before it is made (refused over the limit), given back if it fails."""
        if self.pages_per_hour <= 0:
            yield
            return
        now = self.clock()
        with self._lock:
            made = self._pages.setdefault(owner, deque())
            while made and made[0] <= now - 3600:
                made.popleft()
            if len(made) >= self.pages_per_hour:
                minutes = max(1, math.ceil((made[0] + 3600 - now) / 60))
                raise LimitReached("spaces.pages_per_hour", used=len(made), limit=self.pages_per_hour,
                                   minutes=minutes)
            made.append(now)
        try:
            yield
        except BaseException:
            with self._lock:
                with contextlib.suppress(ValueError):
                    made.remove(now)
            raise


class Jobs:
    def __init__(self, limits: VisitorLimits | None = None) -> None:
        self._tokens: dict[tuple[str, str], CancelToken] = {}
        self._lock = threading.Lock()
        self.limits = limits or VisitorLimits()

    def start(self, owner: str, kind: str, **details: Any) -> CancelToken:
        """A fresh token for this visitor's job of this kind (a previous one is cancelled).
        ``details`` (pages, steps, backend) go into the job log with the outcome.

        Raises ``LimitReached`` when the limits allow one long job at a time and another runs."""
        token = CancelToken()
        self.limits.claim(owner, kind, token)
        with self.limits._lock:
            self.limits.started += 1
            token.job_record = (time.monotonic(), self.limits.started, details)
        with self._lock:
            old = self._tokens.get((owner, kind))
            if old is not None:
                old.cancel()
            self._tokens[(owner, kind)] = token
        return token

    @staticmethod
    def note(token: CancelToken, **details: Any) -> None:
        """Details known only as the job goes (pages done, the engine used) for its log record."""
        record = getattr(token, "job_record", None)
        if record is not None:
            record[2].update(details)

    def cancel(self, owner: str, kind: str) -> bool:
        with self._lock:
            token = self._tokens.get((owner, kind))
        if token is None:
            return False
        token.cancel()
        return True

    def finish(self, owner: str, kind: str, token: CancelToken) -> None:
        with self._lock:
            if self._tokens.get((owner, kind)) is token:
                del self._tokens[(owner, kind)]
        self.limits.release(owner, token)
        _record(self.limits, owner, kind, token)


def _record(limits: VisitorLimits, owner: str, kind: str, token: CancelToken) -> None:
    """Write the finished job to the log. Tabs call ``finish`` in a ``finally``: the exception
    being raised (if any) there is the job's outcome."""
    started = getattr(token, "job_record", None)
    if started is None:
        return
    token.job_record = None
    with limits._lock:
        limits.started = max(0, limits.started - 1)
    if limits.job_log is None:
        return
    error = sys.exc_info()[1]
    cancelled = token.cancelled or isinstance(error, (GeneratorExit, Cancelled))
    outcome = "cancelled" if cancelled else ("failed" if error is not None else "done")
    try:
        limits.job_log.record(kind, owner, time.monotonic() - started[0], outcome, running=started[1],
                              error=type(error).__name__ if outcome == "failed" else "", **started[2])
    except Exception:  # the log is for the operator: a full disk there must not fail the visitor's job
        logging.getLogger(__name__).exception("could not record a job")
