"""DreamBooth-style LoRA training on the base model's UNet (SD 1.x and SDXL), as a resumable job.

The UNet, VAE and text encoders stay frozen; peft adds rank-``rank`` adapters to the attention
projections and only those learn, from the noise-prediction MSE at random timesteps of the
pipeline's own noise schedule (epsilon or v-prediction, as the model was trained). With prior
preservation, images of the class ("a photo of a grandmother") made by the same pipeline are
trained alongside so the model keeps knowing other grandmothers; their loss on fixed noise is the
overtraining check (rising three times in a row -> a warning). Without prior preservation a few
prepared photos (``holdout``) are set aside instead, and their loss at fixed noise is the check.

Everything to carry on exactly — adapter weights, optimizer moments, the data order, the noise
generator, elapsed seconds and the loss history — is in the job runner's checkpoint.

Consent: a person's photos are trained only with a complete consent record; it is checked before
anything is written and stored in the LoRA's metadata.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from studio.job_runner import ResumableJob
from studio.jobs import Progress
from studio.messages import Localized

log = logging.getLogger(__name__)
TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")


class LoraTrainingRefused(Localized, ValueError):
    """Training cannot start (or resume) with what was given; the message says what is needed."""


@dataclass
class LoraOptions:
    rank: int = 8
    alpha: float = 0.0  # 0: same as rank
    learning_rate: float = 1e-4
    steps: int = 800
    batch_size: int = 1
    resolution: int = 512
    seed: int = 0
    prior_preservation: bool = False
    prior_weight: float = 1.0
    class_prompt: str = ""  # e.g. "a photo of a grandmother"
    class_images: int = 50
    class_steps: int = 25  # denoising steps per class image
    gradient_checkpointing: bool = True
    precision: str = "fp32"  # fp16 / bf16: autocast on a GPU (LoRA weights stay fp32)
    device: str = "cpu"
    save_every: int = 100
    sample_every: int = 0  # steps between sample images (0: none)
    sample_prompt: str = ""
    sample_steps: int = 20
    eval_every: int = 0  # steps between overtraining checks (prior loss, or held-out loss)
    holdout: int = 0  # without prior preservation: prepared images set aside for the check
    overtrain_patience: int = 3

    @property
    def lora_alpha(self) -> float:
        return float(self.alpha or self.rank)


@dataclass
class TrainingSet:
    images: list[Any]  # PIL images, already square at the resolution (studio.photos)
    captions: list[str]
    trigger: str = ""
    subject: str = "person"  # person | style
    fingerprint: str = field(default="")

    def __post_init__(self) -> None:
        if not self.fingerprint:
            digest = hashlib.sha256()
            for image, caption in zip(self.images, self.captions):
                digest.update(image.tobytes())
                digest.update(caption.encode())
            self.fingerprint = digest.hexdigest()[:32]


def check_consent(subject: str, consent: Any) -> None:
    if subject == "person" and (consent is None or not getattr(consent, "complete", False)):
        raise LoraTrainingRefused("likeness.no_consent")


def pick_optimizer(params, lr: float, device: str) -> tuple[Any, str]:
    """8-bit AdamW (bitsandbytes) on a GPU when it imports, else torch's AdamW; says which."""
    import torch

    if device.startswith("cuda"):
        try:
            import bitsandbytes as bnb

            return bnb.optim.AdamW8bit(params, lr=lr), "adamw8bit"
        except Exception:  # not installed or no CUDA build: the plain optimizer is slower, not wrong
            log.info("bitsandbytes unavailable; training with AdamW")
    return torch.optim.AdamW(params, lr=lr), "adamw"


