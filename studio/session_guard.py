"""Bind every Gradio session to the visitor's server-made token (public and kiosk modes).

Gradio keeps a visitor's ``gr.State`` (their owner id, their open book) under a
``session_hash`` that the *browser* chooses and sends with every call. Without more, anyone
who learns a ``session_hash`` acts as that visitor. This ASGI middleware closes that:

* every visitor gets a signed token in an HttpOnly cookie (``studio.visitors``), minted by the
  server; a missing or forged cookie is replaced, and the request itself carries the new one;
* the first request naming a ``session_hash`` binds it to that token; any later request naming
  the same ``session_hash`` with another token is refused (403) before Gradio sees it — calls
  (``queue/join``, ``run``, ``cancel``) and result streams (``queue/data``, ``heartbeat``,
  ``stream``) alike.

It is plain ASGI (no gradio import) and is passed to ``launch(app_kwargs={"middleware": ...})``.
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from http.cookies import SimpleCookie
from typing import Any, Callable
from urllib.parse import parse_qs

from studio.messages import language_of, text
from studio.visitors import COOKIE, mint_token, token_digest, valid_token

MAX_JSON_BODY = 16 * 1024 * 1024  # Gradio's own JSON calls are small; files go through /upload
COOKIE_MAX_AGE_S = 400 * 24 * 3600  # browsers cap cookies at 400 days
_PATH_SESSION_SEGMENTS = ("/heartbeat/", "/stream/")


class SessionBindings:
    """``session_hash`` -> digest of the token that first used it (bounded, idle entries age out)."""

    def __init__(self, max_entries: int = 200_000, idle_s: float = 7 * 24 * 3600) -> None:
        self._owners: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries, self.idle_s = max_entries, idle_s

    def allow(self, session_hash: str, token: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        digest = token_digest(token)
        with self._lock:
            bound = self._owners.get(session_hash)
            if bound is not None and bound[0] != digest and now - bound[1] < self.idle_s:
                return False
            self._owners[session_hash] = (digest, now)
            self._owners.move_to_end(session_hash)
            while len(self._owners) > self.max_entries:
                self._owners.popitem(last=False)
            return True

    def __len__(self) -> int:
        return len(self._owners)


class SessionGuard:
    """ASGI middleware: visitor cookie + ``session_hash`` bound to it (see module doc)."""

    def __init__(self, app: Callable, secret: bytes, fresh_visitor_per_page: bool = False,
                 bindings: SessionBindings | None = None) -> None:
        self.app, self.secret = app, secret
        # kiosk: every page load is a new visitor (a new token, so a new owner)
        self.fresh_visitor_per_page = fresh_visitor_per_page
        self.bindings = bindings or SessionBindings()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        token = _cookie(headers, COOKIE)
        is_page = scope.get("method") == "GET" and scope.get("path", "").rstrip("/") == ""
        new_token = None
        if not valid_token(token, self.secret) or (self.fresh_visitor_per_page and is_page):
            token = new_token = mint_token(self.secret)
            headers = [(k, v) for k, v in headers if k != b"cookie"]
            other = _cookie_header(scope)
            headers.append((b"cookie", (f"{other}; " if other else "").encode() + f"{COOKIE}={token}".encode()))
            scope = dict(scope, headers=headers)

        receive, session_hash = await self._session_hash(scope, receive)
        if session_hash and not self.bindings.allow(session_hash, token):
            return await _refuse(scope, send)

        async def send_with_cookie(message: dict) -> None:
            if message["type"] == "http.response.start" and new_token:
                message = dict(message, headers=[*message.get("headers", []),
                                                 (b"set-cookie", _set_cookie(new_token, _https(scope)))])
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _session_hash(self, scope: dict, receive: Callable) -> tuple[Callable, str | None]:
        """The session_hash a request names (query, path or JSON body); body replayed to Gradio."""
        found = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash", [None])[0]
        path = scope.get("path", "")
        for segment in _PATH_SESSION_SEGMENTS:
            if segment in path:
                found = found or path.split(segment, 1)[1].split("/", 1)[0]
        if scope.get("method") != "POST" or b"json" not in _header(scope, b"content-type"):
            return receive, found
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_JSON_BODY:
                break
        try:
            value = json.loads(body) if body else None
        except ValueError:
            value = None
        if isinstance(value, dict) and value.get("session_hash") is not None:
            found = found or str(value["session_hash"])
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay, found


def _header(scope: dict, name: bytes) -> bytes:
    return next((v for k, v in scope.get("headers") or [] if k == name), b"")


def _cookie_header(scope: dict) -> str:
    """The request's other cookies (kept), without ours."""
    jar = SimpleCookie()
    try:
        jar.load(b"; ".join(v for k, v in scope.get("headers") or [] if k == b"cookie").decode("latin-1"))
    except Exception:  # a malformed cookie header: drop it rather than fail the page
        return ""
    return "; ".join(f"{k}={m.value}" for k, m in jar.items() if k != COOKIE)


def _cookie(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    jar = SimpleCookie()
    try:
        jar.load(b"; ".join(v for k, v in headers if k == b"cookie").decode("latin-1"))
    except Exception:
        return None
    return jar[name].value if name in jar else None


def _https(scope: dict) -> bool:
    forwarded = _header(scope, b"x-forwarded-proto").decode("latin-1").split(",")[0].strip()
    return scope.get("scheme") == "https" or forwarded == "https"


def _set_cookie(token: str, https: bool) -> bytes:
    # A Space is shown inside an iframe on huggingface.co: a cross-site context, where only
    # SameSite=None; Secure cookies are sent (Partitioned keeps it to this embedding).
    site = "SameSite=None; Secure; Partitioned" if https else "SameSite=Lax"
    return f"{COOKIE}={token}; Path=/; Max-Age={COOKIE_MAX_AGE_S}; HttpOnly; {site}".encode()


async def _refuse(scope: dict, send: Callable) -> None:
    lang = language_of(_header(scope, b"accept-language").decode("latin-1"))
    body = json.dumps({"detail": text("spaces.session_taken", lang)}).encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def request_visitor(request: Any) -> tuple[str | None, str | None]:
    """(visitor token, HF username) of a ``gr.Request`` (or None, None when there is none)."""
    if request is None:
        return None, None
    cookies = getattr(request, "cookies", None) or {}
    try:
        token = cookies.get(COOKIE)
    except AttributeError:
        token = None
    underlying = getattr(request, "request", None) or request
    scope = getattr(underlying, "scope", None)
    session = scope.get("session", {}) if isinstance(scope, dict) else (getattr(underlying, "session", None) or {})
    info = session.get("oauth_info") if isinstance(session, dict) else None
    username = None
    if isinstance(info, dict) and (info.get("expires_at") is None or info["expires_at"] >= time.time()):
        username = (info.get("userinfo") or {}).get("preferred_username")
    return token, username
