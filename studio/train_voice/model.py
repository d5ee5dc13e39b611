"""The RVC v2 networks as trained: the studio's inference synthesizer plus the training-only
posterior encoder ``enc_q`` and the flow's forward direction, and the multi-period + scale
discriminator (``MultiPeriodDiscriminatorV2``, periods 2..37). Parameter names follow the
published RVC checkpoints (``G_*.pth``/``D_*.pth`` hold them under ``model``), with weight
normalisation on the same layers, so pretrained bases load and exports load everywhere.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

from studio.backends.rvc.layers import CouplingLayer, Flip, WaveNet
from studio.backends.rvc.synthesizer import SynthConfig, Synthesizer
from studio.train_voice import TrainingRefused

PERIODS = (2, 3, 5, 7, 11, 17, 23, 37)
LRELU = 0.1


class PosteriorEncoder(nn.Module):
    """Linear spectrogram -> latent z (with its mean and log-scale); training only."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int, gin_channels: int):
        super().__init__()
        self.out_channels = out_channels
        self.pre = nn.Conv1d(in_channels, hidden, 1)
        self.enc = WaveNet(hidden, 5, 1, 16, gin_channels)
        self.proj = nn.Conv1d(hidden, out_channels * 2, 1)

    def forward(self, spec: torch.Tensor, lengths: torch.Tensor, g: torch.Tensor):
        mask = sequence_mask(lengths, spec.shape[2]).unsqueeze(1).to(spec.dtype)
        x = self.enc(self.pre(spec) * mask, mask, g)
        mean, log_scale = torch.split(self.proj(x) * mask, self.out_channels, dim=1)
        z = (mean + torch.randn_like(mean) * torch.exp(log_scale)) * mask
        return z, mean, log_scale, mask


class TrainableSynthesizer(Synthesizer):
    """``Synthesizer`` (inference path unchanged) + ``enc_q`` and the training forward pass."""

    def __init__(self, cfg: SynthConfig, version: str = "v2", use_f0: bool = True):
        super().__init__(cfg, version, use_f0)
        self.enc_q = PosteriorEncoder(cfg.spec_channels, cfg.inter_channels, cfg.hidden_channels, cfg.gin_channels)
        for flow in self.flow.flows:  # each coupling starts as the identity, as in VITS
            if isinstance(flow, CouplingLayer):
                nn.init.zeros_(flow.post.weight)
                nn.init.zeros_(flow.post.bias)
        apply_generator_weight_norm(self)

    def forward(self, phone, phone_lengths, pitch, pitchf, spec, spec_lengths, speaker):
        g = self.emb_g(speaker).unsqueeze(-1)
        m_p, logs_p, _ = self.enc_p(phone, pitch if self.use_f0 else None, phone_lengths)
        z, m_q, logs_q, spec_mask = self.enc_q(spec, spec_lengths, g)
        z_p = flow_forward(self.flow, z, spec_mask, g)
        z_slice, starts = random_segments(z, spec_lengths, self.cfg.segment_size)
        f0_slice = take_segments(pitchf, starts, self.cfg.segment_size) if self.use_f0 else None
        audio = self.dec(z_slice, f0_slice, g)
        return audio, starts, spec_mask, (z_p, m_p, logs_p, logs_q)


