"""Building blocks of the RVC (VITS-family) synthesizer, laid out so the parameter names match
the published RVC v1/v2 checkpoints: a relative-position transformer text encoder, WaveNet-style
residual layers and mean-only affine coupling flows. Inference only (no dropout paths)."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class ChannelLayerNorm(nn.Module):
    """LayerNorm over channels of a [batch, channels, time] tensor (``gamma``/``beta`` names)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels, self.eps = channels, eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.transpose(1, -1), (self.channels,), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


class RelativeSelfAttention(nn.Module):
    """Multi-head self-attention with learned relative-position keys and values (window ±w)."""

    def __init__(self, channels: int, n_heads: int, window_size: int = 10):
        super().__init__()
        self.n_heads, self.window = n_heads, window_size
        self.k_channels = channels // n_heads
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        scale = self.k_channels ** -0.5
        self.emb_rel_k = nn.Parameter(torch.randn(1, window_size * 2 + 1, self.k_channels) * scale)
        self.emb_rel_v = nn.Parameter(torch.randn(1, window_size * 2 + 1, self.k_channels) * scale)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        heads = lambda y: y.view(b, self.n_heads, self.k_channels, t).transpose(2, 3)  # noqa: E731
        q = heads(self.conv_q(x)) / math.sqrt(self.k_channels)
        k, v = heads(self.conv_k(x)), heads(self.conv_v(x))
        scores = q @ k.transpose(-2, -1)
        rel_k = self._relative_embeddings(self.emb_rel_k, t)
        scores = scores + _relative_to_absolute(q @ rel_k.unsqueeze(0).transpose(-2, -1))
        scores = scores.masked_fill(mask == 0, -1e4)
        weights = torch.softmax(scores, dim=-1)
        out = weights @ v
        rel_v = self._relative_embeddings(self.emb_rel_v, t)
        out = out + _absolute_to_relative(weights) @ rel_v.unsqueeze(0)
        return self.conv_o(out.transpose(2, 3).contiguous().view(b, c, t))

    def _relative_embeddings(self, table: torch.Tensor, length: int) -> torch.Tensor:
        """The 2*length-1 relative offsets, padding the learned ±window table with its edges zeroed."""
        pad = max(length - (self.window + 1), 0)
        start = max((self.window + 1) - length, 0)
        if pad > 0:
            table = F.pad(table, [0, 0, pad, pad, 0, 0])
        return table[:, start:start + 2 * length - 1]


def _relative_to_absolute(x: torch.Tensor) -> torch.Tensor:
    """[b, h, l, 2l-1] logits indexed by offset -> [b, h, l, l] indexed by key position."""
    b, h, length, _ = x.shape
    x = F.pad(x, [0, 1]).view(b, h, length * 2 * length)
    x = F.pad(x, [0, length - 1]).view(b, h, length + 1, 2 * length - 1)
    return x[:, :, :length, length - 1:]


def _absolute_to_relative(x: torch.Tensor) -> torch.Tensor:
    """[b, h, l, l] by key position -> [b, h, l, 2l-1] by offset (inverse of the above)."""
    b, h, length, _ = x.shape
    x = F.pad(x, [0, length - 1]).view(b, h, length * length + length * (length - 1))
    x = F.pad(x, [length, 0]).view(b, h, length, 2 * length)
    return x[:, :, :, 1:]


