"""The RVC v2 training loop as a resumable, cancellable job that streams ``Progress`` events.

One step is the reference's: the discriminator learns real from generated (LSGAN), then the
generator learns from mel L1 (x45), KL (x1), feature matching and the adversarial loss; AdamW
(betas 0.8/0.99, eps 1e-9), learning rate times 0.999875 per epoch. Everything needed to carry on
exactly where it stopped — weights, optimizer moments, step, the epoch's data order, random
generators, elapsed time and loss history — is saved in one checkpoint every ``save_every``
steps and when cancelled, so the ETA (elapsed / steps done x steps left) stays right after resume.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from studio.backends.base import CancelToken
from studio.backends.rvc.synthesizer import SynthConfig
from studio.job_runner import ResumableJob, load_checkpoint, rising, save_checkpoint
from studio.jobs import Progress
from studio.train_voice import TrainingRefused
from studio.train_voice import losses as L
from studio.train_voice.dataset import TrainItem
from studio.train_voice.model import MultiPeriodDiscriminatorV2, TrainableSynthesizer, load_pretrained, take_segments

CHECKPOINT_FORMAT = 1


@dataclass
class TrainOptions:
    epochs: int = 20
    batch_size: int = 4
    learning_rate: float = 1e-4
    lr_decay: float = 0.999875  # per epoch, as the reference's ExponentialLR
    seed: int = 1234
    save_every: int = 50  # steps between checkpoints
    sample_every: int = 5  # epochs between sample conversions (0: never)
    eval_every: int = 1  # epochs between validation losses
    overtrain_patience: int = 3  # validation losses rising this many times in a row -> warning
    version: str = "v2"
    use_f0: bool = True
    pretrained_g: str = ""
    pretrained_d: str = ""
    d_shrink: int = 1  # 1 = the published discriminator; tests shrink it
    device: str = "cpu"
    precision: str = "fp32"  # fp32, or bf16 / fp16 on a GPU


class VoiceTrainer(ResumableJob):
    """The shared step loop (``ResumableJob.run``: windows, cancel, checkpoints, ETA) over epochs:
    a step takes the next batch of the epoch's order; the epoch's end (validation, a sample, a new
    order) follows its last step. The checkpoint keeps its own fields (format 1)."""

    messages = {"step": "train_voice.progress", "paused": "train_voice.paused", "done": "train_voice.done",
                "cancelled": "common.stopped", "checkpoint_unreadable": "train_voice.checkpoint_unreadable",
                "checkpoint_other_data": "train_voice.checkpoint_other_data"}

    def __init__(self, items: list[TrainItem], config: list, options: TrainOptions, workdir: str | Path,
                 sample_fn: Callable | None = None):
        if len(items) < 2:
            raise TrainingRefused("train_voice.nothing_usable", count=len(items))
        self.options, self.workdir, self.sample_fn = options, Path(workdir), sample_fn
        self.config = list(config)
        self.cfg = SynthConfig.from_list(self.config)
        self.device = torch.device(options.device)
        torch.manual_seed(options.seed)
        self.net_g = TrainableSynthesizer(self.cfg, options.version, options.use_f0).to(self.device)
        self.net_d = MultiPeriodDiscriminatorV2(options.d_shrink).to(self.device)
        self.hop = self.net_g.samples_per_frame
        self.spec_cfg = L.SpecConfig.for_model(self.cfg.spec_channels, self.hop, self.cfg.sr)
        n_val = max(1, len(items) // 10) if len(items) >= 4 else 0
        self.train_items, self.val_items = items[:len(items) - n_val], items[len(items) - n_val:]
        self.fingerprint = ",".join(sorted(i.key for i in items))
        betas, eps = (0.8, 0.99), 1e-9
        self.opt_g = torch.optim.AdamW(self.net_g.parameters(), options.learning_rate, betas=betas, eps=eps)
        self.opt_d = torch.optim.AdamW(self.net_d.parameters(), options.learning_rate, betas=betas, eps=eps)
        self.data_rng = torch.Generator().manual_seed(options.seed)
        self.steps_per_epoch = math.ceil(len(self.train_items) / options.batch_size)
        super().__init__(workdir, self.steps_per_epoch * options.epochs, options.save_every, TrainingRefused)
        self.epoch, self.position = 1, 0
        self.order = torch.randperm(len(self.train_items), generator=self.data_rng)
        self.resumed = self.resume(self.device)
        if not self.resumed:
            if options.pretrained_g:
                load_pretrained(self.net_g, options.pretrained_g, "generator")
            if options.pretrained_d:
                load_pretrained(self.net_d, options.pretrained_d, "discriminator")
        self._scaler = torch.amp.GradScaler("cuda") if options.precision == "fp16" else None

    # -- checkpoints (their own fields: voices part-trained before the shared loop still resume) --
    def save_checkpoint(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        state = {
            "format": CHECKPOINT_FORMAT, "config": self.config, "options": asdict(self.options),
            "data": self.fingerprint, "step": self.step, "epoch": self.epoch, "position": self.position,
            "order": self.order.clone(), "elapsed_s": self.elapsed_s, "history": self.history,
            "g": self.net_g.state_dict(), "d": self.net_d.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "rng_torch": torch.get_rng_state(), "rng_data": self.data_rng.get_state(),
        }
        return save_checkpoint(self.checkpoint_path, state)  # atomic: temp file + rename

    def resume(self, map_location=None) -> bool:
        try:
            state = load_checkpoint(self.checkpoint_path, map_location=map_location or self.device)
        except Exception:
            raise TrainingRefused("train_voice.checkpoint_unreadable") from None
        if state is None:
            return False
        same = state.get("format") == CHECKPOINT_FORMAT and state.get("config") == self.config \
            and state.get("data") == self.fingerprint and state["options"].get("version") == self.options.version
        if not same:
            raise TrainingRefused("train_voice.checkpoint_other_data")
        self.net_g.load_state_dict(state["g"])
        self.net_d.load_state_dict(state["d"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step, self.epoch, self.position = int(state["step"]), int(state["epoch"]), int(state["position"])
        self.order, self.elapsed_s, self.history = state["order"].cpu(), float(state["elapsed_s"]), state["history"]
        torch.set_rng_state(state["rng_torch"].cpu())
        self.data_rng.set_state(state["rng_data"].cpu())
        return True

    # -- batches --------------------------------------------------------------------------------
    def _batch(self, items: list[TrainItem]) -> dict:
        """Pad a list of slices; features are doubled to 100 fps and all streams cut to one length."""
        frames, rows = [], []
        for item in items:
            wav = torch.from_numpy(item.wav)
            spec = L.spectrogram(wav[None], self.spec_cfg)[0]
            phone = torch.from_numpy(np.repeat(item.phone, 2, axis=0))
            n = min(spec.shape[1], phone.shape[0], len(item.pitch), len(wav) // self.hop)
            rows.append((phone[:n], torch.from_numpy(item.pitch[:n]), torch.from_numpy(item.pitchf[:n]),
                         spec[:, :n], wav[:n * self.hop]))
            frames.append(n)
        longest, b = max(frames), len(items)
        out = {"phone": torch.zeros(b, longest, rows[0][0].shape[1]), "pitch": torch.ones(b, longest, dtype=torch.long),
               "pitchf": torch.zeros(b, longest), "spec": torch.zeros(b, rows[0][3].shape[0], longest),
               "wav": torch.zeros(b, 1, longest * self.hop), "lengths": torch.tensor(frames)}
        for i, (phone, pitch, pitchf, spec, wav) in enumerate(rows):
            n = frames[i]
            out["phone"][i, :n], out["pitch"][i, :n], out["pitchf"][i, :n] = phone, pitch, pitchf
            out["spec"][i, :, :n], out["wav"][i, 0, :n * self.hop] = spec, wav
        return {k: v.to(self.device) for k, v in out.items()}

    def _autocast(self):
        if self.device.type == "cuda" and self.options.precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if self.options.precision == "bf16" else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return contextlib.nullcontext()

    def train_step(self) -> dict:
        """One optimiser step on the next batch of this epoch's order."""
        if self.position == 0:
            self._set_learning_rate()
        picks = self.order[self.position:self.position + self.options.batch_size].tolist()
        losses = self.train_batch(self._batch([self.train_items[i] for i in picks]))
        self.position += len(picks)
        return losses

    def train_batch(self, batch: dict) -> dict:
        seg = self.cfg.segment_size
        speaker = torch.zeros(batch["phone"].shape[0], dtype=torch.long, device=self.device)
        with self._autocast():
            y_hat, starts, mask, (z_p, m_p, logs_p, logs_q) = self.net_g(
                batch["phone"], batch["lengths"], batch["pitch"], batch["pitchf"], batch["spec"],
                batch["lengths"], speaker)
            wav = take_segments(batch["wav"][:, 0], starts * self.hop, seg * self.hop)[:, None]
            real, fake, _, _ = self.net_d(wav, y_hat.detach())
        loss_d = L.discriminator_loss(real, fake)
        self._update(self.opt_d, loss_d)
        with self._autocast():
            y_mel = take_segments(L.spec_to_mel(batch["spec"].float(), self.spec_cfg), starts, seg)
            y_hat_mel = L.mel_spectrogram(y_hat.float().squeeze(1), self.spec_cfg)
            _, fake, real_maps, fake_maps = self.net_d(wav, y_hat)
        loss_mel = torch.nn.functional.l1_loss(y_mel, y_hat_mel) * L.C_MEL
        loss_kl = L.kl_loss(z_p, logs_q, m_p, logs_p, mask) * L.C_KL
        loss_fm = L.feature_loss(real_maps, fake_maps)
        loss_gen = L.generator_loss(fake)
        self._update(self.opt_g, loss_gen + loss_fm + loss_mel + loss_kl)
        if self._scaler is not None:
            self._scaler.update()
        named = {"d": loss_d, "gen": loss_gen, "fm": loss_fm, "mel": loss_mel, "kl": loss_kl}
        return {k: float(v.detach()) for k, v in named.items()}

    def _update(self, optimizer, loss) -> None:
        optimizer.zero_grad(set_to_none=True)
        if self._scaler is not None:
            self._scaler.scale(loss).backward()
            self._scaler.step(optimizer)
        else:
            loss.backward()
            optimizer.step()

    # -- the job ---------------------------------------------------------------------------------
    def run(self, cancel: CancelToken | None = None, max_steps: int | None = None) -> Iterator[Progress]:
        """Train to the last epoch, yielding progress; ``max_steps`` stops early with a checkpoint
        (a window on a shared GPU); cancel saves a checkpoint and raises ``Cancelled``."""
        self.net_g.train()
        self.net_d.train()
        if self.position >= len(self.order) and self.step < self.total_steps:
            yield from self.after_step()  # stopped between an epoch's last step and its end
        yield from super().run(cancel, max_steps)

    def after_step(self) -> Iterator[Progress]:
        if self.position < len(self.order):
            return
        yield from self._end_of_epoch()
        if self.epoch < self.options.epochs:
            self.epoch += 1
            self.position = 0
            self.order = torch.randperm(len(self.train_items), generator=self.data_rng)

    def _set_learning_rate(self) -> None:
        lr = self.options.learning_rate * self.options.lr_decay ** (self.epoch - 1)
        for optimizer in (self.opt_g, self.opt_d):
            for group in optimizer.param_groups:
                group["lr"] = lr

    def _end_of_epoch(self) -> Iterator[Progress]:
        if self.val_items and self.options.eval_every and self.epoch % self.options.eval_every == 0:
            value = self.validation_loss()
            self.history["val"].append({"epoch": self.epoch, "mel": value})
            yield self.event("eval", "train_voice.validation", value=value)
            if self.overtraining() and not self.history["overtrain_warned"]:
                self.history["overtrain_warned"] = True
                yield self.event("overtraining", "train_voice.warn_overtraining", epoch=self.epoch)
        if self.sample_fn is not None and self.options.sample_every and self.epoch % self.options.sample_every == 0:
            with torch.random.fork_rng(devices=[]):  # a sample must not change the training's randomness
                sample = self.sample_fn(self.epoch, self.inference_model())
            yield self.event("sample", "train_voice.sample", sample=sample)

    def overtraining(self) -> bool:
        return rising([v["mel"] for v in self.history["val"]], self.options.overtrain_patience)

    def validation_loss(self) -> float:
        """Mel L1 of the inference path (prior + flow + decoder, fixed noise) on held-out slices."""
        total = 0.0
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            for item in self.val_items:
                batch = self._batch([item])
                n = int(batch["lengths"][0])
                pitch = batch["pitch"][:, :n] if self.options.use_f0 else None
                pitchf = batch["pitchf"][:, :n] if self.options.use_f0 else None
                out = self.net_g.infer(batch["phone"][:, :n].float(), pitch, pitchf)
                a = L.mel_spectrogram(out.float()[None], self.spec_cfg)
                b = L.mel_spectrogram(batch["wav"][:, 0, :n * self.hop], self.spec_cfg)
                m = min(a.shape[-1], b.shape[-1])
                total += float(torch.nn.functional.l1_loss(a[..., :m], b[..., :m]))
        return total / len(self.val_items)

    def inference_model(self):
        from studio.train_voice.export import inference_model
        return inference_model(self.net_g, self.options.version, self.options.use_f0, self.cfg.sr)

    def event(self, kind: str, message: str | None = None, **payload) -> Progress:
        payload = {"epoch": min(self.epoch, self.options.epochs), "epochs": self.options.epochs, **payload}
        return super().event(kind, message, **payload)
