"""Narration's model work: the speech backend, the pitch knob, then the voice conversion.

Elsewhere it simply runs here (the models sit where ``GIEOK_DEVICE`` put them). On a ZeroGPU Space
a GPU exists only inside a ``spaces.GPU`` turn, so when the speaker or the converter is a torch
model (VITS, XTTS, RVC) the work runs as one turn sized from the text (``studio.zerogpu``); speech
that needs no GPU (eSpeak, Piper, WORLD voice match, remote engines) never spends the visitor's
GPU quota. Arguments cross into the GPU worker pickled: backends travel by name.
"""
from __future__ import annotations

import functools
import threading
from typing import Any

from studio.backends.base import Audio

PITCH_STEP_SEMITONES = 0.17  # one step of the pitch knob, as eSpeak NG measures (50 → 65 ≈ +2.6 st)
GPU_MODELS = frozenset({"vits", "xtts", "rvc"})  # speakers / converters that run torch models
CHARACTERS_PER_UNIT = 20  # one unit ≈ one denoising step of GPU time: a 300-letter page ≈ 15 units

_gpu_functions: dict[int, Any] = {}  # one registered GPU function per Services
_lock = threading.Lock()


def speak_and_convert(services, speaker, converter, voice, text: str, language: str, options: dict,
                      knobs: dict, extra: dict) -> tuple[Audio, Audio]:
    """(the speech backend's audio, the converted audio); ``converter`` None keeps the speech."""
    if needs_gpu(speaker.name, converter.name if converter else "none"):
        from studio import zerogpu

        if zerogpu.on_zerogpu():
            return _gpu_function(services)(speaker.name, converter.name if converter else "none", voice, text,
                                           language, options, knobs, extra)
    return _work(speaker, converter, voice, text, language, options, knobs, extra)


def needs_gpu(speaker_name: str, converter_name: str) -> bool:
    return speaker_name in GPU_MODELS or converter_name in GPU_MODELS


def narration_units(speaker_name: str, converter_name: str, voice: Any, text: str, *_: Any, **__: Any) -> float:
    """GPU work of one take, in the studio's GPU units (see ``studio.zerogpu``), from its length."""
    return max(1.0, len(text or "") / CHARACTERS_PER_UNIT)


def _gpu_function(services):
    from studio import zerogpu

    with _lock:
        key = id(services)
        if key not in _gpu_functions:
            _gpu_functions[key] = zerogpu.GpuFunction("narrate", functools.partial(_by_name, services),
                                                      narration_units, services.settings)
        return _gpu_functions[key]


def _by_name(services, speaker_name: str, converter_name: str, *args: Any) -> tuple[Audio, Audio]:
    """Runs inside the GPU turn: the same backends, found by name in the worker's copy of the studio."""
    speaker = services.backends.get("speaker", speaker_name)
    converter = None if converter_name == "none" else services.backends.get("converter", converter_name)
    return _work(speaker, converter, *args)


def _work(speaker, converter, voice, text: str, language: str, options: dict, knobs: dict,
          extra: dict) -> tuple[Audio, Audio]:
    standard = with_pitch_knob(speaker, speaker.speak(text, language, **options), knobs["pitch"])
    if converter is None:
        return standard, standard
    return standard, converter.convert(standard, voice, **knobs, **extra)


def with_pitch_knob(speaker, audio: Audio, pitch: float) -> Audio:
    """Backends without a pitch setting (VITS, Piper, XTTS) get the pitch knob as a WORLD pitch
    shift on the same scale as eSpeak's (one step ≈ 0.17 semitone, 50 = unchanged)."""
    if "pitch" in getattr(speaker, "knobs", ()) or abs(float(pitch) - 50.0) < 0.5:
        return audio
    from studio.backends.voice_match import shift_pitch
    return Audio(shift_pitch(audio.samples, audio.sample_rate, (float(pitch) - 50.0) * PITCH_STEP_SEMITONES),
                 audio.sample_rate)
