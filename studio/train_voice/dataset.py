"""From a voice's recordings to training material: speech slices, pitch and content features.

Two phases, so that bad data is refused before anything is written:

1. ``survey`` (cheap): read every recording, find speech, cut slices of at most ``SLICE_S``
   seconds at quiet points, reject slices that are silent, clipped or too short, and judge
   whether the minutes of clean speech are enough (under 1 minute refused, under 10 warned);
   warn (never refuse) when a recording sounds like music or the slices like several people
   (``content_check``).
2. ``extract``: per slice, pitch (pm/harvest weightless, rmvpe/crepe when configured) and
   HuBERT/ContentVec features, cached on disk under the hash of the slice's samples and the
   settings that shape them, so a restart or a second training run reads them back.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio import audio as audiolib
from studio.train_voice import TrainingRefused
from studio.train_voice.content_check import music_reasons, pitch_track, several_speakers

TARGET_RATES = (32000, 40000, 48000)
SLICE_S = 3.7  # the reference slicer's piece length: a few seconds with whole syllables
MIN_SLICE_S = 1.0
MIN_SPEECH_S = 60.0  # below this the voice cannot be learnt: refused
GOOD_SPEECH_S = 600.0  # below this it can, roughly: warned ("aim for 10 minutes")
ANALYSIS_SR = 16000  # HuBERT and pitch run at 16 kHz with 10 ms frames
CACHE_FORMAT = 1  # bump when what is cached changes meaning


@dataclass
class Slice:
    source: str  # the recording's name, for the report
    start_s: float
    samples: np.ndarray  # at the survey's work rate (the recordings' rate)
    pitch_hz: float = 0.0  # median voiced pitch (Praat, in the survey), 0 when none

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(audiolib.WORK_SR)


@dataclass
class Rejection:
    source: str
    start_s: float
    key: str  # message key: train_voice.reject_silence / _clipping / _too_short
    values: dict = field(default_factory=dict)


@dataclass
class MusicFlag:
    source: str  # the recording's name
    reasons: list[str]  # message keys: train_voice.music_held_notes / music_beat


@dataclass
class Survey:
    target_sr: int
    slices: list[Slice]
    rejected: list[Rejection]
    recordings: int
    given_s: float  # everything the family gave
    warnings: list[tuple[str, dict]] = field(default_factory=list)
    music: list[MusicFlag] = field(default_factory=list)

    @property
    def speech_s(self) -> float:
        return sum(s.duration_s for s in self.slices)

    @property
    def enough(self) -> bool:
        return self.speech_s >= GOOD_SPEECH_S

    def summary(self) -> dict:
        reasons: dict[str, int] = {}
        for r in self.rejected:
            reasons[r.key] = reasons.get(r.key, 0) + 1
        return {"recordings": self.recordings, "given_minutes": round(self.given_s / 60, 2),
                "speech_minutes": round(self.speech_s / 60, 2), "slices": len(self.slices),
                "rejected": reasons, "enough": self.enough, "warnings": [k for k, _ in self.warnings],
                "music": {m.source: list(m.reasons) for m in self.music}}


@dataclass
class TrainItem:
    """One slice ready for training: waveform at the model's rate, 50 fps features, 100 fps pitch."""
    wav: np.ndarray  # float32 at target_sr
    phone: np.ndarray  # [frames50, dim] float32
    pitch: np.ndarray  # [frames100] int64, coarse 1..255
    pitchf: np.ndarray  # [frames100] float32 Hz (0 unvoiced)
    key: str


