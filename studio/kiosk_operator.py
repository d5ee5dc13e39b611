"""What only the exhibition's operator may do: the PIN, the kiosk's settings, leaving kiosk mode.

The PIN is never stored: ``<data dir>/kiosk/operator.json`` holds a random salt and its scrypt
hash. It is set the first time from ``GIEOK_KIOSK_PIN`` (an operator's start script), and can be
changed from the operator screen afterwards. Wrong PINs are refused with an exponential wait per
client (1, 2, 4 ... seconds, at most 15 minutes) during which even the right PIN is refused, so
guessing a 4-digit PIN at a touch screen takes days, not minutes.

Leaving kiosk mode: the operator screen (behind the PIN) writes ``next_start = "studio"`` into
the settings file; the next start of ``app.py`` opens the family studio once (listening on this
machine only) and clears the mark, so the start after that is a kiosk again. Visitors cannot reach the
studio's own screens while the kiosk runs: there is no second UI served beside the kiosk.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable

from studio.messages import UserError

SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MAX_WAIT_S = 15 * 60.0
FREE_TRIES = 1  # the first wrong PIN costs 1 s, every further one doubles


class KioskError(UserError):
    """Something a visitor or the operator can fix; the message is a key in locales/*/kiosk.json."""


@dataclass
class KioskSettings:
    page_count: int = 4
    style: str = "watercolor"
    idle_timeout_s: int = 120
    link_lifetime_s: int = 600
    printing: bool = True
    max_copies: int = 3
    language: str = "ko"
    retention_days: int = 7  # the job log, for the dashboard
    # the backends books are made with ("" = as the studio is configured)
    writer: str = ""
    illustrator: str = ""
    speaker: str = ""
    next_start: str = "kiosk"  # "studio": the next start opens the family studio once

    def checked(self) -> "KioskSettings":
        from studio.book import MAX_PAGES, MIN_PAGES

        if not MIN_PAGES <= int(self.page_count) <= min(MAX_PAGES, 12):
            raise KioskError("kiosk.op_bad_pages", low=MIN_PAGES, high=min(MAX_PAGES, 12))
        if not 30 <= int(self.idle_timeout_s) <= 3600:
            raise KioskError("kiosk.op_bad_idle", low=30, high=3600)
        if not 60 <= int(self.link_lifetime_s) <= 24 * 3600:
            raise KioskError("kiosk.op_bad_link", low=1, high=1440)
        if not 1 <= int(self.max_copies) <= 10:
            raise KioskError("kiosk.op_bad_copies", low=1, high=10)
        if self.language not in ("ko", "en"):
            raise KioskError("kiosk.op_bad_language")
        if self.next_start not in ("kiosk", "studio"):
            raise KioskError("kiosk.op_bad_language")
        return self


class OperatorStore:
    """The PIN hash and the kiosk settings, in ``<data dir>/kiosk`` (owner-only files)."""

    def __init__(self, data_dir: Path, initial_pin: str = "", clock: Callable[[], float] = time.time) -> None:
        self.folder = Path(data_dir) / "kiosk"
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # client -> (wrong tries, refused until)
        if initial_pin and not self.has_pin():
            self.set_pin(initial_pin)

    # -- PIN -----------------------------------------------------------------------------------
    @property
    def pin_path(self) -> Path:
        return self.folder / "operator.json"

    def has_pin(self) -> bool:
        return self.pin_path.exists()

    def set_pin(self, pin: str) -> None:
        pin = (pin or "").strip()
        if not (pin.isdigit() and 4 <= len(pin) <= 12):
            raise KioskError("kiosk.op_pin_format")
        salt = secrets.token_bytes(16)
        record = {"salt": salt.hex(), "hash": _scrypt(pin, salt).hex(), **SCRYPT}
        _write_private(self.pin_path, record)

    def check_pin(self, pin: str, client: str) -> None:
        """Raise ``KioskError`` unless ``pin`` is right and this client is not made to wait."""
        now = self.clock()
        with self._lock:
            tries, until = self._failures.get(client, (0, 0.0))
            if now < until:
                raise KioskError("kiosk.op_pin_wait", seconds=math.ceil(until - now))
        if not self.has_pin():
            raise KioskError("kiosk.op_pin_not_set")
        record = json.loads(self.pin_path.read_text())
        salt = bytes.fromhex(record["salt"])
        params = {k: int(record[k]) for k in ("n", "r", "p")}
        if hmac.compare_digest(_scrypt((pin or "").strip(), salt, **params).hex(), record["hash"]):
            with self._lock:
                self._failures.pop(client, None)
            return
        with self._lock:
            tries, _ = self._failures.get(client, (0, 0.0))
            tries += 1
            wait = min(MAX_WAIT_S, 2.0 ** max(0, tries - FREE_TRIES))
            self._failures[client] = (tries, now + wait)
            if len(self._failures) > 10_000:  # a flood of made-up clients must not grow memory
                self._failures.pop(next(iter(self._failures)))
        raise KioskError("kiosk.op_pin_wrong", seconds=int(wait))

    # -- settings ------------------------------------------------------------------------------
    @property
    def settings_path(self) -> Path:
        return self.folder / "settings.json"

    def settings(self) -> KioskSettings:
        try:
            stored = json.loads(self.settings_path.read_text())
        except (OSError, ValueError):
            stored = {}
        names = {f.name for f in fields(KioskSettings)}
        values = {k: v for k, v in stored.items() if k in names} if isinstance(stored, dict) else {}
        try:
            return KioskSettings(**values).checked()
        except (KioskError, TypeError, ValueError):
            return KioskSettings()  # a hand-edited file that does not fit: the defaults, said in the log

    def save_settings(self, **changes: Any) -> KioskSettings:
        current = asdict(self.settings())
        current.update({k: v for k, v in changes.items() if v is not None})
        for f in fields(KioskSettings):
            if f.type in ("int", int):
                current[f.name] = int(float(current[f.name]))
            elif f.type in ("bool", bool):
                current[f.name] = bool(current[f.name])
        updated = KioskSettings(**current).checked()
        _write_private(self.settings_path, asdict(updated))
        return updated

    def take_next_start(self) -> str:
        """``studio`` once after the operator left kiosk mode (and the mark is cleared), else ``kiosk``."""
        chosen = self.settings().next_start
        if chosen != "kiosk":
            self.save_settings(next_start="kiosk")
        return chosen


def _scrypt(pin: str, salt: bytes, n: int = SCRYPT["n"], r: int = SCRYPT["r"], p: int = SCRYPT["p"]) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def _write_private(path: Path, value: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(value, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def start_mode(settings: Any) -> tuple[str, str]:
    """(mode, host) to start with: the family studio once after the operator left kiosk mode,
    then listening on this machine only (it keeps no visitors apart); else the kiosk as set."""
    if OperatorStore(settings.data_dir).take_next_start() != "studio":
        return "kiosk", settings.host
    return "local", "127.0.0.1"
