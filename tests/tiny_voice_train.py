"""Shared pieces for voice-training tests: the smallest RVC v2 generator config that trains,
synthetic speech-like audio, a consent record, and a training preset for the running app."""
from __future__ import annotations

import numpy as np

from studio import audio as audiolib
from studio.book import Consent

# spec_channels 513 (n_fft 1024), hop 400 (10*10*4), segment 8 frames: a few ms per step on CPU
TINY_TRAIN_CONFIG = [513, 8, 8, 8, 16, 2, 1, 3, 0, "1", [3], [[1, 3, 5]], [10, 10, 4], 16, [20, 20, 8], 1, 8, 40000]
CONSENT = Consent(given_by="Minji", relation="granddaughter", date="2026-11-30",
                  statement="We agree to train Grandma's voice for our family book.")


def speechy(seconds: float, sr: int = audiolib.WORK_SR, seed: int = 0) -> np.ndarray:
    """Utterances of pitch glides with harmonics, formant-like resonances and syllable envelopes,
    separated by pauses."""
    from scipy.signal import lfilter
    rng = np.random.default_rng(seed)
    out, made = [], 0.0
    while made < seconds:
        n = int(rng.uniform(2.6, 3.4) * sr)
        t = np.arange(n) / sr
        f0 = np.linspace(rng.uniform(170, 200), rng.uniform(190, 240), n) * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
        phase = 2 * np.pi * np.cumsum(f0) / sr
        x = sum(np.sin(k * phase) / k for k in range(1, 20))
        for formant in (rng.uniform(500, 800), rng.uniform(1100, 1800), 2600.0):
            r, w = 0.97, 2 * np.pi * formant / sr  # a two-pole resonance
            x = x + 0.5 * lfilter([1 - r], [1, -2 * r * np.cos(w), r * r], x)
        x *= 0.4 + 0.6 * np.abs(np.sin(2 * np.pi * 2.2 * t))
        x = 0.25 * x / np.max(np.abs(x)) + 0.002 * rng.standard_normal(n)
        out += [x, np.zeros(int(0.5 * sr))]
        made += n / sr + 0.5
    return np.concatenate(out).astype(np.float32)


def tiny_preset(epochs: int = 2, sample_every: int = 1, batch_size: int = 4):
    """A preset the app can be given in tests: the tiny config, a shrunken discriminator, fixed
    epochs, and 5 s of speech accepted (the real presets need a minute)."""
    from studio.train_voice.plan import Preset

    return Preset("tiny", config=tuple(TINY_TRAIN_CONFIG), d_shrink=16, epochs=epochs, sample_every=sample_every,
                  batch_size=batch_size, min_speech_s=5.0)
