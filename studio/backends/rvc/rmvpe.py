"""RMVPE pitch (Wei et al. 2023, "A Robust Model for Vocal Pitch Estimation"), written for the studio.

The network is the published E2E model: a log-mel spectrogram (128 bins, 16 kHz, 10 ms hop) goes
through a deep residual U-Net, a 3-channel conv, a bidirectional GRU and a linear layer to a
salience map over 360 pitch bins 20 cents apart; pitch is the salience-weighted average of the
cents around the peak, and frames whose peak is weak are unvoiced. Layer names follow the
``rmvpe.pt`` that RVC users already have, so that file loads with ``strict=True``.

Model files are read only through ``torch.load(weights_only=True)`` or safetensors: a pickle that
holds anything but tensors is refused before it is built. torch is imported inside functions.
"""
from __future__ import annotations

import functools
import re
import threading
from pathlib import Path

import numpy as np

from studio.backends.base import BackendError

SAMPLE_RATE = 16000
HOP = 160  # one salience frame per 10 ms, centred on sample i * HOP
N_FFT = 1024
N_MELS = 128
MEL_FMIN, MEL_FMAX = 30.0, 8000.0
LOG_FLOOR = 1e-5
N_BINS = 360
CENTS_PER_BIN = 20.0
BIN0_CENTS = 1997.3794084376191  # cents above 10 Hz of bin 0 (about 31.7 Hz), as the model was trained
VOICED_THRESHOLD = 0.03  # RVC's threshold on the peak salience
MAX_FILE_BYTES = 512 << 20  # the published model is ~181 MB
SETTING = "GIEOK_RMVPE_MODEL"

_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], object]] = {}  # path -> ((mtime_ns, size), network)


def rmvpe_missing_reason(path: str) -> str | None:
    """Why the rmvpe method cannot run with this model path, or None; never imports torch."""
    if not path:
        return f"no RMVPE model is set ({SETTING}: the path to rmvpe.pt, the file RVC ships in assets/rmvpe)"
    if not Path(path).expanduser().is_file():
        return f"the RMVPE model file set in {SETTING} was not found: {path}"
    return None


def default_f0_method(path: str) -> str:
    """What RVC users expect: ``rmvpe`` when its weights are set, else ``pm`` (see ``f0_default_note``)."""
    return "rmvpe" if rmvpe_missing_reason(path) is None else "pm"


def f0_default_note(path: str, lang: str | None = None) -> str:
    """A line for the voice tab when the default had to fall back to pm ("" when rmvpe is the default)."""
    from studio.messages import text

    return "" if default_f0_method(path) == "rmvpe" else text("models.pitch_default_pm", lang)


