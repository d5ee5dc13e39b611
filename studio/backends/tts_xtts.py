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


# What XTTS does with reference clips (coqui-tts ``Xtts.get_conditioning_latents`` with the
# ``XttsConfig`` defaults that ``TTS.tts`` uses): the speaker embedding is averaged over EVERY clip
# (each read up to ``max_ref_len`` = 10 s), the style latent of its GPT reads only the first
# ``gpt_cond_len`` = 12 s of the clips joined in the order given. Each clip is encoded again on every
# take, so the studio gives the longest clean clips first (whole sentences fill the 12 s window) and
# stops at a minute: at least six clips (the studio's clips are 3-10 s) for the embedding, and
# well under a second of encoding per take on a GPU.
REFERENCE_LIMIT_S = 60.0
MIN_REFERENCE_S = 3.0  # coqui's advice for a reference: "should be >3 seconds long"
SILENT_PEAK = 1e-3


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

                from studio.backends.torch_device import choose_voice_placement

                # the one device setting; XTTS stays float32 (coqui runs it so), hence no dtype here
                device, _ = choose_voice_placement(self.settings.device, "xtts")
                self._tts = TTS(model_path=folder, config_path=str(Path(folder) / "config.json")).to(device)
                self._loaded_from = folder
            return self._tts

    def speak(self, text: str, language: str, reference_wavs: list[str] | None = None,
              rate: float = read_aloud.NEUTRAL_RATE_WPM, **_: Any) -> Audio:
        import numpy as np

        if not (text or "").strip():
            raise BackendError("voice.no_text")
        if not reference_wavs:
            raise BackendError("voice.xtts_needs_recordings")
        clips = reference_clips(reference_wavs)
        if not clips:
            raise BackendError("voice.xtts_no_clean_clip", seconds=f"{MIN_REFERENCE_S:.0f}")
        tts = self._load()
        wav = tts.tts(text=text, language=language, speaker_wav=clips,
                      speed=read_aloud.words_per_minute_factor(rate))
        out_rate = int(getattr(tts.synthesizer, "output_sample_rate", 24000))
        return Audio(np.asarray(wav, dtype=np.float32), out_rate)


def reference_clips(paths: list[str], limit_s: float = REFERENCE_LIMIT_S) -> list[str]:
    """The clips XTTS clones from: clean ones only (readable, at least ``MIN_REFERENCE_S`` long, not
    silent, not clipped), longest first, as many as fit in ``limit_s`` seconds. Clips are taken from
    all of the voice's recordings; equally long clips keep the recordings' order."""
    lengths = {path: _clean_seconds(path) for path in dict.fromkeys(paths)}
    clean = sorted((path for path, seconds in lengths.items() if seconds), key=lambda p: -lengths[p])
    chosen, spent = [], 0.0
    for path in clean:
        if spent + lengths[path] <= limit_s:
            chosen.append(path)
            spent += lengths[path]
    return chosen


def _clean_seconds(path: str) -> float:
    """The clip's length in seconds when XTTS can learn from it, else 0."""
    import numpy as np

    from studio.audio import is_clipped, read_wav

    try:
        samples, rate = read_wav(path)
    except Exception:  # a clip that cannot be read is left out, not fatal
        return 0.0
    seconds = len(samples) / rate if rate else 0.0
    if seconds < MIN_REFERENCE_S or float(np.max(np.abs(samples))) < SILENT_PEAK or is_clipped(samples):
        return 0.0
    return seconds
