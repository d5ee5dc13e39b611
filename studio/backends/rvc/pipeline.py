"""RVC conversion: content features (HuBERT/ContentVec) + pitch -> the target voice.

Steps, all at 16 kHz analysis with 10 ms frames: high-pass, features (20 ms) doubled in time,
optional blend with the nearest training features from the ``.index`` (``index_rate``), pitch by
Praat (``pm``), WORLD (``harvest``, median-filtered), CREPE, RMVPE (``rmvpe.py``) or FCPE (``fcpe.py``), transpose, ``protect`` keeping
unvoiced consonants closer to the source, then the synthesizer and an RMS envelope mix.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.audio import resample

ANALYSIS_SR = 16000
HOP = 160  # 10 ms frames
F0_MIN, F0_MAX = 50.0, 1100.0
MEL_MIN = 1127 * np.log(1 + F0_MIN / 700)
MEL_MAX = 1127 * np.log(1 + F0_MAX / 700)


@dataclass
class ConversionOptions:
    transpose: float = 0.0  # semitones
    index_rate: float = 0.5
    protect: float = 0.33
    filter_radius: int = 3
    rms_mix_rate: float = 0.25
    f0_method: str = "pm"
    speaker: int = 0
    seed: int = 0
    rmvpe_model: str = ""  # path to rmvpe.pt; the converter fills it from settings, never from a voice
    device: str = "auto"  # GIEOK_DEVICE, filled by the converter from settings


def load_pyworld():
    """pyworld (imported on use: only voice conversion needs it). Its 0.3.5 ``__init__`` needs
    ``pkg_resources``, which requirements.txt provides by pinning setuptools below 81."""
    import pyworld

    return pyworld


def extract_f0(x16: np.ndarray, frames: int, method: str = "pm", filter_radius: int = 3,
               rmvpe_model: str = "", device: str = "auto") -> np.ndarray:
    if method == "harvest":
        pw = load_pyworld()
        f0, t = pw.harvest(x16.astype(np.float64), fs=ANALYSIS_SR, f0_ceil=F0_MAX, f0_floor=F0_MIN,
                           frame_period=1000 * HOP / ANALYSIS_SR)
        f0 = pw.stonemask(x16.astype(np.float64), f0, t, ANALYSIS_SR)
        if filter_radius > 2:
            from scipy.signal import medfilt
            f0 = medfilt(f0, int(filter_radius) | 1)
    elif method == "pm":
        import parselmouth
        sound = parselmouth.Sound(x16.astype(np.float64), sampling_frequency=ANALYSIS_SR)
        f0 = sound.to_pitch_ac(time_step=HOP / ANALYSIS_SR, voicing_threshold=0.6, pitch_floor=F0_MIN,
                               pitch_ceiling=F0_MAX).selected_array["frequency"]
        lead = max(0, (frames - len(f0) + 1) // 2)
        f0 = np.pad(f0, (lead, max(0, frames - len(f0) - lead)))
    elif method == "crepe":
        f0 = _crepe_f0(x16, frames, device)
    elif method == "rmvpe":
        from studio.backends.rvc.rmvpe import rmvpe_f0
        f0 = rmvpe_f0(x16, rmvpe_model, device=device)  # frame i centred on sample i * HOP, like pm and harvest
    elif method == "fcpe":
        from studio.backends.rvc.fcpe import fcpe_f0
        f0 = fcpe_f0(x16, frames, device)  # the same 10 ms frames, centred alike
    else:
        raise ValueError(f"Unknown pitch method {method!r} (pm, harvest, crepe, rmvpe or fcpe).")
    f0 = np.asarray(f0, dtype=np.float64)[:frames]
    return np.pad(f0, (0, frames - len(f0)))


def crepe_missing_reason() -> str | None:
    from studio.backends.base import missing_packages

    if missing_packages("torchcrepe"):
        return "torchcrepe is not installed (optional: it needs torchaudio; see requirements-optional.txt)"
    return None


def _crepe_f0(x16: np.ndarray, frames: int, device: str = "auto") -> np.ndarray:
    """CREPE pitch through the optional ``torchcrepe`` package (its weights ship inside it)."""
    reason = crepe_missing_reason()
    if reason:
        from studio.backends.base import BackendError

        raise BackendError("error.pitch_unavailable", method="crepe", reason=reason)
    import torch
    import torchcrepe

    from studio.backends.torch_device import choose_voice_placement
    where, _ = choose_voice_placement(device, "crepe")
    audio = torch.from_numpy(np.ascontiguousarray(x16, dtype=np.float32))[None]
    f0, periodicity = torchcrepe.predict(audio, ANALYSIS_SR, HOP, F0_MIN, F0_MAX, model="full",
                                         batch_size=512, device=str(where), return_periodicity=True)
    f0 = f0[0].detach().cpu().numpy().astype(np.float64)
    voiced = periodicity[0].detach().cpu().numpy() >= 0.1  # unvoiced frames carry no pitch
    return np.where(voiced, f0, 0.0)[:frames]


def coarse_pitch(f0: np.ndarray) -> np.ndarray:
    """F0 in Hz -> the 1..255 mel-spaced bins the pitch embedding was trained on (0 Hz -> 1)."""
    mel = 1127 * np.log(1 + f0 / 700)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - MEL_MIN) * 254 / (MEL_MAX - MEL_MIN) + 1
    return np.rint(np.clip(mel, 1, 255)).astype(np.int64)


class FeatureExtractor:
    """HuBERT / ContentVec through transformers ``HubertModel`` (hub id or local folder)."""

    def __init__(self, source: str, device: str = "auto"):
        import torch
        from transformers import HubertModel

        from studio.backends.model_sources import load_kwargs
        from studio.backends.torch_device import choose_voice_placement

        self.source, self.device_setting = source, device
        self.device, self.dtype = choose_voice_placement(device, "hubert")
        self.model = HubertModel.from_pretrained(source, **load_kwargs(source)).eval().to(self.device, self.dtype)
        self.final_proj = None
        proj = _final_proj(source)  # ContentVec ports ship it beside the encoder (v1 models need it)
        if proj is not None:
            self.final_proj = torch.nn.Linear(proj["weight"].shape[1], proj["weight"].shape[0])
            self.final_proj.load_state_dict(proj)
            self.final_proj.to(self.device, self.dtype)

    def __call__(self, x16: np.ndarray, version: str):
        import torch

        with torch.inference_mode():
            wav = torch.from_numpy(x16.astype(np.float32))[None].to(self.device, self.dtype)
            return self._features(wav, version).float().cpu()

    def _features(self, wav, version: str):
        out = self.model(wav, output_hidden_states=(version == "v1"))
        if version == "v2":
            return out.last_hidden_state
        hidden = out.hidden_states[min(9, len(out.hidden_states) - 1)]
        if self.final_proj is None:
            if hidden.shape[-1] == 256:
                return hidden
            raise ValueError("An RVC v1 model needs ContentVec's final projection (final_proj); "
                             "this HuBERT folder has none.")
        return self.final_proj(hidden)


def _weights_file(source: str, name: str) -> str | None:
    """A local folder's file, or a hub id's file from the cache (``from_pretrained`` just put it there)."""
    from pathlib import Path

    from studio.backends.model_sources import cached_file
    local = Path(source).expanduser() / name
    return str(local) if local.is_file() else cached_file(source, name)


def _final_proj(source: str):
    if path := _weights_file(source, "model.safetensors"):
        from safetensors.torch import load_file
        state = load_file(path)
    elif path := _weights_file(source, "pytorch_model.bin"):
        import torch
        state = torch.load(path, map_location="cpu", weights_only=True)
    else:
        return None
    if "final_proj.weight" not in state:
        return None
    return {"weight": state["final_proj.weight"], "bias": state["final_proj.bias"]}


def convert(samples: np.ndarray, sr: int, model, features: FeatureExtractor, opts: ConversionOptions,
            index=None, index_vectors: np.ndarray | None = None, max_chunk_s: float = 30.0) -> tuple[np.ndarray, int]:
    """Speech through RVC in pieces of at most ``max_chunk_s`` cut at quiet moments (attention
    memory grows with the square of the length); returns (samples at the model's rate, rate)."""
    from studio.audio import frame_db
    pieces, start, limit = [], 0, int(max_chunk_s * sr)
    while len(samples) - start > limit:
        window = samples[start + limit // 2: start + limit]
        db = frame_db(window, sr)
        cut = start + limit // 2 + (int(np.argmin(db)) * int(sr * 0.02) if db.size else len(window))
        pieces.append(samples[start:cut])
        start = cut
    pieces.append(samples[start:])
    out = [convert_one(p, sr, model, features, opts, index, index_vectors) for p in pieces if len(p)]
    return np.concatenate(out) if out else np.zeros(0, np.float32), model.sample_rate


def convert_one(samples: np.ndarray, sr: int, model, features: FeatureExtractor, opts: ConversionOptions,
                index=None, index_vectors: np.ndarray | None = None) -> np.ndarray:
    """One utterance through RVC, at the model's sample rate."""
    import torch
    from scipy.signal import butter, filtfilt

    synth = model.synthesizer
    x16 = resample(samples, sr, ANALYSIS_SR).astype(np.float64)
    b, a = butter(5, 48, btype="high", fs=ANALYSIS_SR)
    x16 = filtfilt(b, a, x16).astype(np.float32)
    pad = ANALYSIS_SR // 2  # reflect padding so the edges are not cut off
    padded = np.pad(x16, (pad, pad), mode="reflect") if len(x16) > pad else np.pad(x16, (pad, pad))
    frames = len(padded) // HOP
    feats = features(padded, model.version).float()
    if feats.shape[-1] != synth.feature_dim:
        raise ValueError(f"The HuBERT model gives {feats.shape[-1]}-dim features; this RVC {model.version} "
                         f"model needs {synth.feature_dim}.")
    source_feats = feats.clone()
    if index is not None and opts.index_rate > 0:
        query = feats[0].numpy()
        distances, ids = index.search(query, 8)
        weight = np.square(1 / np.maximum(distances, 1e-6))
        weight /= weight.sum(axis=1, keepdims=True)
        retrieved = np.sum(index_vectors[ids] * weight[:, :, None], axis=1)
        rate = float(np.clip(opts.index_rate, 0, 1))
        feats = torch.from_numpy(rate * retrieved + (1 - rate) * query).float()[None]
    feats = torch.nn.functional.interpolate(feats.transpose(1, 2), scale_factor=2).transpose(1, 2)
    source_feats = torch.nn.functional.interpolate(source_feats.transpose(1, 2), scale_factor=2).transpose(1, 2)
    frames = min(frames, feats.shape[1])
    feats, source_feats = feats[:, :frames], source_feats[:, :frames]
    pitch = pitchf = None
    torch.manual_seed(int(opts.seed))
    if model.use_f0:
        f0 = extract_f0(padded, frames, opts.f0_method, opts.filter_radius,
                        opts.rmvpe_model, opts.device) * 2 ** (opts.transpose / 12)
        pitch = torch.from_numpy(coarse_pitch(f0.copy()))[None]
        pitchf = torch.from_numpy(f0).float()[None]
        if opts.protect < 0.5:  # keep breathy/unvoiced sounds from the source features
            keep = torch.where(pitchf > 0, torch.ones_like(pitchf), torch.full_like(pitchf, opts.protect))
            feats = feats * keep.unsqueeze(-1) + source_feats * (1 - keep.unsqueeze(-1))
    weights = next(synth.parameters())  # the synthesizer's device and dtype (GIEOK_DEVICE)
    feats = feats.to(weights.device, weights.dtype)
    pitch = pitch.to(weights.device) if pitch is not None else None
    pitchf = pitchf.to(weights.device, weights.dtype) if pitchf is not None else None
    audio = synth.infer(feats, pitch, pitchf, speaker=opts.speaker).float().cpu().numpy()
    per_frame = synth.samples_per_frame
    cut = (pad // HOP) * per_frame
    audio = audio[cut: cut + int(round(len(x16) / HOP * per_frame))]
    if opts.rms_mix_rate < 1:
        audio = mix_rms(x16, ANALYSIS_SR, audio, model.sample_rate, opts.rms_mix_rate)
    return audio.astype(np.float32)


def _rms_curve(x: np.ndarray, sr: int, length: int) -> np.ndarray:
    hop = sr // 2
    n = max(1, len(x) // hop)
    frames = np.array([np.sqrt(np.mean(np.square(x[i * hop:(i + 1) * hop])) + 1e-12) for i in range(n)])
    return np.interp(np.linspace(0, n - 1, length), np.arange(n), frames) if n > 1 else np.full(length, frames[0])


def mix_rms(source: np.ndarray, sr_s: int, out: np.ndarray, sr_o: int, rate: float) -> np.ndarray:
    """Move the output's loudness envelope toward the source's (rate 1 keeps the output's)."""
    if len(out) == 0:
        return out
    rms_s = _rms_curve(source, sr_s, len(out))
    rms_o = np.maximum(_rms_curve(out, sr_o, len(out)), 1e-6)
    return out * np.power(rms_s, 1 - rate) * np.power(rms_o, rate - 1)
