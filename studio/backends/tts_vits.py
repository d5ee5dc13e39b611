"""Transformers VITS (e.g. MMS-TTS ``facebook/mms-tts-kor`` / ``-eng``) by hub id or local folder.

The model for a language is loaded on first use and kept; a different setting loads the new one.
It runs where ``GIEOK_DEVICE`` says (``choose_voice_placement``: float32 everywhere, VITS's flow and
duration predictor are not accurate enough in half precision). ``available()`` only checks packages
and paths (no torch import).
"""
from __future__ import annotations

import threading
from typing import Any

from studio.backends import read_aloud
from studio.backends.base import Audio, Availability, BackendError, missing_packages
from studio.config import Settings


class VitsSpeaker:
    name = "vits"
    label = "VITS / MMS-TTS (natural, offline once downloaded)"
    knobs = ("rate",)  # the pitch knob is applied by narrate (WORLD shift)

    def __init__(self, settings: Settings):
        self.settings = settings
        self._models: dict[str, tuple[Any, Any]] = {}  # model source -> (model, tokenizer)
        self._lock = threading.Lock()
        self._uroman = None

    def _source(self, language: str) -> str:
        return (self.settings.vits_model_ko if language == "ko" else self.settings.vits_model_en) or ""

    def supports(self, language: str) -> bool:
        source = self._source(language)
        return bool(source) and not _missing(source)

    def available(self) -> Availability:
        missing = missing_packages("torch", "transformers")
        if missing:
            return Availability.no("avail.needs_packages", packages=", ".join(missing))
        sources = {lang: self._source(lang) for lang in ("ko", "en")}
        if not any(sources.values()):
            return Availability.no("avail.vits_unset")
        problems = {lang: why for lang, src in sources.items() if src and (why := _missing(src))}
        if len(problems) == sum(1 for s in sources.values() if s):
            lang, why = next(iter(problems.items()))
            return Availability.no("avail.vits_problem", language=f"lang.{lang}", problem=why)
        ready = [lang for lang, src in sources.items() if src and not _missing(src)]
        return Availability.yes("avail.vits_ready", languages=", ".join(ready))

    def _load(self, language: str):
        source = self._source(language)
        if not source:
            raise BackendError("voice.vits_no_model", language=language)
        why = _missing(source)
        if why:
            raise BackendError("voice.vits_unusable", language=language, reason=why)
        with self._lock:
            if source not in self._models:
                from transformers import AutoTokenizer, VitsModel

                from studio.backends.model_sources import load_kwargs
                from studio.backends.torch_device import choose_voice_placement

                device, dtype = choose_voice_placement(self.settings.device, "vits")
                try:
                    model = VitsModel.from_pretrained(source, **load_kwargs(source)).eval()
                    model.to(device=device, dtype=dtype)
                    tokenizer = AutoTokenizer.from_pretrained(source, **load_kwargs(source))
                except (OSError, ValueError) as exc:
                    raise BackendError("voice.vits_load_failed", source=source, detail=str(exc)[:300]) from exc
                self._models[source] = (model, tokenizer)
            return self._models[source]

    def speak(self, text: str, language: str, seed: int = 0, rate: float = read_aloud.NEUTRAL_RATE_WPM,
              speaking_rate: float | None = None, **_: Any) -> Audio:
        """``rate`` is the narration knob (words per minute, 150 = the model's own pace);
        ``speaking_rate`` (VITS's own factor) wins when given."""
        import torch

        text = (text or "").strip()
        if not text:
            raise BackendError("voice.no_text")
        model, tokenizer = self._load(language)
        if getattr(tokenizer, "is_uroman", False):  # e.g. mms-tts-kor reads romanised Korean
            text = self._romanize(text)
        inputs = tokenizer(text, return_tensors="pt")
        if inputs["input_ids"].shape[-1] == 0:
            raise BackendError("voice.vits_unknown_letters")
        inputs = {name: tensor.to(model.device) for name, tensor in inputs.items()}  # ids stay integers
        factor = float(speaking_rate) if speaking_rate else read_aloud.words_per_minute_factor(rate)
        with self._lock:  # the model is shared: its speaking_rate must not change mid-call
            model.speaking_rate = factor
            torch.manual_seed(int(seed))  # VITS samples noise: same seed, same take
            with torch.inference_mode():
                waveform = model(**inputs).waveform[0]
        return Audio(waveform.float().cpu().numpy().copy(), int(model.config.sampling_rate))


    def _romanize(self, text: str) -> str:
        # transformers would build a new Uroman (seconds) on every call; keep one
        with self._lock:
            if self._uroman is None:
                try:
                    import uroman
                except ImportError:
                    raise BackendError("voice.needs_uroman") from None
                self._uroman = uroman.Uroman()
        return self._uroman.romanize_string(text)


def _missing(source: str) -> Availability | None:
    """Why a model source cannot be used now, or None when it can: the studio's one source check
    (a hub id that is not cached yet is usable when downloads are allowed)."""
    from studio.backends.model_sources import TRANSFORMERS_MARKERS, check_source

    check = check_source(source, "GIEOK_VITS_MODEL", TRANSFORMERS_MARKERS, single_file=False)
    return None if check.usable else Availability.said(False, check.key, **check.values)
