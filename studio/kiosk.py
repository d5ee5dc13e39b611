"""The exhibition kiosk's visitors: who is here, when they leave, and forgetting them.

A visitor is an owner (``anon:<hash>`` of a token the session guard mints for every page load).
Everything they make lives in three places, and :meth:`Kiosk.forget` removes all three at once:

* their owner folder (books, photos, recordings, narration takes) — ``store.delete_owner``;
* their exports (the PDF) — ``<data dir>/kiosk/exports/<owner key>/``, private, served only
  through a one-time link, never through Gradio's file route;
* their one-time download links (in memory).

A visitor leaves by pressing "new visitor" or by being idle for the operator's timeout. The idle
check runs on the client (a ``gr.Timer``) and on the server (:class:`Reaper`, for a browser that
was closed), and never fires while that visitor's book is being made: the timeout counts from
the end of the job. At start, :meth:`Kiosk.purge_all` removes whatever a crash left behind.
"""
from __future__ import annotations

import contextlib
import logging
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from studio import lifecycle
from studio.job_log import JobLog
from studio.kiosk_operator import KioskError, OperatorStore
from studio.owners import owner_key
from studio.visitors import ANON_PREFIX

log = logging.getLogger(__name__)
MAX_QUEUE_WAIT_S = 15 * 60.0  # a queued book counts as running this long at most (a closed page never runs it)
BACKEND_KINDS = ("writer", "illustrator", "speaker")


@dataclass
class Visitor:
    owner: str
    started: float
    last_active: float
    busy: int = 0  # jobs running for this visitor (a book being made)
    waiting_since: float | None = None  # asked for a book that waits in the queue behind another visitor's
    book_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Link:
    owner: str
    path: Path
    expires: float
    filename: str


class DownloadLinks:
    """One-time links: a random token -> one visitor's file, until fetched once or expired."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._links: dict[str, Link] = {}
        self._lock = threading.Lock()

    def issue(self, owner: str, path: Path, lifetime_s: float, filename: str) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._drop_expired()
            self._links[token] = Link(owner, Path(path), self.clock() + lifetime_s, filename)
        return token

    def take(self, token: str) -> Link | None:
        """The link's file, once: the link is gone after this call whatever happens next."""
        with self._lock:
            link = self._links.pop(token, None) if isinstance(token, str) else None
        if link is None or link.expires <= self.clock() or not link.path.is_file():
            return None
        return link

    def revoke_owner(self, owner: str) -> int:
        with self._lock:
            gone = [t for t, link in self._links.items() if link.owner == owner]
            for token in gone:
                del self._links[token]
        return len(gone)

    def clear(self) -> None:
        with self._lock:
            self._links.clear()

    def _drop_expired(self) -> None:
        now = self.clock()
        for token in [t for t, link in self._links.items() if link.expires <= now]:
            del self._links[token]

    def __len__(self) -> int:
        return len(self._links)