def survey(recordings: list[tuple[str, str | Path]], target_sr: int = 40000,
           min_speech_s: float = MIN_SPEECH_S) -> Survey:
    """Slice and judge the recordings ((name, wav path) pairs); refuse when they cannot train a voice."""
    if target_sr not in TARGET_RATES:
        raise TrainingRefused("train_voice.bad_rate", rate=target_sr)
    if not recordings:
        raise TrainingRefused("train_voice.no_recordings")
    slices: list[Slice] = []
    rejected: list[Rejection] = []
    music: list[MusicFlag] = []
    given = 0.0
    for name, path in recordings:
        check = audiolib.check_audio_file(path, name)
        samples = audiolib.decode(path, check, name, target_sr=audiolib.WORK_SR)
        given += len(samples) / audiolib.WORK_SR
        kept, lost = slice_recording(samples, audiolib.WORK_SR, name)
        if kept:
            if reasons := _listen(samples, kept):
                music.append(MusicFlag(name, reasons))
        slices += kept
        rejected += lost
    result = Survey(target_sr, slices, rejected, len(recordings), given, music=music)
    if not slices:
        if all(r.key == "train_voice.reject_silence" for r in rejected):
            raise TrainingRefused("train_voice.only_silence")
        raise TrainingRefused("train_voice.nothing_usable", count=len(rejected))
    if result.speech_s < min_speech_s:
        raise TrainingRefused("train_voice.too_little_speech", seconds=round(result.speech_s, 1),
                              needed=round(min_speech_s / 60, 1))
    if not result.enough:
        result.warnings.append(("train_voice.warn_little_speech",
                                {"minutes": round(result.speech_s / 60, 1)}))
    if music:
        result.warnings.append(("train_voice.warn_music", {"count": len(music)}))
    if several_speakers([s.pitch_hz for s in slices]):
        result.warnings.append(SEVERAL_SPEAKERS)
    return result


SEVERAL_SPEAKERS = ("train_voice.warn_several_speakers", {})


def _listen(samples: np.ndarray, kept: list[Slice]) -> list[str]:
    """Music signs in one recording; also notes each kept slice's median pitch (for the
    several-speakers check), from one Praat pitch track of the whole recording."""
    x16 = audiolib.resample(samples, audiolib.WORK_SR, ANALYSIS_SR)
    f0 = pitch_track(x16)
    for piece in kept:
        a = int(piece.start_s * ANALYSIS_SR / 160)
        voiced = f0[a:a + int(piece.duration_s * ANALYSIS_SR / 160)]
        voiced = voiced[voiced > 0]
        piece.pitch_hz = float(np.median(voiced)) if voiced.size else 0.0
    return music_reasons(x16, f0)


def slice_recording(samples: np.ndarray, sr: int, name: str) -> tuple[list[Slice], list[Rejection]]:
    """Speech regions cut into pieces of at most ``SLICE_S`` at their quietest frame."""
    db = audiolib.frame_db(samples, sr)
    if db.size == 0 or float(np.max(db)) < -50.0:
        return [], [Rejection(name, 0.0, "train_voice.reject_silence")]
    kept, rejected = [], []
    for start, end in audiolib.speech_regions(samples, sr):
        for a, b in _pieces(samples, sr, start, end):
            clip = samples[a:b]
            where = round(a / sr, 1)
            if (b - a) / sr < MIN_SLICE_S:
                rejected.append(Rejection(name, where, "train_voice.reject_too_short",
                                          {"seconds": round((b - a) / sr, 1)}))
            elif is_clipped(clip):
                rejected.append(Rejection(name, where, "train_voice.reject_clipping"))
            elif float(np.sqrt(np.mean(np.square(clip, dtype=np.float64)))) < 10 ** (-50 / 20):
                rejected.append(Rejection(name, where, "train_voice.reject_silence"))
            else:
                kept.append(Slice(name, where, clip.astype(np.float32)))
    if not kept and not rejected:
        rejected.append(Rejection(name, 0.0, "train_voice.reject_silence"))
    return kept, rejected


