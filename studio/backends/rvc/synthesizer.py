"""The RVC synthesizer (v1: 256-dim features, v2: 768-dim), with or without pitch guidance.

Built from the ``config`` list stored in every RVC ``.pth``:
[spec_channels, segment_size, inter_channels, hidden_channels, filter_channels, n_heads,
 n_layers, kernel_size, p_dropout, resblock, resblock_kernel_sizes, resblock_dilation_sizes,
 upsample_rates, upsample_initial_channel, upsample_kernel_sizes, spk_embed_dim, gin_channels, sr]
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from studio.backends.rvc.generator import Generator
from studio.backends.rvc.layers import CouplingFlow, TextEncoder


@dataclass
class SynthConfig:
    spec_channels: int
    segment_size: int
    inter_channels: int
    hidden_channels: int
    filter_channels: int
    n_heads: int
    n_layers: int
    kernel_size: int
    p_dropout: float
    resblock: str
    resblock_kernel_sizes: list[int]
    resblock_dilation_sizes: list[list[int]]
    upsample_rates: list[int]
    upsample_initial_channel: int
    upsample_kernel_sizes: list[int]
    spk_embed_dim: int
    gin_channels: int
    sr: int

    @classmethod
    def from_list(cls, values: list) -> "SynthConfig":
        values = list(values)
        if len(values) == 19:  # some exports append a half-precision flag
            values = values[:18]
        if len(values) != 18:
            raise ValueError(f"an RVC config has 18 entries, this one has {len(values)}")
        cfg = cls(*values)
        cfg.sr = _rate(cfg.sr)
        return cfg

    def to_list(self) -> list:
        return [getattr(self, f) for f in self.__dataclass_fields__]


def _rate(value) -> int:
    if isinstance(value, str):
        return {"32k": 32000, "40k": 40000, "48k": 48000}.get(value) or int(value)
    return int(value)


class Synthesizer(nn.Module):
    def __init__(self, cfg: SynthConfig, version: str = "v2", use_f0: bool = True):
        super().__init__()
        self.cfg, self.version, self.use_f0 = cfg, version, use_f0
        self.feature_dim = 768 if version == "v2" else 256
        self.enc_p = TextEncoder(self.feature_dim, cfg.inter_channels, cfg.hidden_channels, cfg.filter_channels,
                                 cfg.n_heads, cfg.n_layers, cfg.kernel_size, use_f0)
        self.dec = Generator(cfg.inter_channels, cfg.resblock, cfg.resblock_kernel_sizes,
                             cfg.resblock_dilation_sizes, cfg.upsample_rates, cfg.upsample_initial_channel,
                             cfg.upsample_kernel_sizes, cfg.gin_channels, cfg.sr if use_f0 else None)
        self.flow = CouplingFlow(cfg.inter_channels, cfg.hidden_channels, cfg.gin_channels)
        self.emb_g = nn.Embedding(cfg.spk_embed_dim, cfg.gin_channels)

    @property
    def samples_per_frame(self) -> int:
        return self.dec.upsample

    @torch.inference_mode()
    def infer(self, features: torch.Tensor, pitch: torch.Tensor | None, pitchf: torch.Tensor | None,
              speaker: int = 0, noise_scale: float = 0.66666) -> torch.Tensor:
        """features [1, frames, dim] at 100 frames/s -> waveform [samples] at ``cfg.sr``."""
        lengths = torch.tensor([features.shape[1]], dtype=torch.long)
        g = self.emb_g(torch.tensor([speaker], dtype=torch.long)).unsqueeze(-1)
        mean, log_scale, mask = self.enc_p(features, pitch if self.use_f0 else None, lengths)
        z_p = (mean + torch.exp(log_scale) * torch.randn_like(mean) * noise_scale) * mask
        z = self.flow.reverse(z_p, mask, g)
        return self.dec(z * mask, pitchf if self.use_f0 else None, g)[0, 0]
