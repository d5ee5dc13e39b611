"""Long work (writing, illustrating, narrating, exporting) as cancellable jobs per visitor.

A flow is a generator of ``Progress`` events; the tab maps each to a UI update. The Cancel button
calls ``jobs.cancel(owner, kind)``, which sets the token the running flow checks (diffusers checks
it every denoising step, page loops every page).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from studio.backends.base import CancelToken
from studio.messages import has_key, text


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


class Jobs:
    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], CancelToken] = {}
        self._lock = threading.Lock()

    def start(self, owner: str, kind: str) -> CancelToken:
        """A fresh token for this visitor's job of this kind (a previous one is cancelled)."""
        token = CancelToken()
        with self._lock:
            old = self._tokens.get((owner, kind))
            if old is not None:
                old.cancel()
            self._tokens[(owner, kind)] = token
        return token

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
