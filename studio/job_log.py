"""Every long job the studio runs, one JSON line each, for the operator's dashboard.

``<data dir>/joblog/jobs.jsonl`` is append-only: a line is written once and never changed, so a
crash loses at most the line being written (a torn last line is skipped when reading). The file
is rotated when it passes ``max_bytes`` or when the day changes (``jobs-<YYYYMMDD>-<n>.jsonl``),
and :meth:`JobLog.purge` removes rotated files older than the retention window, so a kiosk that
runs for weeks keeps a bounded log. Owners are stored as a short hash: the log says how many
visitors were served, never who they were.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

CURRENT = "jobs.jsonl"
OUTCOMES = ("done", "failed", "cancelled")
FIELDS = ("time", "kind", "owner", "pages", "steps", "backend", "seconds", "outcome", "error", "running")


def owner_hash(owner: str) -> str:
    return hashlib.sha256(f"gieok-job-log:{owner}".encode()).hexdigest()[:12]


class JobLog:
    def __init__(self, data_dir: Path, max_bytes: int = 2 * 1024 * 1024,
                 clock: Callable[[], float] = time.time) -> None:
        self.folder = Path(data_dir) / "joblog"
        self.max_bytes, self.clock = int(max_bytes), clock
        self._lock = threading.Lock()

    @property
    def current(self) -> Path:
        return self.folder / CURRENT

    # -- writing -------------------------------------------------------------------------------
    def record(self, kind: str, owner: str, seconds: float, outcome: str, *, pages: int = 0, steps: int = 0,
               backend: str = "", error: str = "", running: int = 0, when: float | None = None) -> dict:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        entry = {"time": round(self.clock() if when is None else when, 3), "kind": str(kind)[:40],
                 "owner": owner_hash(owner), "pages": int(pages or 0), "steps": int(steps or 0),
                 "backend": str(backend or "")[:40], "seconds": round(float(seconds), 3), "outcome": outcome,
                 "error": str(error or "")[:80], "running": int(running or 0)}
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._rotate_if_needed(entry["time"], len(line))
            with open(self.current, "a", encoding="utf-8") as fh:
                fh.write(line)
        return entry

    def _rotate_if_needed(self, now: float, adding: int) -> None:
        path = self.current
        if not path.exists():
            return
        size = path.stat().st_size
        first_day = _day(self._first_time(path))
        if size + adding <= self.max_bytes and (first_day is None or first_day == _day(now)):
            return
        stamp = first_day or _day(now)
        n = 0
        while (target := self.folder / f"jobs-{stamp}-{n}.jsonl").exists():
            n += 1
        os.replace(path, target)

    @staticmethod
    def _first_time(path: Path) -> float | None:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
        try:
            return float(json.loads(first)["time"])
        except (ValueError, KeyError, TypeError):
            return None

    # -- reading -------------------------------------------------------------------------------
    def files(self) -> list[Path]:
        rotated = sorted(self.folder.glob("jobs-*.jsonl")) if self.folder.is_dir() else []
        return [*rotated, *([self.current] if self.current.exists() else [])]

    def read(self, since: float | None = None) -> list[dict[str, Any]]:
        entries = []
        for path in self.files():
            with open(path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        entry = json.loads(line)
                    except ValueError:  # a torn last line after a crash
                        continue
                    if isinstance(entry, dict) and (since is None or entry.get("time", 0) >= since):
                        entries.append(entry)
        return entries

    def purge(self, older_than_s: float, now: float | None = None) -> int:
        """Delete rotated files whose newest entry is older than the window; returns how many."""
        cutoff = (self.clock() if now is None else now) - older_than_s
        removed = 0
        with self._lock:
            for path in self.files():
                if path == self.current:
                    continue
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed


def _day(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y%m%d", time.localtime(t))


# -- figures for the dashboard ------------------------------------------------------------------
def frame(entries: Iterable[dict]):
    import pandas as pd

    df = pd.DataFrame(list(entries), columns=list(FIELDS))
    df["when"] = pd.to_datetime(df["time"].astype(float), unit="s", utc=True).dt.tz_convert(_local_tz())
    return df


def summary(entries: list[dict]) -> dict[str, Any]:
    """Counts the dashboard prints: jobs, outcomes, visitors served, seconds per page."""
    # a book's page passes through every kind of job (written, drawn, read, bound): seconds per
    # page is the sum over kinds of each kind's seconds per page
    by_kind: dict[str, list[float]] = {}
    for e in entries:
        if e.get("outcome") == "done" and e.get("pages"):
            totals = by_kind.setdefault(e.get("kind", ""), [0.0, 0])
            totals[0] += float(e.get("seconds", 0.0))
            totals[1] += int(e["pages"])
    return {"jobs": len(entries),
            **{o: sum(1 for e in entries if e.get("outcome") == o) for o in OUTCOMES},
            "visitors": len({e.get("owner") for e in entries}),
            "seconds_per_page": round(sum(sec / pages for sec, pages in by_kind.values()), 2)}


def per_hour(entries: list[dict]):
    """Jobs per hour, failure rate per hour, seconds per page per hour, busiest queue per hour."""
    import pandas as pd

    df = frame(entries)
    if df.empty:
        return pd.DataFrame(columns=["hour", "jobs", "failure_rate", "seconds_per_page", "queue"])
    df["hour"] = df["when"].dt.floor("h").dt.tz_localize(None)
    df["failed"] = (df["outcome"] == "failed").astype(int)
    grouped = df.groupby("hour")
    out = pd.DataFrame({
        "jobs": grouped.size(),
        "failure_rate": grouped["failed"].mean(),
        "queue": grouped["running"].max(),
    })
    done = df[(df["outcome"] == "done") & (df["pages"] > 0)]
    kinds = done.groupby(["hour", "kind"])[["seconds", "pages"]].sum()
    per_page = (kinds["seconds"] / kinds["pages"]).groupby(level="hour").sum()  # summed over kinds, as in summary()
    out["seconds_per_page"] = per_page.reindex(out.index).fillna(0.0)
    return out.reset_index()[["hour", "jobs", "failure_rate", "seconds_per_page", "queue"]]


def write_csv(entries: list[dict], target: Path) -> Path:
    frame(entries).drop(columns=["when"]).to_csv(target, index=False)
    return target


def _local_tz():
    from datetime import datetime

    return datetime.now().astimezone().tzinfo


def folder_bytes(folder: Path) -> int:
    total = 0
    for sub, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(sub, name)).st_size
            except OSError:
                pass
    return total
