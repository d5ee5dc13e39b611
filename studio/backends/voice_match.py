"""Basic voice match: the weightless default converter.

From the recordings it measures the person's pitch (median and spread, on a log scale), formant
positions (F1–F3, Praat) and average spectral envelope; then it re-synthesises the spoken page
with WORLD so its pitch statistics, formants and tone colour move toward hers. It makes a
standard voice *sound more like* her range and timbre; it is not a clone, and the label says so.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from studio.backends.base import Audio, Availability, BackendError, missing_packages
from studio.config import Settings

ANALYSIS_SR = 16000
FFT = 1024
BANDS = 48
PROFILE_VERSION = 1


class BasicVoiceMatch:
    name = "voice_match"
    label = "Basic voice match (pitch & tone colour only, not a clone)"

    def __init__(self, settings: Settings):
        self.settings = settings

    def available(self) -> Availability:
        missing = missing_packages("pyworld", "parselmouth", "scipy")
        if missing:
            return Availability.no("avail.needs_packages", packages=", ".join(missing))
        return Availability.yes("avail.voice_match_ready")

    def convert(self, audio: Audio, voice: Any = None, strength: float = 1.0, transpose: float = 0.0,
                **_: Any) -> Audio:
        profile = dict(getattr(voice, "profile", None) or {})
        if profile.get("f0_log_mean") is None:
            raise BackendError("voice.match_needs_recordings")
        profile["f0_log_mean"] += float(transpose) / 12.0 * np.log(2.0)  # semitones on top of her pitch
        return Audio(*match(audio.samples, audio.sample_rate, profile, float(strength)))


def _analyse(x: np.ndarray, sr: int, frame_ms: float = 5.0, aperiodicity: bool = True):
    from studio.backends.rvc.pipeline import load_pyworld
    pw = load_pyworld()
    x = x.astype(np.float64)
    f0, t = pw.dio(x, sr, f0_floor=60.0, f0_ceil=700.0, frame_period=frame_ms)
    f0 = pw.stonemask(x, f0, t, sr)
    sp = pw.cheaptrick(x, f0, t, sr, fft_size=FFT)
    ap = pw.d4c(x, f0, t, sr, fft_size=FFT) if aperiodicity else None
    return pw, f0, sp, ap


def _band_edges(n_bins: int) -> np.ndarray:
    return np.unique(np.geomspace(2, n_bins - 1, BANDS + 1).astype(int))


def _band_envelope(sp: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Mean log envelope of voiced frames, in log-spaced bands (dB)."""
    frames = sp[voiced] if voiced.any() else sp
    mean_db = 10 * np.log10(np.mean(frames, axis=0) + 1e-12)
    edges = _band_edges(sp.shape[1])
    return np.array([mean_db[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])


def _formants(x: np.ndarray, sr: int) -> list[float]:
    import parselmouth
    sound = parselmouth.Sound(x.astype(np.float64), sampling_frequency=sr)
    formant = sound.to_formant_burg(time_step=0.01, max_number_of_formants=5, maximum_formant=5500.0)
    pitch = sound.to_pitch_ac(time_step=0.01, pitch_floor=60.0, pitch_ceiling=700.0)
    out = []
    for n in (1, 2, 3):
        values = []
        for t in formant.ts():
            if pitch.get_value_at_time(t) and not np.isnan(pitch.get_value_at_time(t)):
                v = formant.get_value_at_time(n, t)
                if v and not np.isnan(v):
                    values.append(v)
        out.append(float(np.median(values)) if values else 0.0)
    return out


def measure_profile(clips: list[np.ndarray], sr: int) -> dict[str, Any]:
    """Pitch statistics, formants and band envelope of a voice, JSON-friendly."""
    from studio.audio import resample
    if not clips:
        raise BackendError("voice.match_no_clips")
    x = np.concatenate([resample(c, sr, ANALYSIS_SR) for c in clips])[: ANALYSIS_SR * 120]
    _, f0, sp, _ = _analyse(x, ANALYSIS_SR, frame_ms=10.0, aperiodicity=False)  # statistics only
    voiced = f0 > 0
    if voiced.sum() < 20:
        raise BackendError("voice.match_no_voice")
    lf0 = np.log(f0[voiced])
    return {
        "version": PROFILE_VERSION,
        "f0_log_mean": float(lf0.mean()),
        "f0_log_std": float(lf0.std()),
        "f0_median_hz": float(np.exp(np.median(lf0))),
        "f0_p10_hz": float(np.exp(np.percentile(lf0, 10))),
        "f0_p90_hz": float(np.exp(np.percentile(lf0, 90))),
        "formants_hz": _formants(x[: ANALYSIS_SR * 30], ANALYSIS_SR),  # medians settle within 30 s
        "envelope_db": [round(float(v), 3) for v in _band_envelope(sp, voiced)],
    }


def _warp(sp: np.ndarray, ratio: float) -> np.ndarray:
    """Move formants by ``ratio`` (>1 raises them): sp'(f) = sp(f / ratio)."""
    bins = np.arange(sp.shape[1])
    source = np.clip(bins / ratio, 0, sp.shape[1] - 1)
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, sp.shape[1] - 1)
    w = source - lo
    return sp[:, lo] * (1 - w) + sp[:, hi] * w