class FeedForward(nn.Module):
    def __init__(self, channels: int, filter_channels: int, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)

    def _same(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        return F.pad(x, [(k - 1) // 2, k // 2]) if k > 1 else x

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv_1(self._same(x * mask)))
        return self.conv_2(self._same(x * mask)) * mask


class AttentionEncoder(nn.Module):
    def __init__(self, hidden: int, filter_channels: int, n_heads: int, n_layers: int, kernel_size: int):
        super().__init__()
        self.attn_layers = nn.ModuleList(RelativeSelfAttention(hidden, n_heads) for _ in range(n_layers))
        self.norm_layers_1 = nn.ModuleList(ChannelLayerNorm(hidden) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(FeedForward(hidden, filter_channels, kernel_size) for _ in range(n_layers))
        self.norm_layers_2 = nn.ModuleList(ChannelLayerNorm(hidden) for _ in range(n_layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        attn_mask = mask.unsqueeze(2) * mask.unsqueeze(-1)
        x = x * mask
        for attn, n1, ffn, n2 in zip(self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2):
            x = n1(x + attn(x, attn_mask))
            x = n2(x + ffn(x, mask))
        return x * mask


class TextEncoder(nn.Module):
    """Content features (+ coarse pitch) -> prior mean and log-scale. ``feature_dim`` is 256 for v1
    (ContentVec final projection) and 768 for v2 (HuBERT layer 12)."""

    def __init__(self, feature_dim: int, out_channels: int, hidden: int, filter_channels: int,
                 n_heads: int, n_layers: int, kernel_size: int, use_f0: bool):
        super().__init__()
        self.hidden = hidden
        self.emb_phone = nn.Linear(feature_dim, hidden)
        self.emb_pitch = nn.Embedding(256, hidden) if use_f0 else None
        self.encoder = AttentionEncoder(hidden, filter_channels, n_heads, n_layers, kernel_size)
        self.proj = nn.Conv1d(hidden, out_channels * 2, 1)

    def forward(self, phone: torch.Tensor, pitch: torch.Tensor | None, lengths: torch.Tensor):
        x = self.emb_phone(phone)
        if self.emb_pitch is not None and pitch is not None:
            x = x + self.emb_pitch(pitch)
        x = F.leaky_relu(x * math.sqrt(self.hidden), 0.1).transpose(1, 2)
        mask = (torch.arange(x.shape[2], device=x.device)[None, :] < lengths[:, None]).unsqueeze(1).to(x.dtype)
        x = self.encoder(x * mask, mask)
        mean, log_scale = torch.split(self.proj(x) * mask, self.proj.out_channels // 2, dim=1)
        return mean, log_scale, mask


class WaveNet(nn.Module):
    """Gated dilated convolutions conditioned on the speaker embedding."""

    def __init__(self, hidden: int, kernel_size: int, dilation_rate: int, n_layers: int, gin_channels: int):
        super().__init__()
        self.hidden, self.n_layers = hidden, n_layers
        self.cond_layer = nn.Conv1d(gin_channels, 2 * hidden * n_layers, 1) if gin_channels else None
        self.in_layers, self.res_skip_layers = nn.ModuleList(), nn.ModuleList()
        for i in range(n_layers):
            dilation = dilation_rate ** i
            self.in_layers.append(nn.Conv1d(hidden, 2 * hidden, kernel_size, dilation=dilation,
                                            padding=(kernel_size * dilation - dilation) // 2))
            self.res_skip_layers.append(nn.Conv1d(hidden, 2 * hidden if i < n_layers - 1 else hidden, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
        out = torch.zeros_like(x)
        cond = self.cond_layer(g) if (g is not None and self.cond_layer is not None) else None
        h = self.hidden
        for i in range(self.n_layers):
            acts = self.in_layers[i](x)
            if cond is not None:
                acts = acts + cond[:, i * 2 * h:(i + 1) * 2 * h]
            acts = torch.tanh(acts[:, :h]) * torch.sigmoid(acts[:, h:])
            res_skip = self.res_skip_layers[i](acts)
            if i < self.n_layers - 1:
                x = (x + res_skip[:, :h]) * mask
                out = out + res_skip[:, h:]
            else:
                out = out + res_skip
        return out * mask


class CouplingLayer(nn.Module):
    """Mean-only affine coupling: shifts one half of the channels by a function of the other."""

    def __init__(self, channels: int, hidden: int, kernel_size: int, dilation_rate: int, n_layers: int,
                 gin_channels: int):
        super().__init__()
        self.half = channels // 2
        self.pre = nn.Conv1d(self.half, hidden, 1)
        self.enc = WaveNet(hidden, kernel_size, dilation_rate, n_layers, gin_channels)
        self.post = nn.Conv1d(hidden, self.half, 1)

    def reverse(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
        x0, x1 = torch.split(x, [self.half, self.half], dim=1)
        shift = self.post(self.enc(self.pre(x0) * mask, mask, g)) * mask
        return torch.cat([x0, (x1 - shift) * mask], dim=1)


class Flip(nn.Module):
    def reverse(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
        return torch.flip(x, [1])


class CouplingFlow(nn.Module):
    """Four coupling layers with channel flips between them (indices 0, 2, 4, 6 hold weights)."""

    def __init__(self, channels: int, hidden: int, gin_channels: int, n_flows: int = 4):
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(CouplingLayer(channels, hidden, 5, 1, 3, gin_channels))
            self.flows.append(Flip())

    def reverse(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
        for flow in reversed(self.flows):
            x = flow.reverse(x, mask, g)
        return x
