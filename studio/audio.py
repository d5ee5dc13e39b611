"""Recordings in, clean clips out: validate cheaply first, then decode, normalise and slice.

Everything a family uploads goes through ``check_audio_file`` before any full decode: an empty
file, a text file renamed ``.wav``, a file whose header says it lasts two hours, or one that no
decoder can read stops there with a message written for people. Decoding uses soundfile (WAV,
FLAC, OGG) or an ffmpeg subprocess with a timeout (MP3, M4A, WebM from browsers).
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.mastering import loudness_lufs  # noqa: F401  (one loudness meter; callers import it from here too)
from studio.messages import Localized

MAX_SECONDS = 600.0  # one recording at most 10 minutes
MIN_CLIP_S, MAX_CLIP_S = 3.0, 10.0
MIN_RATE, MAX_RATE = 8000, 384000
WORK_SR = 24000  # recordings are kept at this rate (enough for speech, small files)
RECORDING_LUFS = -20.0
NARRATION_LUFS = -18.0
_MAGIC = {
    b"RIFF": "wav", b"fLaC": "flac", b"OggS": "ogg", b"ID3": "mp3", b"\x1aE\xdf\xa3": "webm",
    b"FORM": "aiff",
}


class AudioInputError(Localized, ValueError):
    """An uploaded audio file that cannot be used; the message is for the user."""


@dataclass
class AudioCheck:
    kind: str
    duration_s: float
    sample_rate: int


@dataclass
class PreparedRecording:
    samples: np.ndarray  # the whole recording, normalised, at WORK_SR
    sample_rate: int
    clips: list[np.ndarray]
    rejected: list[str] = field(default_factory=list)
    median_pitch_hz: float = 0.0

    @property
    def usable_s(self) -> float:
        return sum(len(c) for c in self.clips) / float(self.sample_rate)


def ffmpeg_binary(configured: str = "") -> str:
    """The configured ffmpeg, else the system one, else imageio-ffmpeg's bundled binary."""
    if configured:
        return configured
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # pragma: no cover - both missing
        raise AudioInputError("voice.audio_no_ffmpeg") from exc


def sniff(head: bytes) -> str | None:
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mp3"  # bare MPEG frame sync
    if head[4:8] == b"ftyp":
        return "m4a"
    return None