def _pieces(samples: np.ndarray, sr: int, start: int, end: int) -> list[tuple[int, int]]:
    out, limit, hop = [], int(SLICE_S * sr), int(0.02 * sr)
    while end - start > limit:
        lo = start + limit // 2  # cut in the quieter half of the next piece, never below 1.85 s
        db = audiolib.frame_db(samples[lo:start + limit], sr)
        cut = lo + (int(np.argmin(db)) * hop if db.size else limit // 2)
        out.append((start, cut))
        start = cut
    out.append((start, end))
    return out


def is_clipped(clip: np.ndarray, run: int = 4, share: float = 0.001) -> bool:
    """Flat tops: runs of ``run`` samples at the clip's peak (loudness normalisation may have
    scaled the clipping level below 1.0, so the level itself says nothing)."""
    mag = np.abs(clip)
    peak = float(mag.max()) if mag.size else 0.0
    if peak <= 0:
        return False
    at_peak = (mag >= 0.999 * peak).astype(np.int8)
    windows = np.convolve(at_peak, np.ones(run, dtype=np.int8), mode="valid")
    return int(np.count_nonzero(windows >= run)) > share * len(clip)


# -- features -----------------------------------------------------------------------------------
def extractor_identity(source: str) -> str:
    """What the cached features depend on: the model source, and for a folder its weights' stamp."""
    folder = Path(source).expanduser()
    stamps = []
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        path = folder / name
        if path.is_file():
            stat = path.stat()
            stamps.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return source + "|" + ",".join(stamps)


def slice_key(item: Slice, target_sr: int, f0_method: str, version: str, features_id: str) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(item.samples, dtype=np.float32).tobytes())
    digest.update(json.dumps([CACHE_FORMAT, target_sr, f0_method, version, features_id]).encode())
    return digest.hexdigest()


def check_disk(cache_dir: Path, seconds: float, dim: int) -> None:
    """Refuse before writing when the features would not fit (with room to spare)."""
    need = int(seconds * (50 * dim * 4 + 100 * 12) * 2) + (64 << 20)
    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    free = shutil.disk_usage(cache_dir).free
    if free < need:
        raise TrainingRefused("train_voice.disk_full", needed_mb=need >> 20, free_mb=free >> 20)


def extract(found: Survey, cache_dir: str | Path, features, features_id: str, version: str = "v2",
            f0_method: str = "pm", rmvpe_model: str = "", cancel=None) -> tuple[list[TrainItem], dict]:
    """Pitch and content features for every slice; returns (items, {"computed": n, "cached": n})."""
    from studio.backends.rvc.pipeline import coarse_pitch, extract_f0

    cache_dir = Path(cache_dir)
    dim = 768 if version == "v2" else 256
    stats = {"computed": 0, "cached": 0}
    keys = [slice_key(s, found.target_sr, f0_method, version, features_id) for s in found.slices]
    missing_s = sum(s.duration_s for s, k in zip(found.slices, keys) if not _cache_path(cache_dir, k).is_file())
    if missing_s:
        check_disk(cache_dir, missing_s, dim)
    items, medians = [], []
    for piece, key in zip(found.slices, keys):
        if cancel is not None:
            cancel.raise_if_cancelled()
        wav = audiolib.resample(piece.samples, audiolib.WORK_SR, found.target_sr)
        path = _cache_path(cache_dir, key)
        cached = _read_cache(path)
        if cached is None:
            x16 = audiolib.resample(piece.samples, audiolib.WORK_SR, ANALYSIS_SR)
            frames = len(x16) // 160 + 1
            f0 = extract_f0(x16.astype(np.float64), frames, f0_method, 3, rmvpe_model)
            phone = features(x16, version)[0].float().numpy().astype(np.float32)
            if phone.shape[-1] != dim:
                raise TrainingRefused("train_voice.feature_dim", got=phone.shape[-1], needed=dim, version=version)
            cached = {"phone": phone, "pitchf": f0.astype(np.float32)}
            _write_cache(path, cached)
            stats["computed"] += 1
        else:
            stats["cached"] += 1
        pitchf = cached["pitchf"]
        voiced = pitchf[pitchf > 0]
        if voiced.size:
            medians.append(float(np.median(voiced)))
        items.append(TrainItem(wav, cached["phone"], coarse_pitch(pitchf.astype(np.float64)),
                               pitchf, key))
    if SEVERAL_SPEAKERS not in found.warnings and several_speakers(medians):  # the chosen method's pitch
        found.warnings.append(SEVERAL_SPEAKERS)
    return items, stats


def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:2] / f"{key}.npz"


def _read_cache(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {"phone": data["phone"].astype(np.float32), "pitchf": data["pitchf"].astype(np.float32)}
    except (OSError, ValueError, KeyError):
        return None  # a damaged cache entry is recomputed, never trusted


def _write_cache(path: Path, arrays: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # a family's voice: owner-only
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