def flow_forward(flow, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Posterior -> prior direction of the coupling flow (inference runs ``reverse``)."""
    for layer in flow.flows:
        if isinstance(layer, Flip):
            x = torch.flip(x, [1])
            continue
        x0, x1 = torch.split(x, [layer.half, layer.half], dim=1)
        shift = layer.post(layer.enc(layer.pre(x0) * mask, mask, g)) * mask
        x = torch.cat([x0, shift + x1 * mask], dim=1)
    return x


def apply_generator_weight_norm(model: TrainableSynthesizer) -> None:
    """Weight normalisation where RVC has it: decoder upsamplers and resblocks, every WaveNet."""
    dec = model.dec
    for conv in dec.ups:
        weight_norm(conv)
    for block in dec.resblocks:
        for name in ("convs1", "convs2", "convs"):
            for conv in getattr(block, name, []):
                weight_norm(conv)
    nets = [model.enc_q.enc] + [f.enc for f in model.flow.flows if isinstance(f, CouplingLayer)]
    for net in nets:
        for conv in list(net.in_layers) + list(net.res_skip_layers):
            weight_norm(conv)
        if net.cond_layer is not None:
            weight_norm(net.cond_layer)


def sequence_mask(lengths: torch.Tensor, length: int) -> torch.Tensor:
    return torch.arange(length, device=lengths.device)[None, :] < lengths[:, None]


def random_segments(x: torch.Tensor, lengths: torch.Tensor, size: int):
    """A random window of ``size`` frames inside each item's valid length."""
    highest = torch.clamp(lengths - size + 1, min=1)
    starts = (torch.rand(x.shape[0], device=x.device) * highest).long()
    return take_segments(x, starts, size), starts


def take_segments(x: torch.Tensor, starts: torch.Tensor, size: int) -> torch.Tensor:
    """[b, (c,) t] -> the windows [b, (c,) size] starting at ``starts``."""
    index = starts[:, None] + torch.arange(size, device=x.device)[None, :]
    if x.dim() == 2:
        return torch.gather(x, 1, index)
    return torch.gather(x, 2, index[:, None, :].expand(-1, x.shape[1], -1))


# -- discriminators -----------------------------------------------------------------------------
class ScaleDiscriminator(nn.Module):
    """``DiscriminatorS``: strided grouped 1-d convolutions on the waveform. ``shrink`` divides
    every width (1 = the published size; tests use a tiny one)."""

    def __init__(self, shrink: int = 1):
        super().__init__()
        c = lambda n: max(1, n // shrink)  # noqa: E731
        spec = [(1, 16, 15, 1, 1, 7), (16, 64, 41, 4, 4, 20), (64, 256, 41, 4, 16, 20),
                (256, 1024, 41, 4, 64, 20), (1024, 1024, 41, 4, 256, 20), (1024, 1024, 5, 1, 1, 2)]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv1d(c(i) if i > 1 else 1, c(o), k, s, groups=max(1, g // shrink), padding=p))
            for i, o, k, s, g, p in spec)
        self.conv_post = weight_norm(nn.Conv1d(c(1024), 1, 3, 1, padding=1))

    def forward(self, x: torch.Tensor):
        maps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU)
            maps.append(x)
        x = self.conv_post(x)
        maps.append(x)
        return torch.flatten(x, 1, -1), maps


class PeriodDiscriminator(nn.Module):
    """``DiscriminatorP``: the waveform folded by ``period`` into 2-d, convolved along time."""

    def __init__(self, period: int, shrink: int = 1, kernel: int = 5, stride: int = 3):
        super().__init__()
        self.period = period
        widths = [1] + [max(1, n // shrink) for n in (32, 128, 512, 1024, 1024)]
        pad = (kernel - 1) // 2
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(widths[i], widths[i + 1], (kernel, 1), (stride if i < 4 else 1, 1), padding=(pad, 0)))
            for i in range(5))
        self.conv_post = weight_norm(nn.Conv2d(widths[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor):
        b, c, t = x.shape
        if t % self.period:
            extra = self.period - t % self.period
            x = F.pad(x, (0, extra), "reflect")
            t += extra
        x = x.view(b, c, t // self.period, self.period)
        maps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU)
            maps.append(x)
        x = self.conv_post(x)
        maps.append(x)
        return torch.flatten(x, 1, -1), maps


class MultiPeriodDiscriminatorV2(nn.Module):
    def __init__(self, shrink: int = 1, periods: tuple[int, ...] = PERIODS):
        super().__init__()
        self.discriminators = nn.ModuleList(
            [ScaleDiscriminator(shrink)] + [PeriodDiscriminator(p, shrink) for p in periods])

    def forward(self, real: torch.Tensor, fake: torch.Tensor):
        real_out, fake_out, real_maps, fake_maps = [], [], [], []
        for d in self.discriminators:
            r, rm = d(real)
            f, fm = d(fake)
            real_out.append(r)
            fake_out.append(f)
            real_maps.append(rm)
            fake_maps.append(fm)
        return real_out, fake_out, real_maps, fake_maps


# -- key layout: the reference's weight_g/weight_v <-> torch's parametrizations -----------------
_G_V = re.compile(r"(.*)\.weight_(g|v)")
_ORIGINAL = re.compile(r"(.*)\.parametrizations\.weight\.original([01])")


def to_reference_keys(state: dict) -> dict:
    """parametrizations.weight.original0/1 -> weight_g/weight_v (what RVC and Applio write)."""
    out = {}
    for key, value in state.items():
        m = _ORIGINAL.fullmatch(key)
        out[f"{m.group(1)}.weight_{'g' if m.group(2) == '0' else 'v'}" if m else key] = value
    return out


def from_reference_keys(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        m = _G_V.fullmatch(key)
        out[f"{m.group(1)}.parametrizations.weight.original{'0' if m.group(2) == 'g' else '1'}" if m else key] = value
    return out


def load_pretrained(module: nn.Module, path: str | Path, which: str) -> None:
    """Start from a pretrained base (``which`` is "generator" or "discriminator"): a file holding
    ``{"model": state_dict}`` in the reference key layout. Wrong version or sample rate is refused."""
    path = Path(path)
    if not path.is_file():
        raise TrainingRefused("train_voice.pretrained_missing", name=path.name)
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise TrainingRefused("train_voice.pretrained_unreadable", name=path.name) from exc
    state = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TrainingRefused("train_voice.pretrained_unreadable", name=path.name)
    state = from_reference_keys(state)
    own = module.state_dict()
    phone = state.get("enc_p.emb_phone.weight")
    if phone is not None and phone.shape != own["enc_p.emb_phone.weight"].shape:
        raise TrainingRefused("train_voice.pretrained_wrong_version", name=path.name)
    wrong = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing = [k for k in own if k not in state and not k.startswith("emb_g.")]
    if wrong or missing:
        raise TrainingRefused("train_voice.pretrained_mismatch", name=path.name,
                              detail=", ".join((wrong or missing)[:3]))
    if "emb_g.weight" in state and state["emb_g.weight"].shape != own["emb_g.weight"].shape:
        state.pop("emb_g.weight")  # another speaker table size: start that one fresh
    module.load_state_dict({k: v.float() for k, v in state.items() if k in own}, strict=False)
