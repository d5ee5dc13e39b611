"""The HiFi-GAN decoder of RVC, with the neural source-filter (NSF) excitation for pitch models:
a sine at the target F0 (noise where unvoiced) is injected after every upsampling stage."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def _padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


class ResBlock1(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilations: list[int]):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(channels, channels, kernel_size, dilation=d,
                                              padding=_padding(kernel_size, d)) for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(channels, channels, kernel_size, padding=_padding(kernel_size))
                                    for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1))
        return x


class ResBlock2(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilations: list[int]):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, kernel_size, dilation=d,
                                             padding=_padding(kernel_size, d)) for d in dilations[:2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, 0.1))
        return x


class SineSource(nn.Module):
    """Harmonic source: one sine per harmonic at F0 (continuous phase), noise when unvoiced,
    mixed by a learned linear layer (``l_linear``) and a tanh."""

    def __init__(self, sample_rate: int, harmonics: int = 0, amplitude: float = 0.1, noise_std: float = 0.003):
        super().__init__()
        self.sample_rate, self.harmonics = sample_rate, harmonics
        self.amplitude, self.noise_std = amplitude, noise_std
        self.l_linear = nn.Linear(harmonics + 1, 1)

    def forward(self, f0: torch.Tensor, upsample: int) -> torch.Tensor:
        f0 = f0.unsqueeze(1)  # [b, 1, frames]
        f0 = F.interpolate(f0, scale_factor=upsample, mode="nearest").transpose(1, 2)  # [b, n, 1]
        orders = torch.arange(1, self.harmonics + 2, device=f0.device, dtype=f0.dtype)
        increments = (f0 * orders / self.sample_rate) % 1.0
        # the reference's random start phase for each overtone (none for the fundamental), drawn
        # like it is: the same draw keeps the noise below equal to the reference's for one seed
        start = torch.rand(f0.shape[0], self.harmonics + 1, device=f0.device)
        start[:, 0] = 0
        phase = (torch.cumsum(increments.double(), dim=1) + start[:, None, :].double()) % 1.0
        sines = torch.sin(2 * math.pi * phase).to(f0.dtype) * self.amplitude
        voiced = (f0 > 0).to(f0.dtype)
        noise_amp = voiced * self.noise_std + (1 - voiced) * self.amplitude / 3
        sines = sines * voiced + noise_amp * torch.randn_like(sines)
        return torch.tanh(self.l_linear(sines))  # [b, n, 1]


class Generator(nn.Module):
    def __init__(self, in_channels: int, resblock: str, resblock_kernel_sizes: list[int],
                 resblock_dilation_sizes: list[list[int]], upsample_rates: list[int],
                 upsample_initial_channel: int, upsample_kernel_sizes: list[int], gin_channels: int,
                 sample_rate: int | None = None):
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        self.upsample = math.prod(upsample_rates)
        self.nsf = sample_rate is not None
        self.conv_pre = nn.Conv1d(in_channels, upsample_initial_channel, 7, padding=3)
        block = ResBlock1 if str(resblock) == "1" else ResBlock2
        self.ups, self.resblocks = nn.ModuleList(), nn.ModuleList()
        if self.nsf:
            self.m_source = SineSource(sample_rate)
            self.noise_convs = nn.ModuleList()
        channels = upsample_initial_channel
        for i, (rate, kernel) in enumerate(zip(upsample_rates, upsample_kernel_sizes)):
            channels = upsample_initial_channel // (2 ** (i + 1))
            self.ups.append(nn.ConvTranspose1d(channels * 2, channels, kernel, rate, padding=(kernel - rate) // 2))
            if self.nsf:
                if i + 1 < len(upsample_rates):
                    stride = math.prod(upsample_rates[i + 1:])
                    self.noise_convs.append(nn.Conv1d(1, channels, stride * 2, stride, padding=stride // 2))
                else:
                    self.noise_convs.append(nn.Conv1d(1, channels, 1))
            for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(block(channels, k, d))
        self.conv_post = nn.Conv1d(channels, 1, 7, padding=3, bias=False)
        self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1) if gin_channels else None

    def forward(self, x: torch.Tensor, f0: torch.Tensor | None, g: torch.Tensor | None) -> torch.Tensor:
        source = self.m_source(f0, self.upsample).transpose(1, 2) if self.nsf else None
        x = self.conv_pre(x)
        if self.cond is not None and g is not None:
            x = x + self.cond(g)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, 0.1))
            if source is not None:
                x = x + self.noise_convs[i](source)
            blocks = self.resblocks[i * self.num_kernels:(i + 1) * self.num_kernels]
            x = sum(b(x) for b in blocks) / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))