def check_audio_file(path: str | Path, name: str = "", ffmpeg: str = "", timeout_s: float = 60.0,
                     max_seconds: float = MAX_SECONDS) -> AudioCheck:
    """Reject bad files from their header alone (no full decode)."""
    path = Path(path)
    label = name or path.name
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        raise AudioInputError("voice.audio_cannot_open", name=label) from None
    if size == 0:
        raise AudioInputError("voice.audio_empty", name=label)
    kind = sniff(head)
    if kind is None:
        raise AudioInputError("voice.audio_not_audio", name=label)
    duration, rate = _header_duration(path, kind, label, ffmpeg, timeout_s)
    if duration > max_seconds:
        raise AudioInputError("voice.audio_too_long", name=label, length=_clock(duration),
                              minutes=int(max_seconds // 60))
    if duration <= 0.05:
        raise AudioInputError("voice.audio_no_sound", name=label)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioInputError("voice.audio_low_rate", name=label, rate=rate, minimum=MIN_RATE)
    return AudioCheck(kind, duration, rate)


def _header_duration(path: Path, kind: str, label: str, ffmpeg: str, timeout_s: float) -> tuple[float, int]:
    if kind in ("wav", "flac", "ogg", "aiff"):
        import soundfile as sf
        try:
            info = sf.info(str(path))
        except Exception:
            if kind != "ogg":  # ogg/opus may be outside libsndfile; ask ffmpeg
                raise AudioInputError("voice.audio_bad_header", name=label, kind=kind.upper()) from None
        else:
            if info.samplerate <= 0 or info.frames <= 0:
                raise AudioInputError("voice.audio_no_sound", name=label)
            return info.frames / float(info.samplerate), int(info.samplerate)
    # ffmpeg prints "Duration: HH:MM:SS.xx" from the container header (or a bitrate estimate)
    proc = _run([ffmpeg_binary(ffmpeg), "-hide_banner", "-nostdin", "-i", str(path)], timeout_s, label)
    text = proc.stderr.decode("utf-8", "replace")
    match = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", text)
    rate = re.search(r"Audio: .*?(\d+) Hz", text)
    if not match or not rate:
        raise AudioInputError("voice.audio_unsupported", name=label)
    h, m, s = match.groups()
    return int(h) * 3600 + int(m) * 60 + float(s), int(rate.group(1))


def _run(cmd: list[str], timeout_s: float, label: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise AudioInputError("voice.audio_slow", name=label) from None


def decode(path: str | Path, check: AudioCheck, name: str = "", ffmpeg: str = "",
           timeout_s: float = 120.0, target_sr: int = WORK_SR) -> np.ndarray:
    """Decode to float32 mono at ``target_sr`` (after ``check_audio_file`` passed)."""
    label = name or Path(path).name
    if check.kind in ("wav", "flac", "aiff"):
        import soundfile as sf
        try:
            data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception:
            raise AudioInputError("voice.audio_unreadable", name=label) from None
        return resample(data.mean(axis=1), sr, target_sr)
    cmd = [ffmpeg_binary(ffmpeg), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
           "-t", str(MAX_SECONDS + 1), "-vn", "-ac", "1", "-ar", str(target_sr), "-f", "f32le", "-"]
    proc = _run(cmd, timeout_s, label)
    samples = np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)
    if proc.returncode != 0 or samples.size < target_sr * 0.05:
        raise AudioInputError("voice.audio_undecodable", name=label)
    return samples


def resample(samples: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    if sr_in == sr_out:
        return samples
    from math import gcd

    from scipy.signal import resample_poly
    g = gcd(int(sr_in), int(sr_out))
    return resample_poly(samples, sr_out // g, sr_in // g).astype(np.float32)


def normalize_loudness(samples: np.ndarray, sr: int, target_lufs: float = NARRATION_LUFS) -> np.ndarray:
    """Gain to ``target_lufs`` (EBU R128), with a peak limit so nothing clips. For recordings;
    narration takes go through ``studio.mastering.master_take`` (true-peak limited)."""
    level = loudness_lufs(samples, sr)
    if not np.isfinite(level):
        return np.asarray(samples, dtype=np.float32)
    out = samples * (10.0 ** ((target_lufs - level) / 20.0))
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    if peak > 0.98:
        out = out * (0.98 / peak)
    return out.astype(np.float32)


def remove_dc(samples: np.ndarray, sr: int, cutoff_hz: float = 40.0) -> np.ndarray:
    """High-pass below the voice: a vocoder's DC offset or rumble would eat the loudness headroom."""
    from scipy.signal import butter, sosfiltfilt
    if len(samples) < 64:
        return np.asarray(samples, dtype=np.float32)
    sos = butter(2, cutoff_hz, btype="high", fs=sr, output="sos")
    return sosfiltfilt(sos, np.asarray(samples, dtype=np.float64)).astype(np.float32)


def frame_db(samples: np.ndarray, sr: int, frame_s: float = 0.02) -> np.ndarray:
    hop = max(1, int(sr * frame_s))
    n = len(samples) // hop
    if n == 0:
        return np.zeros(0)
    frames = samples[: n * hop].reshape(n, hop)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    return 20 * np.log10(rms + 1e-9)


def speech_regions(samples: np.ndarray, sr: int, frame_s: float = 0.02, floor_db: float = -35.0,
                   bridge_s: float = 0.35) -> list[tuple[int, int]]:
    """Sample ranges that hold sound: frames within ``floor_db`` of the loud frames, with short
    pauses (breaths, between words) bridged so sentences stay whole."""
    db = frame_db(samples, sr, frame_s)
    if db.size == 0:
        return []
    reference = np.percentile(db, 95)
    voiced = db > max(reference + floor_db, -60.0)
    hop = int(sr * frame_s)
    regions: list[list[int]] = []
    gap_limit = int(bridge_s / frame_s)
    for i, v in enumerate(voiced):
        if not v:
            continue
        if regions and i - regions[-1][1] <= gap_limit:
            regions[-1][1] = i + 1
        else:
            regions.append([i, i + 1])
    return [(a * hop, b * hop) for a, b in regions]


def slice_clips(samples: np.ndarray, sr: int) -> tuple[list[np.ndarray], list[str]]:
    """3–10 s clips of speech; long stretches split at their quietest point near 10 s."""
    clips, rejected = [], []
    for start, end in speech_regions(samples, sr):
        pieces = [(start, end)]
        while pieces:
            a, b = pieces.pop(0)
            length = (b - a) / sr
            if length > MAX_CLIP_S:
                cut = _quiet_cut(samples, sr, a, b)
                pieces[:0] = [(a, cut), (cut, b)]
            elif length < MIN_CLIP_S:
                rejected.append(f"{a / sr:.1f}s: too short ({length:.1f} s of speech)")
            else:
                clip = samples[a:b]
                if is_clipped(clip):
                    rejected.append(f"{a / sr:.1f}s: distorted (clipping)")
                else:
                    clips.append(clip)
    return clips, rejected


def is_clipped(samples: np.ndarray) -> bool:
    """Distorted: more than 1 % of the samples at the ceiling (a recording made too loud)."""
    return bool(np.mean(np.abs(samples) > 0.97) > 0.01)


def _quiet_cut(samples: np.ndarray, sr: int, a: int, b: int) -> int:
    lo, hi = a + int(MIN_CLIP_S * sr), min(b - int(MIN_CLIP_S * sr), a + int(MAX_CLIP_S * sr))
    if hi <= lo:
        return a + int(MAX_CLIP_S * sr)
    db = frame_db(samples[lo:hi], sr)
    hop = int(sr * 0.02)
    return lo + int(np.argmin(db)) * hop if db.size else (lo + hi) // 2


def median_pitch(clips: list[np.ndarray], sr: int) -> float:
    """Median F0 (Hz) over voiced frames of all clips (Praat autocorrelation)."""
    import parselmouth
    values = []
    for clip in clips:
        pitch = parselmouth.Sound(clip.astype(np.float64), sampling_frequency=sr).to_pitch_ac(
            time_step=0.01, pitch_floor=60.0, pitch_ceiling=700.0)
        f0 = pitch.selected_array["frequency"]
        values.append(f0[f0 > 0])
    voiced = np.concatenate(values) if values else np.zeros(0)
    return float(np.median(voiced)) if voiced.size else 0.0


def prepare_recording(path: str | Path, name: str = "", ffmpeg: str = "",
                      timeout_s: float = 120.0) -> PreparedRecording:
    """Check, decode, normalise (EBU R128), trim and slice one uploaded recording."""
    label = name or Path(path).name
    check = check_audio_file(path, label, ffmpeg, timeout_s)
    samples = decode(path, check, label, ffmpeg, timeout_s)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak < 1e-3 or float(np.max(frame_db(samples, WORK_SR))) < -50.0:
        raise AudioInputError("voice.audio_silent", name=label)
    samples = normalize_loudness(samples, WORK_SR, RECORDING_LUFS)
    regions = speech_regions(samples, WORK_SR)
    if regions:  # trim leading/trailing silence, keeping a little air
        pad = int(0.1 * WORK_SR)
        samples = samples[max(0, regions[0][0] - pad): regions[-1][1] + pad]
    clips, rejected = slice_clips(samples, WORK_SR)
    if not clips:
        raise AudioInputError("voice.audio_no_clip", name=label, seconds=f"{MIN_CLIP_S:.0f}",
                              details="; ".join(rejected[:3]) or "too quiet")
    return PreparedRecording(samples, WORK_SR, clips, rejected, median_pitch(clips, WORK_SR))


def wav_bytes(samples: np.ndarray, sr: int) -> bytes:
    import soundfile as sf
    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(samples, dtype=np.float32), -1, 1), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    import soundfile as sf
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return data.mean(axis=1), int(sr)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