@functools.lru_cache(maxsize=1)
def _classes():
    """The network's modules (defined on first use so that importing this file needs no torch)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class ResidualConv(nn.Module):
        """Two 3x3 conv + batch-norm + ReLU layers with a skip (1x1 conv when the width changes)."""

        def __init__(self, c_in: int, c_out: int):
            super().__init__()
            self.conv = nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())
            if c_in != c_out:
                self.shortcut = nn.Conv2d(c_in, c_out, 1)

        def forward(self, x):
            skip = self.shortcut(x) if hasattr(self, "shortcut") else x
            return self.conv(x) + skip

    class Stage(nn.Module):
        """``blocks`` residual convs; the first one changes the width."""

        def __init__(self, c_in: int, c_out: int, blocks: int):
            super().__init__()
            self.conv = nn.ModuleList([ResidualConv(c_in if i == 0 else c_out, c_out) for i in range(blocks)])

        def forward(self, x):
            for layer in self.conv:
                x = layer(x)
            return x

    class UpStage(nn.Module):
        """Transposed conv doubling time and frequency, then the skip joined and residual convs."""

        def __init__(self, c_in: int, blocks: int):
            super().__init__()
            c_out = c_in // 2
            self.conv1 = nn.Sequential(
                nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1, bias=False),
                nn.BatchNorm2d(c_out), nn.ReLU())
            self.conv2 = nn.ModuleList([ResidualConv(c_in if i == 0 else c_out, c_out) for i in range(blocks)])

        def forward(self, x, skip):
            x = torch.cat((self.conv1(x), skip), dim=1)
            for layer in self.conv2:
                x = layer(x)
            return x

    class BiGRU(nn.Module):
        def __init__(self, n_in: int, hidden: int, layers: int):
            super().__init__()
            self.gru = nn.GRU(n_in, hidden, num_layers=layers, batch_first=True, bidirectional=True)

        def forward(self, x):
            return self.gru(x)[0]

    class E2E(nn.Module):
        """Defaults are the published model; smaller sizes are for tests."""

        def __init__(self, blocks: int = 4, depth: int = 5, middle: int = 4, width: int = 16,
                     gru_layers: int = 1, gru_hidden: int = 256):
            super().__init__()
            if N_MELS % (2 ** depth):
                raise ValueError(f"{N_MELS} mel bins cannot be halved {depth} times")
            self.depth = depth
            widths = [width * 2 ** i for i in range(depth + 1)]  # 16 ... 512 for the published model
            self.unet = nn.Module()
            self.unet.encoder = nn.Module()
            self.unet.encoder.bn = nn.BatchNorm2d(1)
            self.unet.encoder.layers = nn.ModuleList(
                [Stage(1 if i == 0 else widths[i - 1], widths[i], blocks) for i in range(depth)])
            self.unet.intermediate = nn.Module()
            self.unet.intermediate.layers = nn.Sequential(
                *[Stage(widths[depth - 1] if i == 0 else widths[depth], widths[depth], blocks)
                  for i in range(middle)])
            self.unet.decoder = nn.Module()
            self.unet.decoder.layers = nn.ModuleList([UpStage(widths[depth - i], blocks) for i in range(depth)])
            self.cnn = nn.Conv2d(width, 3, 3, padding=1)
            self.fc = nn.Sequential(BiGRU(3 * N_MELS, gru_hidden, gru_layers), nn.Linear(2 * gru_hidden, N_BINS))

        def forward(self, mel):
            """(batch, mels, frames) log-mel, frames a multiple of 2**depth -> (batch, frames, bins)."""
            x = self.unet.encoder.bn(mel.transpose(1, 2).unsqueeze(1))  # (batch, 1, frames, mels)
            skips = []
            for stage in self.unet.encoder.layers:
                x = stage(x)
                skips.append(x)
                x = F.avg_pool2d(x, 2)
            x = self.unet.intermediate.layers(x)
            for stage, skip in zip(self.unet.decoder.layers, reversed(skips)):
                x = stage(x, skip)
            x = self.cnn(x).transpose(1, 2).flatten(2)  # (batch, frames, 3 * mels)
            return torch.sigmoid(self.fc(x))

    return E2E


def build_network(**sizes):
    """A new RMVPE network (random weights); the published size when no sizes are given."""
    return _classes()(**sizes)


def _count(state: dict, pattern: str) -> int:
    found = {m.group(1) for key in state if (m := re.fullmatch(pattern, key))}
    return len(found)


def sizes_from_state(state: dict) -> dict:
    """Read the network's sizes back from its weights (the published file gives the defaults)."""
    try:
        return {"width": int(state["unet.encoder.layers.0.conv.0.conv.0.weight"].shape[0]),
                "depth": _count(state, r"unet\.encoder\.layers\.(\d+)\..*"),
                "blocks": _count(state, r"unet\.encoder\.layers\.0\.conv\.(\d+)\..*"),
                "middle": _count(state, r"unet\.intermediate\.layers\.(\d+)\..*"),
                "gru_layers": _count(state, r"fc\.0\.gru\.weight_ih_l(\d+)"),
                "gru_hidden": int(state["fc.0.gru.weight_hh_l0"].shape[1])}
    except (KeyError, AttributeError, IndexError) as exc:
        raise BackendError("error.rmvpe_not_model", detail=str(exc)[:200]) from None


def _read_weights(path: Path) -> dict:
    import pickle

    import torch

    if path.stat().st_size == 0 or path.stat().st_size > MAX_FILE_BYTES:
        raise BackendError("models.rmvpe_size", setting=SETTING)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise BackendError("models.rmvpe_code", setting=SETTING) from None
    except Exception as exc:
        raise BackendError("models.rmvpe_unreadable", setting=SETTING, kind=type(exc).__name__) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BackendError("models.rmvpe_not_weights", setting=SETTING)
    return state


def _load(path: Path):
    import torch

    state = _read_weights(path)
    sizes = sizes_from_state(state)
    try:
        with torch.device("meta"):  # no memory for random weights that are replaced at once
            net = build_network(**sizes)
        net.load_state_dict(state, strict=True, assign=True)
    except (RuntimeError, ValueError) as exc:
        detail = str(exc).splitlines()
        raise BackendError("models.rmvpe_layout", detail=" ".join(detail[:3])[:300]) from None
    return net.float().eval()


