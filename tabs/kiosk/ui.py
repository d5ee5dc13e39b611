"""What every kiosk screen shares: the visitor's states, the screens, words in two languages.

The kiosk switches language on a button (not the browser's locale), so every word on screen is
registered here with its message key and re-rendered by :meth:`KioskUI.relabel`.
"""
from __future__ import annotations

import functools
import inspect
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import gradio as gr

from studio.kiosk import Kiosk
from studio.messages import Localized, language_of, text
from studio.services import Services
from studio.session_guard import request_visitor
from studio.visitors import owner_matches

log = logging.getLogger("gieok.kiosk")
STEPS = ("welcome", "consent", "memories", "making", "playback", "take_home", "operator")


@dataclass
class KioskUI:
    services: Services
    kiosk: Kiosk
    owner: gr.State
    lang: gr.State
    book_id: gr.State
    page: gr.State
    steps: dict[str, gr.Column] = field(default_factory=dict)
    screen: Any = None  # a hidden textbox naming the screen shown (the API's view of where the visitor is)
    parts: dict[str, Any] = field(default_factory=dict)  # components other screens need
    _words: list[tuple[Any, dict[str, str]]] = field(default_factory=list)

    @property
    def default_language(self) -> str:
        return self.kiosk.settings.language

    def say(self, component: Any, **keys: str) -> Any:
        """Register a component's words: ``say(gr.Button(), value="kiosk.start")``."""
        self._words.append((component, keys))
        return component

    def words(self, **keys: str) -> dict[str, str]:
        """The initial values for a component (the operator's default language)."""
        return {attr: text(key, self.default_language) for attr, key in keys.items()}

    @property
    def worded(self) -> list[Any]:
        return [component for component, _ in self._words]

    def relabel(self, lang: str) -> list[Any]:
        return [gr.update(**{attr: text(key, lang) for attr, key in keys.items()}) for _, keys in self._words]

    @property
    def lang_buttons(self) -> list[Any]:
        return [self.parts["to_ko"], self.parts["to_en"]]

    def lang_marks(self, lang: str) -> list[Any]:
        """The chosen language's button stands out."""
        return [gr.update(variant="primary" if lang == code else "secondary") for code in ("ko", "en")]

    @property
    def screens(self) -> list[Any]:
        return [*(self.steps[name] for name in STEPS), self.screen]

    def show(self, name: str) -> list[Any]:
        return [*(gr.update(visible=(step == name)) for step in STEPS), name]


def t(key: str, lang: str | None, **values: Any) -> str:
    return text(key, lang, **values)


def visitor(owner: str | None, lang: str | None = None) -> str:
    """The visitor's owner id, checked against this call's own cookie token."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    if not owner or not owner_matches(owner, *request_visitor(request)):
        raise gr.Error(t("kiosk.session_lost", lang))
    return owner


def client_of() -> str:
    """Who is typing a PIN: the network address (a kiosk reload makes a new visitor, not a new client)."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    host = getattr(getattr(request, "client", None), "host", None) if request is not None else None
    return str(host or "unknown")


def kind_words(lang_index: int = 0) -> Callable:
    """Turn a refused action into a gentle message in the visitor's language (``lang`` is the
    handler's argument at ``lang_index``); internal errors are logged, never shown."""

    def decorate(fn: Callable) -> Callable:
        def gentle(exc: BaseException, lang: str) -> BaseException:
            if isinstance(exc, gr.Error):
                return exc
            if isinstance(exc, Localized):
                return gr.Error(exc.render(lang))
            log.error("kiosk: %s failed", fn.__name__, exc_info=exc)
            return gr.Error(t("kiosk.something_wrong", lang))

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def streaming(*args, **kwargs):
                lang = language_of(str(args[lang_index])) if args else "ko"
                try:
                    yield from fn(*args, **kwargs)
                except Exception as exc:
                    raise gentle(exc, lang) from None
            return streaming

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            lang = language_of(str(args[lang_index])) if args else "ko"
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                raise gentle(exc, lang) from None

        return wrapper

    return decorate
