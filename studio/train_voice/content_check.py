"""Does a recording sound like music, or like several people? Warnings, never refusals: a family
may have only a birthday video with a song behind her voice, and the studio says what it heard.

Music, from two signs that speech does not give (both measured on 16 kHz analysis frames of 10 ms):

* **held notes** — speech glides: its pitch moves all the time, even in a long vowel. Sung or
  played notes hold one pitch. A stretch of at least ``HELD_MIN_S`` whose pitch stays within
  ``HELD_CENTS`` of its median counts as a held note; a recording is musical when held notes cover
  at least ``HELD_SHARE`` of its voiced time.
* **a regular beat** — drums and plucked notes start with sharp broadband clicks at a steady tempo.
  The onset envelope (rises of the 3-8 kHz band's log energy) is autocorrelated; a peak of at least
  ``BEAT_STRENGTH`` at a lag of 0.25-1.5 s (40-240 beats per minute) with at least ``MIN_ONSETS``
  onsets means a beat. Consonant bursts in speech come at irregular times.

Several speakers, from the pitch of each slice: one person's slice medians form one group; a
father and a grandmother (about an octave apart) form two. The medians (in semitones) are split
in two where the split best separates them (1-D Otsu); the set is called bimodal when each group
holds at least ``GROUP_SHARE`` of the slices, their means are at least ``SPEAKER_GAP_SEMITONES``
apart, and Ashman's D (separation over spread, > 2 for a clean two-mode mixture) exceeds ``ASHMAN_D``.
"""
from __future__ import annotations

import numpy as np

ANALYSIS_SR = 16000
HOP = 160
HELD_MIN_S, HELD_CENTS, HELD_SHARE = 0.35, 20.0, 0.3
BEAT_STRENGTH, MIN_ONSETS = 0.45, 8
GROUP_SHARE, SPEAKER_GAP_SEMITONES, ASHMAN_D = 0.2, 5.0, 2.0
MIN_VOICED_S = 1.0  # too little voiced sound to judge notes


def pitch_track(x16: np.ndarray) -> np.ndarray:
    """Praat autocorrelation pitch per 10 ms (0 unvoiced): fast and weightless."""
    from studio.backends.rvc.pipeline import extract_f0

    return extract_f0(np.asarray(x16, dtype=np.float64), len(x16) // HOP + 1, "pm")


def held_note_share(f0: np.ndarray) -> float:
    """Share of the voiced frames that lie in stretches held at one pitch (see module doc)."""
    voiced = f0 > 0
    if voiced.sum() * HOP / ANALYSIS_SR < MIN_VOICED_S:
        return 0.0
    cents = np.where(voiced, 1200 * np.log2(np.maximum(f0, 1e-6) / 440.0), np.nan)
    need = int(HELD_MIN_S * ANALYSIS_SR / HOP)
    held = np.zeros(len(f0), dtype=bool)
    start = 0
    while start + need <= len(f0):
        window = cents[start:start + need]
        if np.all(np.isfinite(window)) and np.max(np.abs(window - np.median(window))) <= HELD_CENTS:
            end = start + need  # grow the stretch while it stays on the note
            while end < len(f0) and np.isfinite(cents[end]) and abs(cents[end] - np.median(window)) <= HELD_CENTS:
                end += 1
            held[start:end] = True
            start = end
        else:
            start += 1
    return float(held.sum() / voiced.sum())


def beat(x16: np.ndarray) -> tuple[float, int]:
    """(strength of the most regular onset period in 0.25-1.5 s, number of onsets)."""
    from scipy.signal import butter, find_peaks, sosfilt

    if len(x16) < ANALYSIS_SR * 2:
        return 0.0, 0
    band = sosfilt(butter(4, [3000, 7900], btype="band", fs=ANALYSIS_SR, output="sos"), x16.astype(np.float64))
    frames = len(band) // HOP
    energy = np.square(band[:frames * HOP]).reshape(frames, HOP).mean(axis=1)
    level = 10 * np.log10(energy + 1e-10)
    flux = np.maximum(np.diff(level, prepend=level[0]), 0.0)
    peaks, _ = find_peaks(flux, height=9.0, distance=int(0.1 * ANALYSIS_SR / HOP))  # sharp rises of 9 dB+
    if len(peaks) < MIN_ONSETS:
        return 0.0, len(peaks)
    onsets = np.zeros(frames)
    onsets[peaks] = 1.0
    onsets = np.convolve(onsets, np.ones(3), mode="same")  # a frame either way: tempo wobble
    onsets -= onsets.mean()
    energy0 = float(np.dot(onsets, onsets))
    lo, hi = int(0.25 * ANALYSIS_SR / HOP), min(int(1.5 * ANALYSIS_SR / HOP), frames - 1)
    if energy0 <= 0 or hi <= lo:
        return 0.0, len(peaks)
    # only the tempo lags (a full autocorrelation of a 10-minute recording would be slow), each
    # scaled up for the pairs it lacks at its lag
    corr = [float(np.dot(onsets[:-lag], onsets[lag:])) * frames / (frames - lag) for lag in range(lo, hi)]
    return max(corr) / energy0, len(peaks)


def music_reasons(x16: np.ndarray, f0: np.ndarray | None = None) -> list[str]:
    """Message keys of the musical signs found in this recording (empty: it sounds like speech)."""
    f0 = pitch_track(x16) if f0 is None else f0
    reasons = []
    if held_note_share(f0) >= HELD_SHARE:
        reasons.append("train_voice.music_held_notes")
    strength, count = beat(x16)
    if count >= MIN_ONSETS and strength >= BEAT_STRENGTH:
        reasons.append("train_voice.music_beat")
    return reasons


def several_speakers(medians_hz: list[float]) -> bool:
    """Whether the slices' median pitches form two groups far apart (see module doc)."""
    values = np.sort(12 * np.log2(np.asarray([m for m in medians_hz if m > 0], dtype=np.float64) / 440.0))
    n = len(values)
    if n < 5:
        return False
    best, split = -1.0, 0
    for k in range(1, n):  # Otsu: the split with the largest between-group variance
        a, b = values[:k], values[k:]
        between = k * (n - k) * (a.mean() - b.mean()) ** 2
        if between > best:
            best, split = between, k
    a, b = values[:split], values[split:]
    if min(len(a), len(b)) < GROUP_SHARE * n:
        return False
    gap = b.mean() - a.mean()
    spread = np.sqrt(a.var() + b.var())
    return bool(gap >= SPEAKER_GAP_SEMITONES and (spread == 0 or np.sqrt(2) * gap / spread > ASHMAN_D))
