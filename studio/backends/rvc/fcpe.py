"""FCPE pitch (the ``torchfcpe`` package, MIT; its weights ship inside the wheel, so it works offline).

torchfcpe declares torchaudio and imports ``torchaudio.transforms.Resample`` when it loads, but
that is all it uses of it, and the torchaudio that pip pairs with it fails to load on the CPU
torch the studio runs. So torchfcpe is installed ``--no-deps`` (requirements-nodeps.txt) and, at
load time, is given the studio's own polyphase resampler in place of torchaudio's: a stand-in
``torchaudio.transforms`` module is visible only while ``torchfcpe`` imports (any real torchaudio
in ``sys.modules`` is put back afterwards), and the name ``Resample`` in its mel module is pointed
at ours. Nothing in site-packages is edited.

The bundled checkpoint is read with ``torch.load(weights_only=True)`` like every model file.
torch is imported inside functions.
"""
from __future__ import annotations

import contextlib
import functools
import io
import sys
import threading
import types
from pathlib import Path

import numpy as np

ANALYSIS_SR = 16000
F0_MIN, F0_MAX = 50.0, 1100.0  # the studio's pitch range (pipeline.py)
THRESHOLD = 0.006  # the voicing threshold torchfcpe and RVC tools use with the bundled model
_lock = threading.Lock()


def fcpe_missing_reason() -> str | None:
    """Why the fcpe method cannot run, or None. Only an import that works counts (a broken
    dependency is reported as such); the import happens once."""
    try:
        _module()
    except Exception as exc:  # noqa: BLE001 - any import failure makes the method unavailable
        name = getattr(exc, "name", None)
        if isinstance(exc, ModuleNotFoundError) and name:
            return f"the package {name} is not installed (see requirements-nodeps.txt for torchfcpe)"
        return f"torchfcpe did not load ({type(exc).__name__}: {str(exc)[:160]})"
    return None


@functools.lru_cache(maxsize=1)
def polyphase_resampler():
    """A ``torch.nn.Module`` class with torchaudio ``Resample``'s constructor and call (``[..., time]``),
    computed by ``scipy.signal.resample_poly`` (a windowed-sinc polyphase filter); one class per process."""
    import torch

    class PolyphaseResample(torch.nn.Module):
        def __init__(self, orig_freq: int = 16000, new_freq: int = 16000, *_, **__):
            super().__init__()  # lowpass_filter_width and friends: resample_poly designs its own filter
            self.orig_freq, self.new_freq = int(orig_freq), int(new_freq)

        def forward(self, waveform):
            from studio.audio import resample

            if self.orig_freq == self.new_freq:
                return waveform
            flat = waveform.detach().float().cpu().reshape(-1, waveform.shape[-1]).numpy()
            out = np.stack([resample(row, self.orig_freq, self.new_freq) for row in flat])
            out = torch.from_numpy(out).reshape(*waveform.shape[:-1], out.shape[-1])
            return out.to(waveform.device, waveform.dtype)

    return PolyphaseResample


@functools.lru_cache(maxsize=1)
def _module():
    """``torchfcpe`` imported with our resampler standing in for torchaudio's."""
    names = ("torchaudio", "torchaudio.transforms")
    saved = {name: sys.modules.get(name) for name in names}
    stand_in = types.ModuleType("torchaudio")
    transforms = types.ModuleType("torchaudio.transforms")
    transforms.Resample = polyphase_resampler()
    stand_in.transforms = transforms
    sys.modules.update({"torchaudio": stand_in, "torchaudio.transforms": transforms})
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints notes ("Librosa not found") on import
            import torchfcpe
            from torchfcpe import mel_extractor
    finally:
        for name, module in saved.items():  # nobody else ever sees the stand-in
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    mel_extractor.Resample = polyphase_resampler()  # also when a working torchaudio was already loaded
    return torchfcpe


@functools.lru_cache(maxsize=2)
def _model(device: str):
    """The bundled FCPE network on ``device`` (built once per device)."""
    import torch

    torchfcpe = _module()
    from torchfcpe.models_infer import InferCFNaiveMelPE
    from torchfcpe.tools import DotDict

    path = Path(torchfcpe.__file__).parent / "assets" / "fcpe_c_v001.pt"
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    config = ckpt["config_dict"]
    config["model"]["conv_dropout"] = 0.0  # inference: what torchfcpe does for its bundled model
    config["model"]["atten_dropout"] = 0.0
    with contextlib.redirect_stdout(io.StringIO()):  # and warnings about config defaults when built
        model = InferCFNaiveMelPE(DotDict(config), ckpt["model"]).to(device).eval()
    return model


def fcpe_f0(x16: np.ndarray, frames: int | None = None, device: str = "auto") -> np.ndarray:
    """Pitch in Hz per 10 ms frame (frame i centred on sample i * 160, like pm and rmvpe), 0 where
    unvoiced. Raises ``BackendError`` when torchfcpe is not usable."""
    reason = fcpe_missing_reason()
    if reason:
        from studio.backends.base import BackendError

        raise BackendError("error.pitch_unavailable", method="fcpe", reason=reason)
    import torch

    from studio.backends.torch_device import choose_voice_placement

    where, _ = choose_voice_placement(device, "fcpe")
    model = _model(str(where))
    wav = torch.from_numpy(np.ascontiguousarray(x16, dtype=np.float32))[None, :, None]
    with _lock, torch.inference_mode():  # the mel module caches windows per call: one caller at a time
        f0 = model.infer(wav, sr=ANALYSIS_SR, decoder_mode="local_argmax", threshold=THRESHOLD, f0_min=F0_MIN,
                         f0_max=F0_MAX, interp_uv=False)
    f0 = f0[0, :, 0].float().cpu().numpy().astype(np.float64)
    f0[f0 < F0_MIN] = 0.0
    return f0 if frames is None else f0[:frames]
