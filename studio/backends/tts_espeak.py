"""eSpeak NG: the offline speech backend that works on a fresh machine (robotic, but clear).

It runs as a subprocess with a timeout; text goes in on stdin (never on the command line, so a
page that starts with "-" is read, not parsed as an option).
"""
from __future__ import annotations

import io
import shutil
import subprocess
from typing import Any

from studio.backends.base import Audio, Availability, BackendError
from studio.config import Settings

VOICES = {"ko": "ko", "en": "en-us"}


class EspeakSpeaker:
    name = "espeak"
    label = "eSpeak NG (offline, robotic)"

    def __init__(self, settings: Settings):
        self.settings = settings

    def _binary(self) -> str | None:
        return shutil.which(self.settings.espeak_binary or "espeak-ng")

    def available(self) -> Availability:
        if self._binary() is None:
            return Availability.no(f"{self.settings.espeak_binary or 'espeak-ng'} is not installed "
                                   "(apt-get install espeak-ng)")
        return Availability.yes("offline, Korean and English")

    def speak(self, text: str, language: str, rate: int = 150, pitch: int = 50, **_: Any) -> Audio:
        import numpy as np
        import soundfile as sf

        text = (text or "").strip()
        if not text:
            raise BackendError("There is no text to read on this page.")
        binary = self._binary()
        if binary is None:
            raise BackendError(self.available().reason)
        cmd = [binary, "-v", VOICES.get(language, "en-us"), "-b", "1", "--stdout",
               "-s", str(int(min(450, max(80, rate)))), "-p", str(int(min(99, max(0, pitch))))]
        try:
            proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True,
                                  timeout=self.settings.subprocess_timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise BackendError("eSpeak NG took too long to read this page.") from None
        if proc.returncode != 0 or len(proc.stdout) < 64:
            raise BackendError(f"eSpeak NG failed: {proc.stderr.decode('utf-8', 'replace')[:200]}")
        data, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
        return Audio(np.ascontiguousarray(data.mean(axis=1)), int(sr))
