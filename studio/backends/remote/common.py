"""What the remote backends share: per-visitor credentials, error messages for HTTP answers,
bounded retries with backoff, picture checks and small wire-format helpers."""
from __future__ import annotations

import base64
import io
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TypeVar
from urllib.parse import urlsplit, urlunsplit

from studio.backends.base import BackendError, CancelToken, Cancelled, Transient, retrying  # noqa: F401 (re-exported)

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

log = logging.getLogger(__name__)
T = TypeVar("T")


# -- credentials ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Credentials:
    """Whose account pays for a job. ``hf_token`` is the visitor's OAuth token (Spaces login) or
    empty; it lives only as long as the job that carries it."""

    hf_token: str = field(default="", repr=False)
    user: str = ""  # the visitor's Hugging Face user name, shown as "whose quota"

    def __repr__(self) -> str:  # a token must never reach a log line through an object's repr
        return f"Credentials(user={self.user!r}, hf_token={'***' if self.hf_token else ''!r})"


def visitor_credentials(oauth_token: Any = None, profile: Any = None) -> Credentials | None:
    """Credentials from Gradio's ``gr.OAuthToken`` / ``gr.OAuthProfile`` (duck-typed: studio/
    never imports gradio); None when the visitor has not logged in."""
    token = getattr(oauth_token, "token", None) if oauth_token is not None else None
    if not token:
        return None
    user = getattr(profile, "username", "") or getattr(profile, "preferred_username", "") or ""
    return Credentials(hf_token=str(token), user=str(user))


class VisitorBound:
    """One visitor's view of a shared remote backend: same protocol, carrying that visitor's
    credentials for the jobs it runs. Made per job; the shared backend keeps no token."""

    def __init__(self, backend: Any, credentials: Credentials) -> None:
        self._backend = backend
        self._credentials = credentials

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def __repr__(self) -> str:
        return f"VisitorBound({self._backend.name}, {self._credentials!r})"

    def illustrate(self, request, on_step=None, cancel=None):
        return self._backend.illustrate(request, on_step=on_step, cancel=cancel, credentials=self._credentials)

    def speak(self, text: str, language: str, **options: Any):
        return self._backend.speak(text, language, credentials=self._credentials, **options)

    def write_story(self, request, cancel=None):
        return self._backend.write_story(request, cancel, credentials=self._credentials)

    def rewrite_page(self, request, pages, index, cancel=None):
        return self._backend.rewrite_page(request, pages, index, cancel, credentials=self._credentials)


def with_credentials(backend: Any, credentials: Credentials | None) -> Any:
    """``backend`` as this visitor sees it: bound to their credentials when it takes any."""
    if credentials is None or not getattr(backend, "takes_credentials", False):
        return backend
    return VisitorBound(backend, credentials)


def safe_url(url: str) -> str:
    """An address fit for logs and the Settings tab: user:password@ removed, no query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def split_urls(value: str) -> list[str]:
    return [u.strip().rstrip("/") for u in (value or "").split(",") if u.strip()]


def kind_map(value: str) -> dict[str, str]:
    """``"openpose=model_a, depth=model_b"`` -> {"openpose": "model_a", "depth": "model_b"}."""
    out = {}
    for item in (value or "").split(","):
        kind, sep, name = item.partition("=")
        if sep and kind.strip() and name.strip():
            out[kind.strip()] = name.strip()
    return out


# -- failures -------------------------------------------------------------------------------------
class WorkerDown(BackendError):
    """This server cannot take work now (unreachable, 5xx): a pool tries the next one."""


def status_error(code: int, service: str, model: str = "", detail: str = "") -> BackendError:
    """The message for an HTTP error answer from a remote engine (never includes a token)."""
    detail = " ".join(str(detail or "").split())[:200]
    if code in (401, 403):
        return BackendError("remote.bad_token", service=service)
    if code == 402:
        return BackendError("remote.quota", service=service)
    if code == 429:
        return Transient("remote.quota", service=service)
    if code == 404:
        return BackendError("remote.model_not_found", service=service, model=model or "?")
    if code in (408, 504):
        return Transient("remote.timeout", service=service)
    if code == 503:
        return Transient("remote.busy", service=service)
    if code >= 500:
        return WorkerDown("remote.server_error", service=service, code=code)
    return BackendError("remote.refused", service=service, code=code, detail=detail)


def abandon_on_cancel(work: Callable[[], T], cancel: CancelToken | None, poll_s: float = 0.05) -> T:
    """Run ``work`` in a thread; return its result, or raise ``Cancelled`` as soon as the visitor
    cancels (the server's answer, when it comes, is discarded: nothing is stored)."""
    if cancel is None:
        return work()
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # re-raised below in the caller's thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="gieok-remote-call", daemon=True).start()
    while not done.wait(poll_s):
        if cancel.cancelled:
            raise Cancelled("common.stopped")
    cancel.raise_if_cancelled()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# -- pictures -------------------------------------------------------------------------------------
def png_bytes(image: "Image.Image") -> bytes:
    """PNG for the wire: the bytes the picture already has (a cached control map), else light
    compression (a pose map shrinks as well; encoding is 4x faster)."""
    from studio.png_chunks import remembered_png

    if (kept := remembered_png(image)) is not None:
        return kept
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def png_b64(image: "Image.Image") -> str:
    return base64.b64encode(png_bytes(image)).decode("ascii")


def image_from_bytes(data: bytes, service: str) -> "Image.Image":
    """A checked picture from a server's answer; a black one means its safety filter hid it."""
    from PIL import Image, UnidentifiedImageError

    from studio.png_chunks import remember_png

    try:
        with Image.open(io.BytesIO(data)) as img:
            plain_png = img.format == "PNG" and img.mode == "RGB"
            image = img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        raise BackendError("remote.bad_image", service=service) from None
    refuse_if_filtered(image, service)
    # stored as the server compressed it (chunks rewritten, pixels untouched): no second encoding
    return remember_png(image, data) if plain_png else image


def image_from_b64(text: str, service: str) -> "Image.Image":
    if "," in text[:100] and text.startswith("data:"):
        text = text.split(",", 1)[1]
    try:
        data = base64.b64decode(text, validate=False)
    except (ValueError, TypeError):
        raise BackendError("remote.bad_image", service=service) from None
    return image_from_bytes(data, service)


def refuse_if_filtered(image: "Image.Image", service: str) -> None:
    """Safety filters (A1111's NSFW checker, many providers) answer with an all-black picture."""
    low, high = image.convert("L").getextrema()
    if high <= 8:
        raise BackendError("remote.nsfw", service=service)


# Studio scheduler names -> the names each engine uses (A1111 sampler, ComfyUI sampler_name).
A1111_SAMPLERS = {"default": "Euler a", "euler": "Euler", "euler_a": "Euler a", "dpm++_2m": "DPM++ 2M",
                  "ddim": "DDIM", "unipc": "UniPC", "lcm": "LCM"}
COMFY_SAMPLERS = {"default": "euler_ancestral", "euler": "euler", "euler_a": "euler_ancestral",
                  "dpm++_2m": "dpmpp_2m", "ddim": "ddim", "unipc": "uni_pc", "lcm": "lcm"}