def match(samples: np.ndarray, sr: int, profile: dict[str, Any], strength: float = 1.0) -> tuple[np.ndarray, int]:
    """Re-synthesise ``samples`` with pitch, formants and tone colour moved toward ``profile``."""
    from studio.audio import resample
    strength = float(np.clip(strength, 0.0, 1.0))
    x = resample(samples, sr, ANALYSIS_SR)
    if len(x) < ANALYSIS_SR // 10:
        raise BackendError("voice.match_too_short")
    pw, f0, sp, ap = _analyse(x, ANALYSIS_SR)
    voiced = f0 > 0
    new_f0 = f0.copy()
    if voiced.any():
        lf0 = np.log(f0[voiced])
        mu, sd = lf0.mean(), max(lf0.std(), 1e-3)
        target = (lf0 - mu) / sd * profile["f0_log_std"] + profile["f0_log_mean"]
        new_f0[voiced] = np.exp((1 - strength) * lf0 + strength * target)
    own = _formants(x, ANALYSIS_SR)
    ratios = [t / s for t, s in zip(profile.get("formants_hz", []), own) if t > 0 and s > 0]
    ratio = float(np.clip(np.exp(np.mean(np.log(ratios))), 0.8, 1.25)) if ratios else 1.0
    sp = _warp(sp, ratio ** strength)
    # tone colour: per-band gain toward her average envelope, smoothed and limited to ±8 dB
    diff = np.asarray(profile["envelope_db"]) - _band_envelope(sp, voiced)
    diff = np.clip(diff - diff.mean(), -8, 8) * strength
    edges = _band_edges(sp.shape[1])
    centers = (edges[:-1] + edges[1:]) / 2
    gain_db = np.interp(np.arange(sp.shape[1]), centers, diff[: len(centers)])
    sp = sp * (10 ** (gain_db / 10))[None, :]
    y = pw.synthesize(new_f0, np.ascontiguousarray(sp), ap, ANALYSIS_SR, frame_period=5.0)
    y = y[: len(x)] if len(y) >= len(x) else np.pad(y, (0, len(x) - len(y)))
    peak = float(np.max(np.abs(y))) or 1.0
    return (y / max(peak, 1.0) * min(1.0, peak)).astype(np.float32), ANALYSIS_SR


def shift_pitch(samples: np.ndarray, sr: int, semitones: float) -> np.ndarray:
    """The same speech ``semitones`` higher or lower, timing and formants kept, for speech
    backends with no pitch setting of their own. Praat's PSOLA (overlap-add) rather than WORLD:
    re-synthesising a Piper voice through WORLD halved its voiced frames even with no shift,
    PSOLA kept them (measured: +2.0 st asked → +2.0 st, +5.1 → +5.2, −3 → −2.9)."""
    import parselmouth
    from parselmouth.praat import call

    x = np.asarray(samples, dtype=np.float64)
    if abs(semitones) < 1e-3 or len(x) < sr // 20:
        return x.astype(np.float32)
    sound = parselmouth.Sound(x, sampling_frequency=sr)
    manipulation = call(sound, "To Manipulation", 0.01, 60.0, 600.0)
    tier = call(manipulation, "Extract pitch tier")
    call(tier, "Multiply frequencies", sound.xmin, sound.xmax, 2.0 ** (semitones / 12.0))
    call([tier, manipulation], "Replace pitch tier")
    y = call(manipulation, "Get resynthesis (overlap-add)").values[0]
    y = y[: len(x)] if len(y) >= len(x) else np.pad(y, (0, len(x) - len(y)))
    return np.clip(y, -1.0, 1.0).astype(np.float32)
