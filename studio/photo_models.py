"""Optional models for photo preparation, used only when the family (or whoever runs the studio)
configures them: a captioning model (BLIP) that describes each kept photo, and a transformers
object detector (DETR or YOLOS trained on COCO) that finds whole people.

Both go through the studio's one model-source check (``model_sources``: a folder, or a hub id
already downloaded unless downloads are allowed) and its one device decision
(``torch_device.choose_placement``). Nothing here runs by default: preparation stays offline with
the template captions and the bundled detectors. A model that is configured but cannot be loaded
stops the preparation with a message naming it, before any photo is touched, rather than quietly
giving the family template captions or other crops than the ones they asked for.

Loaded models are shared per source (``shared``): preparing forty photos, then a pose from a
photo, loads each model once.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from studio.backends.base import Availability, BackendError
from studio.backends.model_sources import TRANSFORMERS_MARKERS, check_source, load_kwargs, model_availability

Box = tuple[int, int, int, int]
MAX_CAPTION_CHARS = 200  # a model's words are untrusted: one line, capped (the family can edit it)
PERSON_LABELS = ("person",)  # COCO's label for people (DETR and YOLOS checkpoints name it so)


def _placement(settings: Any):
    from studio.backends.torch_device import choose_placement

    return choose_placement(getattr(settings, "device", "auto"))


class _ConfiguredModel:
    setting = ""  # the Settings field naming the model
    env = ""  # its environment variable (for the Settings tab's details only, never in messages)
    missing_key = ""  # message key when it is configured but cannot be found
    unreadable_key = ""  # ... when it is there but cannot be loaded

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None
        self._device = "cpu"

    @property
    def source(self) -> str:
        return str(getattr(self.settings, self.setting, "") or "").strip()

    def configured(self) -> bool:
        return bool(self.source)

    def available(self) -> Availability:
        return model_availability(self.source, self.env, "torch", "transformers", markers=TRANSFORMERS_MARKERS)

    def check(self) -> None:
        """Refuse, naming the model, when it is configured but cannot be loaded here."""
        status = check_source(self.source, self.env, TRANSFORMERS_MARKERS, single_file=False)
        if not status.usable:
            raise BackendError(self.missing_key, source=self.source)

    def _ensure(self) -> tuple[Any, Any]:
        if self._loaded is None:
            self.check()
            try:
                self._loaded = self._load()
            except (OSError, ValueError, KeyError, ImportError) as exc:  # ImportError: e.g. DETR without timm
                raise BackendError(self.unreadable_key, source=self.source,
                                   detail=str(exc)[:300]) from exc
        return self._loaded

    def _load(self) -> tuple[Any, Any]:
        raise NotImplementedError


class PhotoCaptioner(_ConfiguredModel):
    """BLIP (``BlipForConditionalGeneration``): a few words about a photo, e.g. "a woman sitting
    on a bench in a park", added after the trigger phrase of the caption template."""

    setting, env = "caption_model", "GIEOK_CAPTION_MODEL"
    missing_key, unreadable_key = "likeness.caption_model_missing", "likeness.caption_model_unreadable"

    def _load(self) -> tuple[Any, Any]:
        from transformers import BlipForConditionalGeneration, BlipProcessor

        placement = _placement(self.settings)
        processor = BlipProcessor.from_pretrained(self.source, **load_kwargs(self.source))
        model = BlipForConditionalGeneration.from_pretrained(self.source, dtype=placement.dtype,
                                                             **load_kwargs(self.source))
        self._device = placement.device
        return processor, model.to(placement.device).eval()

    def describe(self, image, max_words: int = 30) -> str:
        import torch

        with self._lock:
            processor, model = self._ensure()
            inputs = processor(images=image.convert("RGB"), return_tensors="pt").to(self._device, model.dtype)
            with torch.inference_mode():
                tokens = model.generate(**inputs, max_new_tokens=max_words)
            words = processor.decode(tokens[0], skip_special_tokens=True)
        return clean_caption(words)


def clean_caption(words: str) -> str:
    """One line of plain words: no commas doubling as caption separators at the ends, capped."""
    words = " ".join(str(words).replace("\n", " ").split()).strip(" ,.")
    return words[:MAX_CAPTION_CHARS].rstrip(" ,")


class PersonDetector(_ConfiguredModel):
    """Whole people in a photo (COCO "person") with a transformers object detector (DETR, YOLOS):
    finds a grandmother seen from behind or far away, where no face detector can."""

    setting, env = "person_detector", "GIEOK_PERSON_DETECTOR"
    missing_key, unreadable_key = "likeness.detector_model_missing", "likeness.detector_model_unreadable"
    threshold = 0.7

    def _load(self) -> tuple[Any, Any]:
        from transformers import AutoImageProcessor, AutoModelForObjectDetection

        placement = _placement(self.settings)
        processor = AutoImageProcessor.from_pretrained(self.source, **load_kwargs(self.source))
        # float32 everywhere: the model is small, and its boxes are what we use
        model = AutoModelForObjectDetection.from_pretrained(self.source, **load_kwargs(self.source))
        labels = {i for i, name in (model.config.id2label or {}).items() if str(name).lower() in PERSON_LABELS}
        if not labels:
            raise BackendError("likeness.detector_no_person", source=self.source)
        self._device = placement.device
        self._person_ids = labels
        return processor, model.to(placement.device).eval()

    def people(self, image) -> list[tuple[Box, float]]:
        """Person boxes (pixels of ``image``) with scores, biggest first."""
        import torch

        width, height = image.size
        with self._lock:
            processor, model = self._ensure()
            inputs = processor(images=image.convert("RGB"), return_tensors="pt").to(self._device)
            with torch.inference_mode():
                outputs = model(**inputs)
            found = processor.post_process_object_detection(outputs, threshold=self.threshold,
                                                             target_sizes=[(height, width)])[0]
        boxes = []
        for score, label, box in zip(found["scores"].tolist(), found["labels"].tolist(), found["boxes"].tolist()):
            if label not in self._person_ids:
                continue
            x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
            x1, y1 = min(width, int(round(box[2]))), min(height, int(round(box[3])))
            if x1 - x0 >= 8 and y1 - y0 >= 8:
                boxes.append(((x0, y0, x1, y1), float(score)))
        return sorted(boxes, key=lambda b: (b[0][2] - b[0][0]) * (b[0][3] - b[0][1]), reverse=True)


@dataclass
class PhotoModels:
    """The configured optional models for one preparation (None: not configured)."""

    captioner: PhotoCaptioner | None = None
    detector: PersonDetector | None = None


_shared: dict[tuple[str, str, str], _ConfiguredModel] = {}
_shared_lock = threading.Lock()


def shared(kind: type[_ConfiguredModel], settings: Any) -> _ConfiguredModel | None:
    """The loaded model of this kind for these settings (one per source and device), or None
    when it is not configured."""
    model = kind(settings)
    if not model.configured():
        return None
    key = (kind.__name__, model.source, str(getattr(settings, "device", "auto")))
    with _shared_lock:
        return _shared.setdefault(key, model)


def for_settings(settings: Any) -> PhotoModels:
    """The optional models the settings name, each checked now: a configured model that cannot be
    used stops the preparation with its message before any photo is read."""
    models = PhotoModels(captioner=shared(PhotoCaptioner, settings), detector=shared(PersonDetector, settings))
    for model in (models.captioner, models.detector):
        if model is not None:
            model.check()
    return models


def forget() -> None:
    """Drop the loaded models (tests; a settings change)."""
    with _shared_lock:
        _shared.clear()
