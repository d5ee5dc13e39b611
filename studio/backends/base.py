"""One small protocol per kind of model. Each has real implementations (loaded lazily by hub
id or local path) and an offline one that works on a fresh machine.

Every backend class takes ``Settings`` in its constructor, must construct cheaply (no heavy
imports, no weights loaded), and answers ``available()`` with a human reason when it cannot run.
"""
from __future__ import annotations

import importlib.util
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol, TypeVar, runtime_checkable

from studio.messages import Localized, has_key, text

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    from PIL import Image

    from studio.book import ImageSpec

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run, and why: a message key and its values (said in the visitor's
    language by the Settings tab and inside error messages); ``reason`` is the English text for
    logs and tests. A reason that is not a key (a library's own words) is kept as it is."""

    ok: bool
    reason: str = ""
    key: str = ""
    values: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def said(cls, ok: bool, key: str, **values: Any) -> "Availability":
        if has_key(key):
            return cls(ok, text(key, "en", **values), key, dict(values))
        return cls(ok, key)

    @classmethod
    def yes(cls, key: str = "avail.ready", **values: Any) -> "Availability":
        return cls.said(True, key, **values)

    @classmethod
    def no(cls, key: str, **values: Any) -> "Availability":
        return cls.said(False, key, **values)

    def said_in(self, lang: str | None = None) -> str:
        return text(self.key, lang, **self.values) if self.key else self.reason


class BackendError(Localized, RuntimeError):
    """A failure to show the user as-is (missing model, bad key, bad file...)."""


class Cancelled(Localized, RuntimeError):
    """The user pressed cancel; partial results already saved stay saved."""


class CancelToken:
    """Shared between a UI cancel button and a running job."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("common.stopped")


def wait_or_cancel(seconds: float, cancel: "CancelToken | None", step_s: float = 0.05) -> None:
    """Sleep ``seconds`` (a retry's backoff), raising ``Cancelled`` as soon as the visitor cancels."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if cancel:
            cancel.raise_if_cancelled()
        time.sleep(min(step_s, left))


class Transient(BackendError):
    """Busy or briefly failing (429, 503 loading, a timeout): worth another try after a wait."""


def retrying(send: Callable[[], _T], retries: int, backoff_s: float, cancel: "CancelToken | None" = None) -> _T:
    """Run ``send``; after a ``Transient`` failure wait and try again (the wait doubles, at most
    30 s), at most ``retries`` more times; the last failure is raised as it is. Every engine that
    talks to a server (writers, remote painters, remote voices) retries through this one loop."""
    delay = max(0.0, backoff_s)
    for attempt in range(max(0, retries) + 1):
        if cancel:
            cancel.raise_if_cancelled()
        try:
            return send()
        except Transient as exc:
            if attempt >= retries:
                raise
            _log.info("%s; trying again in %.2fs (%d/%d)", exc, delay, attempt + 1, retries)
            wait_or_cancel(delay, cancel)
            delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")


def missing_packages(*modules: str) -> list[str]:
    """Which of these importable module names are absent (checked without importing them)."""
    missing = []
    for name in modules:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    return missing


@runtime_checkable
class Backend(Protocol):
    name: str  # registry key, e.g. "storyteller"
    label: str  # shown in the UI, e.g. "Offline storyteller"

    def available(self) -> Availability: ...


# -- story ------------------------------------------------------------------------------------
@dataclass
class PageDraft:
    text: str
    illustration_prompt: str
    characters: list[str] = field(default_factory=list)
    setting: str = ""
    mood: str = ""
    pose_hint: str = "standing"


@dataclass
class CharacterDraft:
    name: str
    description: str


@dataclass
class StoryDraft:
    title: str
    pages: list[PageDraft]
    characters: list[CharacterDraft] = field(default_factory=list)


@dataclass
class StoryRequest:
    """What the family remembered, plus how the book should read."""

    subject_name: str
    relation: str = ""
    traits: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    anecdotes: list[str] = field(default_factory=list)
    tone: str = "gentle fairy tale"
    reader_age: str = "5-8"
    page_count: int = 6
    language: str = "ko"
    seed: int = 0
    title_hint: str = ""
    speech_level: str = ""  # Korean: "haeyo" (default), "haera" or "hapsyo"
    child_name: str = ""  # the child the book talks to ("" -> 아이 / the child)


class StoryWriter(Backend, Protocol):
    def write_story(self, request: StoryRequest, cancel: CancelToken | None = None) -> StoryDraft: ...

    def rewrite_page(self, request: StoryRequest, pages: list[PageDraft], index: int,
                     cancel: CancelToken | None = None) -> PageDraft: ...


# -- pictures ---------------------------------------------------------------------------------
StepCallback = Callable[[int, int, "Image.Image | None"], None]  # (step, total, preview)


@dataclass
class IllustrationRequest:
    spec: "ImageSpec"
    prompt: str  # final prompt (style + characters + page), composed by studio.illustrate
    negative_prompt: str = ""
    control_image: "Image.Image | None" = None
    init_image: "Image.Image | None" = None
    lora_paths: dict[str, str] = field(default_factory=dict)  # adapter name -> .safetensors path
    page_context: dict[str, Any] = field(default_factory=dict)  # setting, mood, pose people (sketch)
    reference_image: "Image.Image | None" = None  # a character's photo for IP-Adapter (studio.likeness)
    reference_scale: float = 0.0
    reference_faceid: bool = False  # her face's identity (IP-Adapter FaceID) instead of the whole photo


class Illustrator(Backend, Protocol):
    def illustrate(self, request: IllustrationRequest, on_step: StepCallback | None = None,
                   cancel: CancelToken | None = None) -> "Image.Image": ...


class MapDetector(Backend, Protocol):
    """Pose keypoints, depth or edge maps from a photo."""

    def detect(self, image: "Image.Image") -> Any: ...


# -- voice ------------------------------------------------------------------------------------
@dataclass
class Audio:
    samples: "np.ndarray"  # float32 mono in [-1, 1]
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)


class Speaker(Backend, Protocol):
    def speak(self, text: str, language: str, **options: Any) -> Audio: ...


class VoiceConverter(Backend, Protocol):
    def convert(self, audio: Audio, voice: Any, **options: Any) -> Audio: ...
