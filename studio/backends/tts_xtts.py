"""Coqui XTTS (the maintained ``coqui-tts`` package): clones the loved one's voice from the
recordings, Korean and English. Optional: it needs torchaudio, which is not available for every
torch build, so it is detected at run time and never required.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from studio.backends import read_aloud
from studio.backends.base import Audio, Availability, BackendError, missing_packages
from studio.config import Settings


# seconds of the voice's clips given to XTTS: its speaker embedding averages every clip, and
# past a couple of minutes more clips only cost time (each clip is encoded on every take)
REFERENCE_LIMIT_S = 120.0


class XttsSpeaker:
    name = "xtts"
    label = "XTTS v2 (clones from the recordings)"
    knobs = ("rate",)  # XTTS's speed; the pitch knob is applied by narrate
    languages = ("ko", "en")

    def __init__(self, settings: Settings):
        self.settings = settings
        self._tts = None
        self._loaded_from = ""
        self._lock = threading.Lock()

    def available(self) -> Availability:
        missing = missing_packages("TTS", "torchaudio")
        if missing:
            return Availability.no("avail.xtts_not_installed", packages=", ".join(missing))
        folder = Path(self.settings.xtts_model).expanduser() if self.settings.xtts_model else None
        if folder is None:
            return Availability.no("avail.xtts_unset")
        if not (folder / "config.json").is_file():
            return Availability.no("avail.xtts_no_config", folder=str(folder))
        return Availability.yes("avail.xtts_ready")

    def _load(self):
        status = self.available()
        if not status.ok:
            raise BackendError("voice.speaker_unavailable", name=self.label, reason=status)
        folder = str(Path(self.settings.xtts_model).expanduser())
        with self._lock:
            if self._tts is None or self._loaded_from != folder:
                from TTS.api import TTS  # optional package
                self._tts = TTS(model_path=folder, config_path=str(Path(folder) / "config.json"))
                self._loaded_from = folder
            return self._tts

    def speak(self, text: str, language: str, reference_wavs: list[str] | None = None,
              rate: float = read_aloud.NEUTRAL_RATE_WPM, **_: Any) -> Audio:
        import numpy as np

        if not (text or "").strip():
            raise BackendError("voice.no_text")
        if not reference_wavs:
            raise BackendError("voice.xtts_needs_recordings")
        tts = self._load()
        wav = tts.tts(text=text, language=language, speaker_wav=reference_clips(reference_wavs),
                      speed=read_aloud.words_per_minute_factor(rate))
        out_rate = int(getattr(tts.synthesizer, "output_sample_rate", 24000))
        return Audio(np.asarray(wav, dtype=np.float32), out_rate)


def reference_clips(paths: list[str], limit_s: float = REFERENCE_LIMIT_S) -> list[str]:
    """Clips spread evenly over all of the voice's recordings (not just the first few), as many
    as fit in ``limit_s`` seconds: XTTS averages a speaker embedding over every clip it gets."""
    import soundfile as sf

    lengths = []
    for path in paths:
        try:
            lengths.append(float(sf.info(str(path)).duration))
        except Exception:  # a clip that cannot be read is left out, not fatal
            lengths.append(0.0)
    usable = [(p, d) for p, d in zip(paths, lengths) if d > 0]
    total = sum(d for _, d in usable)
    if total <= limit_s:
        return [p for p, _ in usable]
    keep = max(1, int(len(usable) * limit_s / total))
    picks = sorted({round(i * (len(usable) - 1) / max(1, keep - 1)) for i in range(keep)})
    chosen, spent = [], 0.0
    for index in picks:
        path, seconds = usable[index]
        if spent + seconds > limit_s and chosen:
            break
        chosen.append(path)
        spent += seconds
    return chosen
