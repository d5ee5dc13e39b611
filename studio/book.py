"""The book and everything in it, as plain dataclasses.

Media (photos, audio, model files) are kept as *references* (content-hash file names from
``MediaStore``), never as bytes in the JSON. Every class round-trips through ``to_dict`` /
``from_dict``; unknown keys are ignored and missing keys take defaults, so older and newer
records both load. ``SCHEMA_VERSION`` is bumped together with a migration in ``store.py``.
"""
from __future__ import annotations

import dataclasses
import functools
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from studio.storage import StoreError

SCHEMA_VERSION = 1

LANGUAGES = ("ko", "en")
TONES = ("neutral", "warm", "cool")
CONTROL_KINDS = ("none", "openpose", "depth", "canny", "lineart")
POSE_HINTS = (
    "standing",
    "walking hand in hand",
    "hugging",
    "sitting together",
    "carrying a child",
    "waving",
    "reading together",
    "looking at the sky",
)
MIN_PAGES, MAX_PAGES = 4, 24

T = TypeVar("T")


class NotInBook(StoreError, ValueError, KeyError):
    """A page or voice id that is not (or no longer) in the book; the message is for the user."""

    def __str__(self) -> str:  # KeyError would quote the message
        return super().__str__() if self.args else "Not in this book."


def new_id() -> str:
    return uuid.uuid4().hex


def now() -> float:
    return time.time()


class Record:
    """Mixin: dict round-trip for nested dataclasses (lists and optionals of records too)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any] | None) -> T:
        data = data or {}
        hints = _hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                kwargs[f.name] = _convert(hints[f.name], data[f.name])
        return cls(**kwargs)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(hint)
    args = [a for a in get_args(hint) if a is not type(None)]
    if origin is list and args:
        return [_convert(args[0], v) for v in value]
    if origin is None and isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_dict(value)
    if args and len(args) == 1 and origin is not dict:  # Optional[X]
        return _convert(args[0], value)
    return value


@dataclass
class Consent(Record):
    """Permission to use a person's likeness or voice, given by a family member."""

    given_by: str = ""
    relation: str = ""
    date: str = ""
    statement: str = ""

    @property
    def complete(self) -> bool:
        return all(s.strip() for s in (self.given_by, self.relation, self.date, self.statement))


@dataclass
class Character(Record):
    """A recurring person in the story; ``description`` is the fixed visual description
    injected into every illustration prompt so the same grandmother appears on every page."""

    id: str = field(default_factory=new_id)
    name: str = ""
    description: str = ""
    relation: str = ""
    photos: list[str] = field(default_factory=list)
    consent: Consent | None = None
    # likeness (studio/likeness.py): a LoRA trained on her photos (media ref) and its trigger word
    lora: str = ""
    trigger_word: str = ""
    lora_weight: float = 0.8
    reference_photo: str = ""  # media ref of one photo for IP-Adapter likeness (needs consent)
    reference_scale: float = 0.6
    reference_faceid: bool = False  # the reference photo steers through her face (IP-Adapter FaceID)


@dataclass
class Memories(Record):
    """What the family typed on the Story tab."""

    subject_name: str = ""
    relation: str = ""  # "할머니", "grandmother"
    traits: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    anecdotes: list[str] = field(default_factory=list)
    photos: list[str] = field(default_factory=list)
    tone: str = "gentle fairy tale"
    reader_age: str = "5-8"


@dataclass
class LoraChoice(Record):
    """A style LoRA applied to a page: ``ref`` is a preset name or a media ref of a user file."""

    ref: str = ""
    weight: float = 0.8
    name: str = ""  # shown in the UI (a user file's original name; a preset file's own name)


@dataclass
class ControlSpec(Record):
    """ControlNet guidance for one page."""

    kind: str = "none"  # one of CONTROL_KINDS
    pose_id: str = ""  # a bundled pose name
    pose: dict[str, Any] | None = None  # OpenPose-18 people after edits: {"people": [[[x, y, c], ...]]}
    source_image: str | None = None  # media ref of a photo to detect pose/depth/edges from
    map_image: str | None = None  # media ref of the rendered control map actually used
    scale: float = 0.8
    start: float = 0.0
    end: float = 1.0


@dataclass
class ImageSpec(Record):
    """Everything needed to (re)produce a page image."""

    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    seed_locked: bool = False
    steps: int = 25
    guidance: float = 7.0
    width: int = 512
    height: int = 512
    scheduler: str = "default"
    style: str = ""
    loras: list[LoraChoice] = field(default_factory=list)
    control: ControlSpec = field(default_factory=ControlSpec)
    init_image: str | None = None  # media ref for img2img
    strength: float = 0.6
    tone: str = "neutral"  # one of TONES


@dataclass
class ImageVariant(Record):
    """A generated image with the exact parameters that made it."""

    id: str = field(default_factory=new_id)
    image: str = ""  # media ref
    params: dict[str, Any] = field(default_factory=dict)
    backend: str = ""
    created: float = field(default_factory=now)


@dataclass
class NarrationTake(Record):
    """One spoken rendering of a page."""

    id: str = field(default_factory=new_id)
    audio: str = ""  # media ref (wav)
    duration_s: float = 0.0
    speaker: str = ""
    converter: str = ""
    voice_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=now)


