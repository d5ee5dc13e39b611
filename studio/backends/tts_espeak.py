"""eSpeak NG: the offline speech backend that works on a fresh machine, read like a storyteller.

eSpeak alone reads a page in one breath at one pitch. Here the page is planned first
(``read_aloud.plan``): numbers are written out the Korean way, then each phrase is spoken by its
own eSpeak call at its own pitch (a paragraph opens higher, a sentence drifts down, a question
rises) and joined with measured pauses (comma, breath, sentence, paragraph). ``style="plain"``
keeps the old one-call reading (used to measure the difference).

Each call is a subprocess with a timeout; text goes in on stdin (never on the command line, so
a page that starts with "-" is read, not parsed as an option).
"""
from __future__ import annotations

import io
import shutil
import subprocess
from typing import Any
from xml.sax.saxutils import escape

from studio.backends import read_aloud
from studio.backends.base import Audio, Availability, BackendError
from studio.config import Settings

VOICES = {"ko": "ko", "en": "en-us"}
# eSpeak's own intonation within a phrase, widened (SSML prosody range; 100% is eSpeak's flat
# default). Measured on one Korean sentence: 100% → 4.9 semitones (10th–90th percentile),
# 140% → about 6.8; more starts to sound sing-song.
STORY_PITCH_RANGE = "140%"


class EspeakSpeaker:
    name = "espeak"
    label = "eSpeak NG (offline storyteller, robotic voice)"
    knobs = ("rate", "pitch")  # handled here; narrate adds nothing on top

    def __init__(self, settings: Settings):
        self.settings = settings

    def _binary(self) -> str | None:
        return shutil.which(self.settings.espeak_binary or "espeak-ng")

    def available(self) -> Availability:
        if self._binary() is None:
            return Availability.no("avail.espeak_missing", program=self.settings.espeak_binary or "espeak-ng")
        return Availability.yes("avail.espeak_ready")

    def speak(self, text: str, language: str, rate: float = read_aloud.CHILD_RATE_WPM, pitch: float = 50,
              style: str = "storyteller", **_: Any) -> Audio:
        import numpy as np

        text = (text or "").strip()
        if not text or not any(ch.isalnum() for ch in text):
            raise BackendError("voice.no_text")
        binary = self._binary()
        if binary is None:
            raise BackendError("voice.speaker_missing", name=self.label, reason=self.available())
        if language == "ko":
            from studio.korean_numbers import read_numbers
            text = read_numbers(text)
        words_per_minute = int(min(450, max(80, float(rate))))
        if style == "plain":
            samples, sr = self._say(binary, text, language, words_per_minute, int(pitch))
            return Audio(samples, sr)
        pieces, pauses, sr = [], [], 22050
        for phrase in read_aloud.plan(text):
            ssml = f'<speak><prosody range="{STORY_PITCH_RANGE}">{escape(phrase.text)}</prosody></speak>'
            samples, sr = self._say(binary, ssml, language, words_per_minute,
                                    int(pitch) + phrase.pitch_offset, ssml=True)
            pieces.append(read_aloud.trim_silence(samples, sr))
            pauses.append(phrase.pause_after_s)
        if not pieces:
            raise BackendError("voice.no_text")
        return Audio(np.ascontiguousarray(read_aloud.join(pieces, pauses, sr)), sr)

    def _say(self, binary: str, text: str, language: str, words_per_minute: int, pitch: int, ssml: bool = False):
        import numpy as np
        import soundfile as sf

        cmd = [binary, "-v", VOICES.get(language, "en-us"), "-b", "1", "--stdout",
               "-s", str(words_per_minute), "-p", str(min(99, max(0, pitch)))] + (["-m"] if ssml else [])
        try:
            proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True,
                                  timeout=self.settings.subprocess_timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise BackendError("voice.espeak_timeout") from None
        if proc.returncode != 0 or len(proc.stdout) < 64:
            raise BackendError("voice.espeak_failed", detail=proc.stderr.decode("utf-8", "replace")[:200].strip())
        data, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
        return np.ascontiguousarray(data.mean(axis=1)), int(sr)
