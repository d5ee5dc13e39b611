"""Several GPU servers shared by several kiosks: pick the least busy healthy worker (round-robin
among equals), mark a worker down when it is unreachable or answers 5xx, try the next one, and
try a down worker again after a cool-down.

    pool = WorkerPool(["http://gpu1:7860", "http://gpu2:7860"], cooldown_s=30)
    image = pool.run(lambda url: txt2img(url, payload), service="WebUI")
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from studio.backends.base import BackendError
from studio.backends.remote.common import WorkerDown, safe_url

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class WorkerState:
    url: str
    busy: int = 0  # jobs of this studio running on it now
    down_until: float = 0.0
    last_error: str = ""
    done: int = 0


class WorkerPool:
    def __init__(self, urls: list[str], cooldown_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.workers = [WorkerState(u) for u in urls]
        self.cooldown_s = float(cooldown_s)
        self._clock = clock
        self._turn = itertools.count()
        self._lock = threading.Lock()

    @property
    def urls(self) -> list[str]:
        return [w.url for w in self.workers]

    def _pick(self, tried: set[str]) -> WorkerState | None:
        now = self._clock()
        with self._lock:
            ready = [w for w in self.workers if w.url not in tried and w.down_until <= now]
            if not ready and not tried and self.workers:
                # every worker is cooling down: re-check the one that comes back first rather
                # than refusing a job without a single real try
                ready = [min(self.workers, key=lambda w: w.down_until)]
            if not ready:
                return None
            start = next(self._turn)
            order = {id(w): (i - start) % len(self.workers) for i, w in enumerate(self.workers)}
            chosen = min(ready, key=lambda w: (w.busy, order[id(w)]))
            chosen.busy += 1
            return chosen

    def mark_down(self, url: str, reason: str) -> None:
        with self._lock:
            for w in self.workers:
                if w.url == url:
                    w.down_until, w.last_error = self._clock() + self.cooldown_s, reason
        log.warning("remote worker %s is down for %.0fs: %s", safe_url(url), self.cooldown_s, reason)

    def mark_up(self, url: str) -> None:
        with self._lock:
            for w in self.workers:
                if w.url == url:
                    w.down_until, w.last_error = 0.0, ""

    def run(self, job: Callable[[str], T], service: str) -> T:
        """``job(url)`` on a healthy worker; on ``WorkerDown`` the next one, until none is left."""
        tried: set[str] = set()
        last: BackendError | None = None
        while (worker := self._pick(tried)) is not None:
            tried.add(worker.url)
            try:
                result = job(worker.url)
            except WorkerDown as exc:
                self.mark_down(worker.url, str(exc))
                last = exc
                continue
            finally:
                with self._lock:
                    worker.busy -= 1
            with self._lock:
                worker.done += 1
                worker.down_until, worker.last_error = 0.0, ""
            return result
        if len(tried) == 1 and last is not None:
            raise last  # one server tried: its own message (down, 5xx) says more than "all are down"
        raise BackendError("remote.all_down", service=service, count=len(self.workers))

    def check(self, probe: Callable[[str], None]) -> list[tuple[str, BackendError | None]]:
        """Run ``probe(url)`` on every worker now (Settings' test button): (address, problem or None)."""
        rows = []
        for w in list(self.workers):
            try:
                probe(w.url)
            except BackendError as exc:
                self.mark_down(w.url, str(exc))
                rows.append((safe_url(w.url), exc))
            else:
                self.mark_up(w.url)
                rows.append((safe_url(w.url), None))
        return rows