@dataclass
class Page(Record):
    id: str = field(default_factory=new_id)
    text: str = ""
    illustration_prompt: str = ""  # English, for Stable Diffusion
    characters: list[str] = field(default_factory=list)  # character names on the page
    setting: str = ""
    mood: str = ""
    pose_hint: str = "standing"
    image: ImageSpec = field(default_factory=ImageSpec)
    variants: list[ImageVariant] = field(default_factory=list)
    chosen_variant: str | None = None
    locked: bool = False  # skipped by "illustrate the whole book"
    takes: list[NarrationTake] = field(default_factory=list)
    chosen_take: str | None = None

    def chosen_image(self) -> ImageVariant | None:
        return next((v for v in self.variants if v.id == self.chosen_variant), None)

    def chosen_narration(self) -> NarrationTake | None:
        return next((t for t in self.takes if t.id == self.chosen_take), None)


@dataclass
class Recording(Record):
    """An uploaded recording of the loved one and what was made of it."""

    id: str = field(default_factory=new_id)
    audio: str = ""  # media ref of the normalised wav
    original_name: str = ""
    duration_s: float = 0.0
    sample_rate: int = 0
    clips: list[str] = field(default_factory=list)  # media refs of 3-10 s clips
    rejected: list[str] = field(default_factory=list)  # reasons for clips not kept


@dataclass
class Voice(Record):
    id: str = field(default_factory=new_id)
    name: str = ""
    language: str = "ko"
    recordings: list[Recording] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)  # measured pitch/envelope summary
    model_files: dict[str, str] = field(default_factory=dict)  # {"pth": ref, "index": ref}
    speaker: str = ""  # speech backend name
    converter: str = ""  # voice conversion backend name
    conversion: dict[str, Any] = field(default_factory=dict)  # transpose, index_rate, protect, ...
    consent: Consent | None = None


@dataclass
class Book(Record):
    id: str = field(default_factory=new_id)
    owner: str = ""
    title: str = ""
    dedicated_to: str = ""
    language: str = "ko"
    style: str = ""
    page_count: int = 6
    memories: Memories = field(default_factory=Memories)
    characters: list[Character] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    voices: list[Voice] = field(default_factory=list)
    narration_voice: str | None = None  # Voice.id used for narration
    cover_image: str | None = None  # media ref; defaults to the first chosen page image
    schema_version: int = SCHEMA_VERSION
    created: float = field(default_factory=now)
    updated: float = field(default_factory=now)
    # Never stored: why a record in the library could not be read (listing shows it as damaged).
    damaged: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.pop("damaged", None)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Book":
        data = {k: v for k, v in (data or {}).items() if k != "damaged"}
        return super().from_dict(data)

    def page(self, page_id: str) -> Page:
        for p in self.pages:
            if p.id == page_id:
                return p
        raise NotInBook("store.page_gone")

    def voice(self, voice_id: str) -> Voice:
        for v in self.voices:
            if v.id == voice_id:
                return v
        raise NotInBook("store.voice_gone")

    def cover(self) -> str | None:
        if self.cover_image:
            return self.cover_image
        for p in self.pages:
            chosen = p.chosen_image()
            if chosen:
                return chosen.image
        return None

    def media_refs(self) -> set[str]:
        """Every media file this book points to (for export archives and clean-up)."""
        refs: set[str] = set(self.memories.photos)
        if self.cover_image:
            refs.add(self.cover_image)
        for c in self.characters:
            refs.update(c.photos)
        for p in self.pages:
            refs.update(v.image for v in p.variants)
            refs.update(t.audio for t in p.takes)
            for ref in (p.image.init_image, p.image.control.source_image, p.image.control.map_image):
                if ref:
                    refs.add(ref)
            refs.update(lo.ref for lo in p.image.loras if is_media_ref(lo.ref))
        for v in self.voices:
            for r in v.recordings:
                refs.add(r.audio)
                refs.update(r.clips)
            refs.update(v.model_files.values())
        refs.discard("")
        return refs

    def forget_media(self, missing: set[str]) -> None:
        """Drop every reference to these files, keeping the book usable (an import that does not
        carry a file, or names one the owner does not have). Mirrors ``media_refs`` field by field."""
        if not missing:
            return
        self.memories.photos = [p for p in self.memories.photos if p not in missing]
        if self.cover_image in missing:
            self.cover_image = None
        for c in self.characters:
            c.photos = [p for p in c.photos if p not in missing]
        for p in self.pages:
            p.variants = [v for v in p.variants if v.image not in missing]
            if p.chosen_variant and not any(v.id == p.chosen_variant for v in p.variants):
                p.chosen_variant = p.variants[-1].id if p.variants else None
            p.takes = [t for t in p.takes if t.audio not in missing]
            if p.chosen_take and not any(t.id == p.chosen_take for t in p.takes):
                p.chosen_take = p.takes[-1].id if p.takes else None
            spec = p.image
            if spec.init_image in missing:
                spec.init_image = None
            if spec.control.source_image in missing:
                spec.control.source_image = None
            if spec.control.map_image in missing:
                spec.control.map_image = None
            spec.loras = [lo for lo in spec.loras if lo.ref not in missing]
        for v in self.voices:
            v.recordings = [r for r in v.recordings if r.audio not in missing]
            for r in v.recordings:
                r.clips = [c for c in r.clips if c not in missing]
            v.model_files = {k: ref for k, ref in v.model_files.items() if ref not in missing}


def is_media_ref(ref: str) -> bool:
    from studio.media import MEDIA_REF  # local import: media depends on nothing in book

    return bool(MEDIA_REF.fullmatch(ref or ""))
