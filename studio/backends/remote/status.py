"""What the Settings tab shows about remote engines: which are set up, whether each server
answers (the "test connection" button), and whose Hugging Face allowance pays. Addresses are
shown without passwords; tokens never appear."""
from __future__ import annotations

from typing import Any

from studio.backends.base import BackendError
from studio.backends.remote.common import Credentials, safe_url, split_urls
from studio.messages import text

ENGINES = (("illustrator", "a1111"), ("illustrator", "comfyui"), ("illustrator", "hf"), ("speaker", "hf"),
           ("writer", "hf"))


def configured(services) -> list[Any]:
    """The remote backends that have an address or a model set (no network call)."""
    found = []
    for kind, name in ENGINES:
        backend = services.backends.get(kind, name)
        status = backend.available()
        if status.ok or not status.key.endswith(("_unset", "_no_model")):  # nothing set: not configured at all
            found.append(backend)
    return found


def overview(services, lang: str) -> list[list[str]]:
    """One row per configured engine: [engine, address, status] from settings alone."""
    rows = []
    for backend in configured(services):
        status = backend.available()
        line = ("" if status.ok else "✗ ") + status.said_in(lang)
        if backend.name == "hf" and backend is services.backends.get("illustrator", "hf"):
            line += " · " + text("remote.not_reproducible", lang, service="Hugging Face")  # providers differ
        rows.append([backend.label, _addresses(services.settings, backend), line])
    return rows or [["", "", text("remote.none_configured", lang)]]


def test_connections(services, credentials: Credentials | None, lang: str) -> list[list[str]]:
    """Ask every configured server now: one row per server, its problem in the visitor's language."""
    rows = []
    for backend in configured(services):
        if backend.name == "hf":
            try:
                backend.check(credentials)
                rows.append([backend.label, _addresses(services.settings, backend), text("remote.ok", lang)])
            except BackendError as exc:
                rows.append([backend.label, _addresses(services.settings, backend), "✗ " + exc.render(lang)])
            continue
        for address, problem in backend.check():
            rows.append([backend.label, address, "✗ " + problem.render(lang) if problem else text("remote.ok", lang)])
    return rows or [["", "", text("remote.none_configured", lang)]]


def quota_note(settings, credentials: Credentials | None, lang: str) -> str:
    """Whose Hugging Face allowance pays for pictures and voices made through it."""
    if credentials is not None and credentials.hf_token:
        return text("remote.quota_visitor", lang, user=credentials.user or "Hugging Face")
    if settings.hf_token():
        return text("remote.quota_space", lang)
    return text("remote.quota_nobody", lang)


def _addresses(settings, backend) -> str:
    if backend.name == "a1111":
        return ", ".join(safe_url(u) for u in split_urls(settings.a1111_urls))
    if backend.name == "comfyui":
        return ", ".join(safe_url(u) for u in split_urls(settings.comfyui_urls))
    return safe_url(settings.hf_base_url) or "router.huggingface.co"
