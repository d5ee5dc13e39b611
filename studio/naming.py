"""Names from users never become paths: ids for paths, sanitized slugs for download names."""
from __future__ import annotations

import re
import unicodedata

_RESERVED = {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)} | {f"lpt{i}" for i in range(1, 10)}
_UNSAFE = re.compile(r"[^\w\-]+", re.UNICODE)


def safe_slug(text: str, fallback: str = "book", max_len: int = 60) -> str:
    """A file-name-safe slug that keeps Hangul and other letters: ``../../<b>할머니`` -> ``b-할머니``."""
    text = unicodedata.normalize("NFC", text or "").replace("\x00", "")
    slug = _UNSAFE.sub("-", text).strip("-_.").lower()
    slug = re.sub(r"-{2,}", "-", slug)[:max_len].strip("-_")
    if not slug or slug in _RESERVED or slug.split("-")[0] in _RESERVED:
        slug = f"{fallback}-{slug}" if slug else fallback
    return slug
