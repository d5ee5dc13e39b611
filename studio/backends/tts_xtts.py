"""Coqui XTTS (the maintained ``coqui-tts`` package): clones the loved one's voice from the
recordings, Korean and English. Optional: it needs torchaudio, which is not available for every
torch build, so it is detected at run time and never required.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from studio.backends.base import Audio, Availability, BackendError, missing_packages
from studio.config import Settings


class XttsSpeaker:
    name = "xtts"
    label = "XTTS v2 (clones from the recordings)"

    def __init__(self, settings: Settings):
        self.settings = settings
        self._tts = None
        self._loaded_from = ""
        self._lock = threading.Lock()

    def available(self) -> Availability:
        missing = missing_packages("TTS", "torchaudio")
        if missing:
            return Availability.no("coqui-tts is not installed (needs: " + ", ".join(missing) + ")")
        folder = Path(self.settings.xtts_model).expanduser() if self.settings.xtts_model else None
        if folder is None:
            return Availability.no("no XTTS model folder set (GIEOK_XTTS_MODEL)")
        if not (folder / "config.json").is_file():
            return Availability.no(f"{folder} has no config.json (download XTTS v2 there first)")
        return Availability.yes("clones from recordings, ko/en")

    def _load(self):
        status = self.available()
        if not status.ok:
            raise BackendError(f"{self.label} is not available: {status.reason}")
        folder = str(Path(self.settings.xtts_model).expanduser())
        with self._lock:
            if self._tts is None or self._loaded_from != folder:
                from TTS.api import TTS  # optional package
                self._tts = TTS(model_path=folder, config_path=str(Path(folder) / "config.json"))
                self._loaded_from = folder
            return self._tts

    def speak(self, text: str, language: str, reference_wavs: list[str] | None = None, **_: Any) -> Audio:
        import numpy as np

        if not reference_wavs:
            raise BackendError("XTTS needs recordings of the voice to clone; add some first.")
        tts = self._load()
        wav = tts.tts(text=text, language=language, speaker_wav=list(reference_wavs)[:6])
        rate = int(getattr(tts.synthesizer, "output_sample_rate", 24000))
        return Audio(np.asarray(wav, dtype=np.float32), rate)