class Kiosk:
    """The kiosk's visitors, their files and links, the operator's settings and the job log."""

    def __init__(self, services: Any, clock: Callable[[], float] = time.time) -> None:
        self.services = services
        self._clock = clock
        settings = services.settings
        self.operator = OperatorStore(settings.data_dir, getattr(settings, "kiosk_pin", ""), clock=self.now)
        self.links = DownloadLinks(self.now)
        self.exports_root = Path(settings.data_dir) / "kiosk" / "exports"
        self.job_log: JobLog = getattr(services.limits, "job_log", None) or JobLog(settings.data_dir, clock=self.now)
        services.limits.job_log = self.job_log
        self._visitors: dict[str, Visitor] = {}
        self._operators: dict[str, float] = {}  # owner (this page) -> unlocked until
        self._lock = threading.Lock()
        self.on_leave: Callable[[], None] | None = None  # app.main: stop the server so it restarts
        self.upload_root: Path | None = None  # the web server's upload folder (set by the UI)
        self.forgotten = 0  # visitors served and forgotten since start
        self._configured = {kind: getattr(settings, kind, "auto") for kind in BACKEND_KINDS}
        self.apply_backends()

    # the clock is swappable so tests can move time (idle timeouts, link expiry, PIN waits)
    def now(self) -> float:
        return self._clock()

    def set_clock(self, clock: Callable[[], float]) -> None:
        self._clock = clock

    @property
    def settings(self):
        return self.operator.settings()

    # -- visitors ------------------------------------------------------------------------------
    def arrive(self, owner: str) -> Visitor:
        with self._lock:
            visitor = self._visitors.get(owner)
            if visitor is None:
                visitor = self._visitors[owner] = Visitor(owner, self.now(), self.now())
            visitor.last_active = self.now()
            return visitor

    def visitor(self, owner: str) -> Visitor | None:
        with self._lock:
            return self._visitors.get(owner)

    def touch(self, owner: str) -> None:
        self.arrive(owner)

    def expect_job(self, owner: str) -> None:
        """The visitor asked for their book; it may wait in the queue before :meth:`busy` starts."""
        visitor = self.arrive(owner)
        with self._lock:
            visitor.waiting_since = self.now()

    @contextlib.contextmanager
    def busy(self, owner: str) -> Iterator[Visitor]:
        """While a visitor's book is being made, no idle timeout ends their session."""
        visitor = self.arrive(owner)
        with self._lock:
            visitor.busy += 1
            visitor.waiting_since = None
        try:
            yield visitor
        finally:
            with self._lock:
                visitor.busy -= 1
                visitor.last_active = self.now()  # the timeout counts from the end of the job

    def remember_upload(self, owner: str, path: str | None) -> None:
        """A photo or recording the visitor gave the page: the web server keeps its own copy,
        which must go with them too."""
        if not path:
            return
        visitor = self.arrive(owner)
        with self._lock:
            uploads = visitor.data.setdefault("uploads", [])
            if str(path) not in uploads:
                uploads.append(str(path))

    def _remove_uploads(self, visitor: Visitor | None) -> None:
        for name in (visitor.data.get("uploads", []) if visitor is not None else []):
            lifecycle.remove_upload_copy(name, self.upload_root)

    def timed_out(self, owner: str) -> bool:
        visitor = self.visitor(owner)
        if visitor is None or visitor.busy:
            return False
        if visitor.waiting_since is not None and self.now() - visitor.waiting_since < MAX_QUEUE_WAIT_S:
            return False
        return self.now() - visitor.last_active >= self.settings.idle_timeout_s

    def expire_idle(self) -> list[str]:
        """Forget every visitor idle past the timeout (none with a job running)."""
        gone = [owner for owner in list(self._visitors) if self.timed_out(owner)]
        for owner in gone:
            self.forget(owner)
        return gone

    def active_visitors(self) -> int:
        with self._lock:
            return len(self._visitors)

    # -- backends the operator chose -------------------------------------------------------------
    def apply_backends(self) -> None:
        """The operator's choice of writer/illustrator/speaker, or the studio's own setting."""
        chosen = self.settings
        for kind in BACKEND_KINDS:
            setattr(self.services.settings, kind, getattr(chosen, kind) or self._configured[kind])

    def backend_choices(self, kind: str) -> list[tuple[str, str]]:
        """(label, name) of the backends of a kind that can run on this machine now."""
        backends = self.services.backends
        found = []
        for name in backends.kinds[kind]:
            try:
                backend = backends.get(kind, name)
                if backend.available().ok:
                    found.append((backend.label, name))
            except Exception:  # a broken optional module is simply not offered
                continue
        return found

    def save_settings(self, owner: str, **changes: Any):
        """The operator's settings (checked, and a chosen backend must be able to run here)."""
        self.require_operator(owner)
        for kind in BACKEND_KINDS:
            name = changes.get(kind)
            if name:
                try:
                    status = self.services.backends.get(kind, name).available()
                except Exception:
                    status = None
                if status is None or not status.ok:
                    raise KioskError("kiosk.op_backend_unavailable", name=name,
                                     reason=getattr(status, "reason", "") or "—")
        saved = self.operator.save_settings(**changes)
        self.apply_backends()
        return saved

    # -- the operator ------------------------------------------------------------------------
    def unlock(self, owner: str, pin: str, client: str, minutes: float = 10.0) -> None:
        """Open the operator screen for this page (``KioskError`` on a wrong PIN or a wait)."""
        self.operator.check_pin(pin, client)
        with self._lock:
            self._operators[owner] = self.now() + minutes * 60

    def lock(self, owner: str) -> None:
        with self._lock:
            self._operators.pop(owner, None)

    def require_operator(self, owner: str | None) -> None:
        with self._lock:
            until = self._operators.get(owner or "", 0.0)
        if until <= self.now():
            raise KioskError("kiosk.op_locked")

    def leave_kiosk_mode(self, owner: str) -> None:
        """The operator's way out: the next start opens the family studio once; every visitor's
        data goes now; the server stops when the app gave us a way to stop it."""
        self.require_operator(owner)
        self.operator.save_settings(next_start="studio")
        self.purge_all()
        if self.on_leave is not None:
            self.on_leave()

    # -- forgetting ----------------------------------------------------------------------------
    def export_dir(self, owner: str) -> Path:
        folder = self.exports_root / owner_key(owner)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return folder

    def forget(self, owner: str) -> bool:
        """Delete everything of this visitor now: books, media, exports, links, session state."""
        with self._lock:
            visitor = self._visitors.get(owner)
            if visitor is not None and visitor.busy:
                return False  # their book is being made: forgotten when it ends and they go idle
            self._visitors.pop(owner, None)
            self._operators.pop(owner, None)
        self._remove_uploads(visitor)
        self.links.revoke_owner(owner)
        shutil.rmtree(self.exports_root / owner_key(owner), ignore_errors=True)
        self.services.store.delete_owner(owner)
        self.services.limits.forget_owner(owner)
        self.forgotten += 1
        return True

    def purge_all(self) -> int:
        """At start (and when leaving kiosk mode): every kiosk visitor's folder and export goes.
        The kiosk's data dir holds visitors only; a crash must not leave any of them behind."""
        removed = 0
        for info in self.services.store.owners():
            if info.owner.startswith(ANON_PREFIX) and self.services.store.delete_owner(info.owner):
                removed += 1
        shutil.rmtree(self.exports_root, ignore_errors=True)
        self.links.clear()
        with self._lock:
            self._visitors = {o: v for o, v in self._visitors.items() if v.busy}
        if removed:
            log.info("kiosk: removed %d visitor folder(s) left from before", removed)
        return removed

    # -- taking the book home ------------------------------------------------------------------
    def issue_link(self, owner: str, pdf: Path) -> str:
        return self.links.issue(owner, pdf, self.settings.link_lifetime_s, "gieok-book.pdf")

    def print_pdf(self, owner: str, pdf: Path, copies: int) -> str:
        """Send the visitor's PDF to the system print queue (``lp``). Returns lp's answer."""
        settings = self.settings
        if not settings.printing:
            raise KioskError("kiosk.print_off")
        lp = shutil.which("lp")
        if lp is None:
            raise KioskError("kiosk.print_missing")
        copies = int(copies or 1)
        if not 1 <= copies <= settings.max_copies:
            raise KioskError("kiosk.print_copies", max=settings.max_copies)
        pdf = Path(pdf)
        if not pdf.is_file() or self.exports_root.resolve() not in pdf.resolve().parents:
            raise KioskError("kiosk.print_no_book")
        try:
            done = subprocess.run([lp, "-n", str(copies), "-t", "Gieok book", "--", str(pdf)],
                                  capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("lp failed: %s", exc)
            raise KioskError("kiosk.print_failed") from None
        if done.returncode != 0:
            log.warning("lp refused: %s", done.stderr.strip()[:300])
            raise KioskError("kiosk.print_failed")
        return done.stdout.strip()


class Reaper(lifecycle.Periodic):
    """Server-side idle check: forgets visitors whose browser stopped asking (closed, crashed)."""

    def __init__(self, kiosk: Kiosk, interval_s: float = 15.0) -> None:
        self.kiosk = kiosk
        super().__init__("gieok-kiosk-reaper", kiosk.expire_idle, interval_s, first_now=False)