class LoraTrainer(ResumableJob):
    messages = {"step": "likeness.training", "paused": "likeness.paused", "done": "likeness.done",
                "cancelled": "likeness.stopped", "checkpoint_unreadable": "likeness.checkpoint_unreadable",
                "checkpoint_other_data": "likeness.checkpoint_other_data"}

    def __init__(self, pipe, data: TrainingSet, options: LoraOptions, workdir: str | Path, *,
                 consent: Any = None, base_model: str = "",
                 on_sample: Callable[[int, Any], None] | None = None, fresh_if_changed: bool = False):
        check_consent(data.subject, consent)  # before anything is written
        if not data.images or len(data.images) != len(data.captions):
            raise LoraTrainingRefused("likeness.no_photos")
        if options.rank < 1 or options.steps < 1 or options.batch_size < 1 or options.learning_rate <= 0:
            raise LoraTrainingRefused("likeness.bad_options")
        if options.prior_preservation and not options.class_prompt.strip():
            raise LoraTrainingRefused("likeness.no_class_prompt")
        super().__init__(workdir, options.steps, options.save_every, LoraTrainingRefused)
        import torch
        from diffusers import DDPMScheduler
        from peft import LoraConfig

        self.pipe, self.data, self.options = pipe, data, options
        self.consent, self.base_model, self.on_sample = consent, base_model, on_sample
        self.device = torch.device(options.device)
        self.unet = pipe.unet
        self.sdxl = hasattr(pipe, "text_encoder_2")
        self.family = "SDXL" if self.sdxl else "SD 1.x"
        self.restarted = False
        if fresh_if_changed and self.checkpoint_matches() is False:  # the family changed the settings
            self.checkpoint_path.unlink()
            self.restarted = True
        for module in self._frozen_modules():
            module.requires_grad_(False)
        self.unet.requires_grad_(False)
        torch.manual_seed(options.seed)  # the adapter's initial A matrices
        self.unet.add_adapter(LoraConfig(r=options.rank, lora_alpha=options.lora_alpha, init_lora_weights="gaussian",
                                         target_modules=list(TARGET_MODULES)))
        self.params = [p for p in self.unet.parameters() if p.requires_grad]
        for p in self.params:
            p.data = p.data.float()  # LoRA weights learn in fp32 even on a half-precision UNet
        if options.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        self.optimizer, self.optimizer_name = pick_optimizer(self.params, options.learning_rate, options.device)
        self.noise_gen = torch.Generator().manual_seed(options.seed)
        self.data_gen = torch.Generator().manual_seed(options.seed + 1)
        self.trained = len(data.images) - self.held_out_count()  # the last ones are only checked
        self.order = torch.randperm(self.trained, generator=self.data_gen)
        self.position = 0
        self.class_images: list[Any] = []
        self.resumed = self.resume(map_location=self.device)
        self._instance = self._encode_set(data.images[:self.trained], data.captions[:self.trained])
        self._held = (self._encode_set(data.images[self.trained:], data.captions[self.trained:])
                      if self.trained < len(data.images) else None)
        self._prior = None
        if options.prior_preservation:
            self.class_images = self._class_images()
            self._prior = self._encode_set(self.class_images, [options.class_prompt] * len(self.class_images))

    def held_out_count(self) -> int:
        """Images kept out of training to watch for overtraining when there is no prior
        preservation; at least two images always stay in training."""
        if self.options.prior_preservation or not self.options.eval_every:
            return 0
        return max(0, min(int(self.options.holdout), len(self.data.images) - 2))

    # -- encoding (frozen parts run once) ---------------------------------------------------------
    def _frozen_modules(self) -> list:
        names = ("vae", "text_encoder", "text_encoder_2")
        return [getattr(self.pipe, n) for n in names if getattr(self.pipe, n, None) is not None]

    def _encode_set(self, images: list, captions: list[str]) -> dict:
        """Latent distributions (mean, std) of each image and the caption embeddings."""
        import numpy as np
        import torch

        vae, res = self.pipe.vae, self.options.resolution
        means, stds, texts, pooled = [], [], [], []
        with torch.no_grad():
            for image, caption in zip(images, captions):
                arr = np.asarray(image.convert("RGB").resize((res, res)), np.float32) / 127.5 - 1.0
                pixels = torch.from_numpy(arr).permute(2, 0, 1)[None].to(self.device, vae.dtype)
                dist = vae.encode(pixels).latent_dist
                means.append(dist.mean.float())
                stds.append(dist.std.float())
                if self.sdxl:
                    embeds, _, pool, _ = self.pipe.encode_prompt(caption, device=self.device, num_images_per_prompt=1,
                                                                 do_classifier_free_guidance=False)
                    pooled.append(pool.float())
                else:
                    embeds, _ = self.pipe.encode_prompt(caption, self.device, 1, False)
                texts.append(embeds.float())
        return {"mean": torch.cat(means), "std": torch.cat(stds), "text": torch.cat(texts),
                "pooled": torch.cat(pooled) if pooled else None}

    def _class_images(self) -> list:
        """Images of the class made by this same pipeline, cached in the work folder."""
        import torch
        from PIL import Image

        folder = self.workdir / "class_images"
        folder.mkdir(parents=True, exist_ok=True)
        images, res = [], self.options.resolution
        for i in range(self.options.class_images):
            path = folder / f"{i:04d}.png"
            if path.is_file():
                with Image.open(path) as img:
                    images.append(img.convert("RGB"))
                continue
            with torch.no_grad(), self._adapters_off():
                image = self.pipe(self.options.class_prompt, num_inference_steps=self.options.class_steps,
                                  width=res, height=res,
                                  generator=torch.Generator().manual_seed(self.options.seed + 1000 + i)).images[0]
            tmp = path.with_suffix(".tmp")
            image.save(tmp, format="PNG")
            tmp.replace(path)
            images.append(image)
        return images

    @contextlib.contextmanager
    def _adapters_off(self):
        self.unet.disable_adapters()
        try:
            yield
        finally:
            self.unet.enable_adapters()

    # -- one step ---------------------------------------------------------------------------------
    def _autocast(self):
        import torch

        if self.device.type == "cuda" and self.options.precision in ("fp16", "bf16"):
            return torch.autocast("cuda", dtype=torch.float16 if self.options.precision == "fp16" else torch.bfloat16)
        return contextlib.nullcontext()

    def _next_indices(self) -> list[int]:
        import torch

        picks = []
        while len(picks) < self.options.batch_size:
            if self.position >= len(self.order):
                self.order = torch.randperm(self.trained, generator=self.data_gen)
                self.position = 0
            picks.append(int(self.order[self.position]))
            self.position += 1
        return picks

    def _loss(self, encoded: dict, picks: list[int], generator) -> Any:
        import torch
        import torch.nn.functional as F

        idx = torch.tensor(picks)
        vae_cfg = self.pipe.vae.config
        mean, std = encoded["mean"][idx], encoded["std"][idx]
        latents = mean + std * torch.randn(mean.shape, generator=generator).to(mean.device)
        latents = (latents - (getattr(vae_cfg, "shift_factor", None) or 0.0)) * vae_cfg.scaling_factor
        noise = torch.randn(latents.shape, generator=generator).to(latents.device)
        steps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (len(picks),),
                              generator=generator).to(latents.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, steps)
        kwargs = {}
        if self.sdxl:
            res = self.options.resolution
            time_ids = torch.tensor([[res, res, 0, 0, res, res]] * len(picks), dtype=torch.float32, device=self.device)
            kwargs["added_cond_kwargs"] = {"text_embeds": encoded["pooled"][idx], "time_ids": time_ids}
        dtype = self.unet.dtype
        with self._autocast():
            pred = self.unet(noisy.to(dtype), steps, encoded["text"][idx].to(dtype), **kwargs).sample
        if self.noise_scheduler.config.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(latents, noise, steps)
        else:
            target = noise
        return F.mse_loss(pred.float(), target.float())

    def train_step(self) -> dict[str, float]:
        import torch

        self.unet.train()
        picks = self._next_indices()
        loss = self._loss(self._instance, picks, self.noise_gen)
        losses = {"loss": float(loss.detach())}
        if self._prior is not None:
            class_picks = [int(i) for i in torch.randint(0, len(self.class_images), (len(picks),),
                                                         generator=self.noise_gen)]
            prior = self._loss(self._prior, class_picks, self.noise_gen)
            loss = loss + self.options.prior_weight * prior
            losses["prior"] = float(prior.detach())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return losses

    # -- checkpoints ------------------------------------------------------------------------------
    def identity(self) -> dict:
        options = asdict(self.options)
        for key in ("steps", "save_every", "sample_every", "sample_prompt", "sample_steps", "eval_every", "device"):
            options.pop(key)
        return {"options": options, "data": self.data.fingerprint, "base": self.base_model, "family": self.family}

    def lora_state(self) -> dict:
        from peft.utils import get_peft_model_state_dict

        return {k: v.detach().clone() for k, v in get_peft_model_state_dict(self.unet).items()}

    def job_state(self) -> dict:
        return {"lora": self.lora_state(), "optimizer": self.optimizer.state_dict(),
                "noise_gen": self.noise_gen.get_state(), "data_gen": self.data_gen.get_state(),
                "order": self.order.clone(), "position": self.position}

    def restore_job_state(self, state: dict) -> None:
        from peft.utils import set_peft_model_state_dict

        set_peft_model_state_dict(self.unet, state["lora"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.noise_gen.set_state(state["noise_gen"].cpu())
        self.data_gen.set_state(state["data_gen"].cpu())
        self.order, self.position = state["order"].cpu(), int(state["position"])

    # -- samples and the overtraining check -------------------------------------------------------
    def run(self, cancel=None, max_steps: int | None = None) -> Iterator[Progress]:
        message = "likeness.restarted" if self.restarted else "likeness.setup"
        yield self.event("setup", message, optimizer=self.optimizer_name, resumed=self.resumed,
                         restarted=self.restarted, family=self.family, photos=len(self.data.images))
        yield from super().run(cancel, max_steps)

    def after_step(self) -> Iterator[Progress]:
        opts = self.options
        held = self._prior is None  # no prior preservation: the photos set aside are the check
        check = self.held_out_check if held else self.prior_check
        if (self._held is not None or not held) and opts.eval_every and self.step % opts.eval_every == 0:
            value = check()
            self.history["val"].append({"step": self.step, "value": value})
            yield self.event("eval", "likeness.train_held_out_check" if held else "likeness.prior_check",
                             value=round(value, 5))
            if self.overtraining(patience=opts.overtrain_patience) and not self.history["overtrain_warned"]:
                self.history["overtrain_warned"] = True
                yield self.event("overtraining", "likeness.train_warn_overtraining_held_out" if held
                                 else "likeness.warn_overtraining")
        if opts.sample_every and self.step % opts.sample_every == 0:
            image = self.sample(opts.sample_prompt or self.data.captions[0])
            if self.on_sample is not None:
                self.on_sample(self.step, image)
            yield self.event("sample", "likeness.sample", sample=image)

    def prior_check(self) -> float:
        """Loss on the class images at fixed noise: it rises when the person leaks into the class."""
        return self._fixed_noise_loss(self._prior, len(self.class_images))

    def held_out_check(self) -> float:
        """Loss on the photos set aside, at fixed noise and timesteps (4 draws each, so one photo
        still gives a steady number): it rises when the LoRA copies its training photos instead
        of learning the person."""
        return self._fixed_noise_loss(self._held, len(self.data.images) - self.trained, draws=4)

    def _fixed_noise_loss(self, encoded: dict, count: int, draws: int = 1) -> float:
        import torch

        self.unet.eval()
        fixed, total, size = torch.Generator().manual_seed(12345), 0.0, self.options.batch_size
        items = [i for i in range(count) for _ in range(draws)]
        with torch.no_grad():  # in batches of the training's size: 50 class images at once would not fit
            for start in range(0, len(items), size):
                picks = items[start:start + size]
                total += float(self._loss(encoded, picks, fixed)) * len(picks)
        return total / len(items)

    def sample(self, prompt: str):
        import torch

        self.unet.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            res = self.options.resolution
            return self.pipe(prompt, num_inference_steps=self.options.sample_steps, width=res, height=res,
                             generator=torch.Generator().manual_seed(self.options.seed)).images[0]

    # -- the result -------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        consent = self.consent.to_dict() if hasattr(self.consent, "to_dict") else None
        return {"base_model": self.base_model, "family": self.family, "rank": self.options.rank,
                "alpha": self.options.lora_alpha, "steps": self.step, "trigger": self.data.trigger,
                "subject": self.data.subject, "dataset_size": self.trained,
                "resolution": self.options.resolution, "learning_rate": self.options.learning_rate,
                "consent": consent}

    def save_lora(self, path: str | Path, kohya: bool = False) -> Path:
        """The trained adapter as one ``.safetensors`` (diffusers names, or kohya names)."""
        from studio import lora_export

        state = self.lora_state()
        if kohya:
            layers = int(self.unet.config.layers_per_block if isinstance(self.unet.config.layers_per_block, int)
                         else self.unet.config.layers_per_block[0])
            tensors = lora_export.kohya_state(state, self.options.lora_alpha, self.sdxl, layers)
        else:
            tensors = lora_export.diffusers_state(state, self.options.rank, self.options.lora_alpha)
        return lora_export.write_lora(path, tensors, lora_export.lora_metadata(self.metadata()))
