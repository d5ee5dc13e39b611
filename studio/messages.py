"""Message keys: ``studio/`` names a message, the catalogues in ``locales/`` say it.

A translator edits ``locales/<lang>/<area>.json`` (flat ``"area.name": "text {value}"`` pairs,
one file per part of the studio, no Python). Code raises errors with a key and values::

    raise StoreError("store.title_missing")
    raise BackendError("voice.too_short", seconds=3.2)

and the UI renders them in the visitor's language with :func:`text` / ``exc.render(lang)``.
``str(exc)`` is the English text, so logs and tests read naturally.
"""
from __future__ import annotations

import json
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
LANGUAGES = ("ko", "en")
DEFAULT_LANGUAGE = "en"


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    """Every key of one language, merged from ``locales/<lang>/*.json``."""
    merged: dict[str, str] = {}
    folder = LOCALES_DIR / lang
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        for key, value in json.loads(path.read_text(encoding="utf-8")).items():
            if key in merged:
                raise ValueError(f"{path}: key {key!r} is defined twice in locales/{lang}")
            merged[key] = value
    return merged


def language_of(value: str | None) -> str:
    """'ko', 'ko-KR', 'en-US,en;q=0.9' ... -> a supported language (English when unknown)."""
    for part in (value or "").replace("_", "-").split(","):
        code = part.split(";")[0].strip().lower().split("-")[0]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def has_key(key: str) -> bool:
    return key in catalogue(DEFAULT_LANGUAGE)


def text(key: str, lang: str | None = None, **values: Any) -> str:
    """The message in ``lang`` (falling back to English, then to the key itself)."""
    lang = language_of(lang)
    template = catalogue(lang).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or key
    # A value may itself be a key (a backend's label, a reason): say it in the same language.
    # A value that knows how to say itself (a backend's Availability) is said in the same language too.
    values = {name: text(v, lang) if isinstance(v, str) and has_key(v)
              else v.said_in(lang) if hasattr(v, "said_in") else v for name, v in values.items()}
    try:
        return string.Formatter().vformat(template, (), _Defaulting(values))
    except (ValueError, IndexError):  # a broken translation must not break the page
        return template


class _Defaulting(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Localized:
    """Mixin for exceptions whose message is shown to a person.

    The first argument is a message key (``"store.title_missing"``); keyword arguments are its
    values. Text that is not a key is shown as it is (kept only for messages from libraries).
    """

    def __init__(self, key: str = "", *args: Any, **values: Any) -> None:
        super().__init__(key, *args)
        self.key = key
        self.values = values

    def render(self, lang: str | None = None) -> str:
        if not self.key:
            return ""
        return text(self.key, lang, **self.values) if has_key(self.key) else self.key

    def __str__(self) -> str:
        try:
            return self.render(DEFAULT_LANGUAGE)
        except Exception:  # a damaged catalogue must never hide the error itself
            return f"{self.key} {self.values}" if self.values else self.key


class UserError(Localized, ValueError):
    """A request the studio refuses before doing any work (a missing name, too many pages...)."""
