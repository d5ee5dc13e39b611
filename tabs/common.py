"""What every tab receives from the app shell, and small helpers tabs share.

This is not a tab: tabs import it, never each other. A tab module exposes
``TITLE`` (an i18n key), ``STRINGS = {"en": {...}, "ko": {...}}`` and ``build(ctx, tab)``.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from studio.backends.base import BackendError, Cancelled
from studio.media import MediaError
from studio.messages import language_of, text
from studio.session_guard import request_visitor
from studio.services import Services
from studio.storage import StoreError
from studio.visitors import owner_matches

log = logging.getLogger("gieok.ui")

# Errors whose messages are written for users; anything else is logged and shown generically.
USER_ERRORS: tuple[type[BaseException], ...] = (StoreError, BackendError, MediaError, ValueError)


@dataclass
class TabContext:
    services: Services
    owner: gr.State  # the visitor's owner id (made in demo.load), never chosen by the browser alone
    book_id: gr.State  # the open book's id, or None
    i18n: gr.I18n
    tabs: gr.Tabs | None = None  # the studio's tab strip, to move the visitor along (e.g. to "story")

    def t(self, key: str) -> Any:
        return self.i18n(key)


def user_errors(fn: Callable) -> Callable:
    """Turn known failures into ``gr.Error`` with their message; hide internal errors."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Cancelled as exc:
            raise gr.Error(str(exc) or "Stopped.", title="Stopped") from None
        except USER_ERRORS as exc:
            raise gr.Error(str(exc)) from None
        except Exception:
            log.exception("internal error in %s", fn.__name__)
            raise gr.Error("Something went wrong on our side. Your saved work is safe; please try again.") from None

    return wrapper


def current_request() -> gr.Request | None:
    """The request of the event being handled (Gradio sets it for every call and every step of
    a generator, lambdas included, so no handler signature has to ask for it)."""
    from gradio.context import LocalContext

    return LocalContext.request.get(None)


def require_owner(owner: str | None) -> str:
    """The visitor's owner id, checked against this call's own token/login (not only the
    ``gr.State`` filled at load, which follows the browser-chosen session hash)."""
    request = current_request()
    lang = language_of(request.headers.get("accept-language") if request is not None else None)
    if not owner:
        raise gr.Error(text("spaces.session_not_started", lang))
    if owner != "local" and not owner_matches(owner, *request_visitor(request)):
        raise gr.Error(text("spaces.session_taken", lang))
    return owner


def require_book(book_id: str | None) -> str:
    if not book_id:
        raise gr.Error("Open a book in the Library first. / 먼저 서재에서 책을 열어 주세요.")
    return book_id
