"""Every narration take leaves here at the same loudness: −18 LUFS integrated (EBU R128 /
ITU-R BS.1770) with its true peak at or below −1 dBTP, whichever backend spoke it.

A plain gain cannot promise both: eSpeak's formant voice has a high crest factor, so at −18 LUFS
its peaks would pass 0 dBFS. The gain is applied first, then a look-ahead peak limiter with a
smooth gain curve (no clipping, no distortion on the vowels) takes off only what passes the
ceiling, and the gain is re-measured so the loudness still lands on target.

True peak is measured the BS.1770-4 way: the signal 4× oversampled, its largest magnitude.
The loudness range (LRA, EBU Tech 3342) is measured here too so the bench and tests report it.
"""
from __future__ import annotations

import numpy as np

TARGET_LUFS = -18.0
TRUE_PEAK_CEILING_DB = -1.0
_LIMIT_AT_DB = -1.3  # limiter threshold below the promise: the 16-bit WAV rounding and resampling
_OVERSAMPLE = 4
_LOOKAHEAD_S = 0.005
_RELEASE_S = 0.06


def loudness_lufs(samples: np.ndarray, sr: int) -> float:
    """Integrated loudness; audio shorter than one gating block is measured on a looped copy."""
    import pyloudnorm
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < int(0.5 * sr):
        x = np.tile(x, int(np.ceil(0.5 * sr / max(1, len(x)))) + 1)
    return float(pyloudnorm.Meter(sr).integrated_loudness(x))


def _oversampled(samples: np.ndarray) -> np.ndarray:
    from scipy.signal import resample_poly
    return resample_poly(np.asarray(samples, dtype=np.float64), _OVERSAMPLE, 1)


def true_peak_db(samples: np.ndarray) -> float:
    """True peak in dBTP (4× oversampled peak magnitude); −inf for silence."""
    if len(samples) == 0:
        return float("-inf")
    peak = float(np.max(np.abs(_oversampled(samples))))
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")


def loudness_range(samples: np.ndarray, sr: int) -> float:
    """Loudness range in LU (EBU Tech 3342): the spread (10th to 95th percentile) of the 3 s
    short-term loudness, gated at −70 LUFS and 20 LU below the mean. 0 for audio under 3 s."""
    import pyloudnorm
    x = np.asarray(samples, dtype=np.float64).copy()
    window, hop = int(3.0 * sr), int(0.1 * sr)
    if len(x) < window:
        return 0.0
    meter = pyloudnorm.Meter(sr)
    for stage in meter._filters.values():  # the meter's own K-weighting, so both measures agree
        x = stage.apply_filter(x)
    power = np.cumsum(np.concatenate([[0.0], x * x]))
    starts = np.arange(0, len(x) - window + 1, hop)
    mean_square = (power[starts + window] - power[starts]) / window
    short_term = -0.691 + 10.0 * np.log10(np.maximum(mean_square, 1e-20))
    gated = short_term[short_term > -70.0]
    if gated.size == 0:
        return 0.0
    relative = 10.0 * np.log10(np.mean(10.0 ** (gated / 10.0))) - 20.0
    gated = gated[gated > relative]
    low, high = np.percentile(gated, [10, 95])
    return float(high - low)


def limit_true_peak(samples: np.ndarray, ceiling_db: float = _LIMIT_AT_DB, sr: int = 22050) -> np.ndarray:
    """Look-ahead peak limiter. The gain is computed on ~1 ms blocks: at most ceiling/peak of
    the oversampled signal, held a few ms either side (so it is already down when a peak
    arrives), then released slowly (no pumping or clicks) and interpolated back to samples."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d
    x = np.asarray(samples, dtype=np.float64)
    if len(x) == 0:
        return x.astype(np.float32)
    ceiling = 10.0 ** (ceiling_db / 20.0)
    block = max(1, sr // 1000)
    blocks = -(-len(x) // block)
    over = np.abs(_oversampled(np.pad(x, (0, blocks * block - len(x)))))
    envelope = over[: blocks * block * _OVERSAMPLE].reshape(blocks, -1).max(axis=1)
    needed = np.minimum(1.0, ceiling / np.maximum(envelope, 1e-12))
    if needed.min() >= 1.0:
        return x.astype(np.float32)
    reach = max(2, int(round(_LOOKAHEAD_S * sr / block)))
    # held over ±reach blocks then averaged over a narrower window: every averaged value was
    # held over the block it lands on, so the gain never exceeds what that block needs
    gain = uniform_filter1d(minimum_filter1d(needed, size=2 * reach + 1, mode="nearest"),
                            size=reach, mode="nearest")
    rise = 1.0 - np.exp(-1.0 / max(1.0, _RELEASE_S * sr / block))
    for i in range(1, blocks):  # ~1,000 steps a second of audio: cheap
        gain[i] = min(gain[i], gain[i - 1] + (1.0 - gain[i - 1]) * rise)
    centres = np.arange(blocks) * block + (block - 1) / 2.0
    return (x * np.interp(np.arange(len(x)), centres, gain)).astype(np.float32)


def master_take(samples: np.ndarray, sr: int, target_lufs: float = TARGET_LUFS) -> np.ndarray:
    """The one place where narration gets its loudness: gain to ``target_lufs``, limit the true
    peak, re-measure and correct (the limiter lowers loudness a little), never clip."""
    x = np.asarray(samples, dtype=np.float64)
    if len(x) == 0 or not np.any(x):
        return x.astype(np.float32)
    for _ in range(4):
        level = loudness_lufs(x, sr)
        if not np.isfinite(level):
            return x.astype(np.float32)
        x = x * 10.0 ** ((target_lufs - level) / 20.0)
        x = limit_true_peak(x, _LIMIT_AT_DB, sr).astype(np.float64)
        if abs(loudness_lufs(x, sr) - target_lufs) < 0.2:
            break
    peak = true_peak_db(x)
    if peak > _LIMIT_AT_DB:  # the limiter's last pass cannot overshoot, but stay sure
        x = x * 10.0 ** ((_LIMIT_AT_DB - peak) / 20.0)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def pitch_movement(samples: np.ndarray, sr: int) -> dict[str, float]:
    """How much the voice's pitch moves (Praat autocorrelation, voiced 10 ms frames): the
    10th–90th percentile spread in semitones, and the share of frames within ±4 Hz of the
    median (a flat, robotic read has most of its frames there)."""
    import parselmouth
    pitch = parselmouth.Sound(np.asarray(samples, dtype=np.float64), sampling_frequency=sr).to_pitch_ac(
        time_step=0.01, pitch_floor=60.0, pitch_ceiling=500.0)
    f0 = pitch.selected_array["frequency"]
    f0 = f0[f0 > 0]
    if f0.size < 10:
        return {"median_hz": 0.0, "spread_st": 0.0, "near_median": 1.0, "voiced_frames": float(f0.size)}
    median = float(np.median(f0))
    semitones = 12.0 * np.log2(f0 / median)
    low, high = np.percentile(semitones, [10, 90])
    return {"median_hz": round(median, 1), "spread_st": round(float(high - low), 2),
            "near_median": round(float(np.mean(np.abs(f0 - median) <= 4.0)), 3),
            "voiced_frames": float(f0.size)}
