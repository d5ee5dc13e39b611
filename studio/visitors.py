"""Who a visitor is, and how long an anonymous visitor's books live.

Owners: ``local`` (one family on 127.0.0.1), ``hf:<username>`` (Hugging Face login on Spaces:
books persist under ``/data``), ``anon:<32 hex>`` (a public visitor without a login).

An anonymous owner is derived from a *server-made* visitor token that the server keeps in an
HttpOnly cookie (see ``studio.session_guard``): ``<64 hex>.<signature>``, signed with the data
dir's secret so a browser cannot choose its own. The owner is a hash of that token, so a
visitor's books follow the cookie, and nobody can act as a visitor without it.

Anonymous books are temporary on a public Space: :class:`ExpiryPolicy` says when they go, the
notice tells the visitor (in their language), and ``app.py`` runs :func:`purge_expired` hourly.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from studio import lifecycle
from studio.messages import text

log = logging.getLogger(__name__)

COOKIE = "gieok_visitor"
ANON_PREFIX = "anon:"
HF_PREFIX = "hf:"
_TOKEN = re.compile(r"[0-9a-f]{64}\.[0-9a-f]{32}")


class VisitorError(ValueError):
    """A request whose visitor cannot be established (shown to the visitor as a reload hint)."""


# -- tokens and owners ----------------------------------------------------------------------------
def load_secret(data_dir: Path) -> bytes:
    """The data dir's signing secret (made once, owner-only permissions)."""
    path = Path(data_dir) / ".browser-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def mint_token(secret: bytes) -> str:
    raw = secrets.token_hex(32)
    return f"{raw}.{_sign(secret, raw)}"


def valid_token(token: str | None, secret: bytes) -> bool:
    if not token or not _TOKEN.fullmatch(token):
        return False
    raw, signature = token.split(".")
    return hmac.compare_digest(signature, _sign(secret, raw))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def anon_owner(token: str) -> str:
    return ANON_PREFIX + token_digest(token)[:32]


def hf_owner(username: str) -> str:
    return HF_PREFIX + username


def owner_for(mode: str, token: str | None, username: str | None, secret: bytes) -> str:
    """The owner for a visitor: ``local``; ``hf:<user>`` when logged in; else from their token.

    Raises ``VisitorError`` when a public/kiosk visitor has no valid server-made token (the
    session guard always gives one, so this means the browser refused the cookie)."""
    if mode == "local":
        return "local"
    if username:
        return hf_owner(username)
    if not valid_token(token, secret):
        raise VisitorError("spaces.session_lost")
    return anon_owner(token)


def owner_matches(owner: str, token: str | None, username: str | None) -> bool:
    """Does this request (its visitor token, its HF login) belong to ``owner``?"""
    if owner == "local":
        return True  # local mode only: the session guard is not installed there
    if owner.startswith(HF_PREFIX):
        return bool(username) and hf_owner(username) == owner
    if owner.startswith(ANON_PREFIX):
        return bool(token) and hmac.compare_digest(anon_owner(token), owner)
    return False


def _sign(secret: bytes, raw: str) -> str:
    return hmac.new(secret, raw.encode(), hashlib.sha256).hexdigest()[:32]


# -- how long anonymous books live --------------------------------------------------------------
@dataclass(frozen=True)
class ExpiryPolicy:
    """Anonymous owners' books are deleted ``ttl_hours`` after their last activity."""

    ttl_hours: float = 24.0

    @property
    def ttl_s(self) -> float:
        return self.ttl_hours * 3600.0

    def expires_at(self, last_activity: float) -> float:
        return last_activity + self.ttl_s

    def expired(self, last_activity: float, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at(last_activity)

    def notice(self, owner: str, lang: str | None, last_activity: float | None = None) -> str:
        """What the visitor reads under the header: temporary books (anonymous) or kept (login)."""
        if owner.startswith(HF_PREFIX):
            return text("spaces.kept_notice", lang, name=owner[len(HF_PREFIX):])
        if not owner.startswith(ANON_PREFIX):
            return ""
        hours = self.ttl_hours
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.expires_at(time.time() if last_activity is None else last_activity)))
        return text("spaces.temporary_notice", lang, hours=f"{hours:g}", when=when)


def purge_expired(store: Any, policy: ExpiryPolicy, now: Callable[[], float] = time.time) -> list[str]:
    """Delete every anonymous owner idle longer than the policy allows; returns those owners.

    Uses the store's ``expire_owners`` (per-owner store: books and their media go together)."""
    removed = store.expire_owners(prefix=ANON_PREFIX, older_than_s=policy.ttl_s, now_s=now())
    if removed:
        log.info("expired %d anonymous visitor(s)", len(removed))
    return list(removed)


class PurgeTimer(lifecycle.Periodic):
    """Hourly housekeeping: passing files swept by age (``lifecycle.sweep``) and, with a policy,
    expired anonymous visitors purged."""

    def __init__(self, store: Any, policy: ExpiryPolicy | None, interval_s: float = 3600.0) -> None:
        self.store, self.policy = store, policy
        super().__init__("gieok-purge", self._tick, interval_s)

    def _tick(self) -> None:
        if self.policy is not None:
            purge_expired(self.store, self.policy)
        lifecycle.sweep(store=self.store)