def load_rmvpe(model_path: str, device: str = "auto"):
    """The network for this file on the ``GIEOK_DEVICE`` placement, loaded once per path and
    device (again only if the file changes)."""
    reason = rmvpe_missing_reason(model_path)
    if reason:
        raise BackendError("error.pitch_unavailable", method="rmvpe", reason=reason)
    path = Path(model_path).expanduser()
    stamp = (path.stat().st_mtime_ns, path.stat().st_size)
    with _lock:
        key = f"{path}|{device}"
        cached = _cache.get(key)
        if cached is None or cached[0] != stamp:
            from studio.backends.torch_device import choose_voice_placement

            where, dtype = choose_voice_placement(device, "rmvpe")
            cached = _cache[key] = (stamp, _load(path).to(where, dtype))
        return cached[1]


@functools.lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """(mels, N_FFT//2+1) triangles evenly spaced on the HTK mel scale, each with unit area
    (Slaney normalisation), which is the filterbank RMVPE was trained with."""
    def to_mel(hz):
        return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)

    def to_hz(mel):
        return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)

    edges = to_hz(np.linspace(to_mel(MEL_FMIN), to_mel(MEL_FMAX), N_MELS + 2))
    freqs = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    low, mid, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None] - low) / (mid - low)
    falling = (high - freqs[None]) / (high - mid)
    bank = np.maximum(0.0, np.minimum(rising, falling))
    return (bank * (2.0 / (high - low))).astype(np.float32)


def log_mel(x16: np.ndarray):
    """(1, N_MELS, len // HOP + 1) natural-log mel magnitudes of 16 kHz audio, frames centred."""
    import torch

    n = len(x16)
    audio = torch.from_numpy(np.ascontiguousarray(x16, dtype=np.float32))
    if n <= N_FFT // 2:  # reflect padding needs more samples than half a window
        audio = torch.nn.functional.pad(audio, (0, N_FFT // 2 + 1 - n))
    spec = torch.stft(audio[None], N_FFT, hop_length=HOP, win_length=N_FFT, window=torch.hann_window(N_FFT),
                      center=True, pad_mode="reflect", return_complex=True).abs()[..., : n // HOP + 1]
    mel = torch.matmul(torch.from_numpy(mel_filterbank()), spec)
    return torch.log(mel.clamp_min(LOG_FLOOR))


def salience_to_hz(salience: np.ndarray, threshold: float = VOICED_THRESHOLD) -> np.ndarray:
    """(frames, bins) -> Hz per frame: the salience-weighted mean of the cents within 4 bins of the
    peak; 0 where the peak is at or below ``threshold`` (unvoiced)."""
    salience = np.asarray(salience, dtype=np.float64)
    bins = salience.shape[1]
    cents = np.pad(BIN0_CENTS + CENTS_PER_BIN * np.arange(bins), 4)
    padded = np.pad(salience, ((0, 0), (4, 4)))
    window = salience.argmax(axis=1)[:, None] + np.arange(9)[None]  # peak +-4 in padded coordinates
    weights = np.take_along_axis(padded, window, axis=1)
    total = weights.sum(axis=1)
    mean_cents = (weights * cents[window]).sum(axis=1) / np.maximum(total, 1e-12)
    hz = 10.0 * 2.0 ** (mean_cents / 1200.0)
    hz[salience.max(axis=1) <= threshold] = 0.0
    return hz


def pad_frames(mel, multiple: int):
    """Pad the mel frames up to a multiple of ``multiple`` (the U-Net halves time ``depth`` times)
    with zeros, as the published RMVPE does: the network was trained and is used that way, and
    any other padding changes the salience of the last frames."""
    import torch

    extra = -mel.shape[-1] % multiple
    return torch.nn.functional.pad(mel, (0, extra), mode="constant", value=0.0) if extra else mel


def rmvpe_f0(x16: np.ndarray, model_path: str, threshold: float = VOICED_THRESHOLD,
             device: str = "auto") -> np.ndarray:
    """Pitch in Hz of 16 kHz audio, one value per 10 ms frame (``len // HOP + 1`` of them)."""
    import torch

    net = load_rmvpe(model_path, device)
    with torch.inference_mode():
        mel = log_mel(x16)
        frames = mel.shape[-1]
        mel = pad_frames(mel, 2 ** net.depth)
        salience = net(mel.to(next(net.parameters()).device))[0, :frames].float().cpu().numpy()
    return salience_to_hz(salience, threshold)
