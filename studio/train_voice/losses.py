"""Spectrograms and the RVC/VITS training losses (constants as in the published RVC training).

Spectrogram: reflect padding of (n_fft - hop) / 2 on both sides, Hann window, no centring,
magnitude sqrt(re^2 + im^2 + 1e-6). Mel: Slaney-style filters (area-normalised, the librosa
default RVC uses), log of the filtered magnitude clamped at 1e-5.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

C_MEL = 45.0
C_KL = 1.0
MEL_BINS = {32000: 80, 40000: 125, 48000: 128}  # the reference configs' n_mel_channels


@dataclass(frozen=True)
class SpecConfig:
    sample_rate: int
    n_fft: int
    hop: int
    n_mels: int

    @classmethod
    def for_model(cls, spec_channels: int, hop: int, sample_rate: int, n_mels: int | None = None) -> "SpecConfig":
        return cls(sample_rate, (spec_channels - 1) * 2, hop, n_mels or MEL_BINS.get(sample_rate, 80))


def spectrogram(wav: torch.Tensor, cfg: SpecConfig) -> torch.Tensor:
    """[b, samples] -> [b, n_fft/2+1, frames] magnitude."""
    pad = (cfg.n_fft - cfg.hop) // 2
    x = F.pad(wav.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    window = torch.hann_window(cfg.n_fft, dtype=x.dtype, device=x.device)
    stft = torch.stft(x, cfg.n_fft, hop_length=cfg.hop, win_length=cfg.n_fft, window=window,
                      center=False, return_complex=True)
    return torch.sqrt(stft.real.pow(2) + stft.imag.pow(2) + 1e-6)


def spec_to_mel(spec: torch.Tensor, cfg: SpecConfig) -> torch.Tensor:
    basis = torch.from_numpy(mel_filters(cfg.sample_rate, cfg.n_fft, cfg.n_mels)).to(spec)
    return torch.log(torch.clamp(basis @ spec, min=1e-5))


def mel_spectrogram(wav: torch.Tensor, cfg: SpecConfig) -> torch.Tensor:
    return spec_to_mel(spectrogram(wav, cfg), cfg)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


@functools.lru_cache(maxsize=8)
def mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """[n_mels, n_fft/2+1] triangular filters on the Slaney scale, each normalised to unit area."""
    fmax = sample_rate / 2 if fmax is None else fmax
    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:n_mels + 2] - edges[:n_mels]))[:, None]
    return weights.astype(np.float32)


# -- losses -------------------------------------------------------------------------------------
def discriminator_loss(real_outputs, fake_outputs) -> torch.Tensor:
    """LSGAN: real towards 1, generated towards 0, summed over the sub-discriminators."""
    loss = 0.0
    for dr, dg in zip(real_outputs, fake_outputs):
        loss = loss + torch.mean((1 - dr.float()) ** 2) + torch.mean(dg.float() ** 2)
    return loss


def generator_loss(fake_outputs) -> torch.Tensor:
    loss = 0.0
    for dg in fake_outputs:
        loss = loss + torch.mean((1 - dg.float()) ** 2)
    return loss


def feature_loss(real_maps, fake_maps) -> torch.Tensor:
    """L1 between the discriminators' inner activations for real and generated audio, times 2."""
    loss = 0.0
    for real, fake in zip(real_maps, fake_maps):
        for r, g in zip(real, fake):
            loss = loss + torch.mean(torch.abs(r.float().detach() - g.float()))
    return loss * 2


def kl_loss(z_p: torch.Tensor, logs_q: torch.Tensor, m_p: torch.Tensor, logs_p: torch.Tensor,
            mask: torch.Tensor) -> torch.Tensor:
    """KL between the posterior (pushed through the flow) and the text encoder's prior."""
    z_p, logs_q, m_p, logs_p = z_p.float(), logs_q.float(), m_p.float(), logs_p.float()
    kl = logs_p - logs_q - 0.5 + 0.5 * ((z_p - m_p) ** 2) * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * mask) / torch.sum(mask)
