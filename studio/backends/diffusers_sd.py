"""Stable Diffusion on diffusers: SD 1.5 family, SDXL and few-step (turbo / LCM) models.

One base pipeline is loaded once (hub id, local folder or single ``.safetensors`` file, per
``GIEOK_SD_MODEL``) and reused for every page; img2img and ControlNet variants share its
components through ``from_pipe``. Style LoRAs are loaded once each as named adapters and switched
with ``set_adapters`` (weights per page), never by reloading. Cancel stops within one denoising
step. Device, dtype and memory savers come from ``torch_device``.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

from studio.backends.base import (
    Availability, BackendError, CancelToken, Cancelled, IllustrationRequest, StepCallback,
)
from studio.backends.lora_files import LoraFileError, inspect_lora, is_sdxl_checkpoint
from studio.backends.model_sources import model_availability, source_problem

log = logging.getLogger(__name__)

SCHEDULERS = {  # UI name -> diffusers scheduler class ("default" keeps the model's own)
    "default": None,
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "dpm++_2m": "DPMSolverMultistepScheduler",
    "ddim": "DDIMScheduler",
    "unipc": "UniPCMultistepScheduler",
    "lcm": "LCMScheduler",  # for LCM-LoRA / LCM checkpoints (4-8 steps, guidance 1-2)
}
CONTROL_SETTINGS = {"openpose": "controlnet_openpose", "depth": "controlnet_depth",
                    "canny": "controlnet_canny", "lineart": "controlnet_lineart"}


class DiffusersIllustrator:
    name = "diffusers"
    label = "Stable Diffusion (diffusers)"

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.source: str = settings.sd_model or ""
        self._lock = threading.RLock()
        self._base = None  # the text2img pipeline; every other pipeline is derived from it
        self._loaded_source: str | None = None
        self._placement = None
        self._derived: dict[tuple[str, str], Any] = {}
        self._controlnets: dict[str, Any] = {}
        self._adapters: dict[str, str] = {}  # file key -> adapter name
        self._default_scheduler = None
        self._gpu_illustrate = None
        self._likeness = None  # IP-Adapter (studio.backends.ip_adapter), made on first use
        self.loads = 0  # how many times a base model was loaded (tests and bench check reuse)

    # -- status ----------------------------------------------------------------------------
    def available(self) -> Availability:
        return model_availability(self.source, "GIEOK_SD_MODEL", "torch", "diffusers", "transformers", "safetensors")

    def model_cross_attention_dim(self) -> int | None:
        """Text width of the base model (tells SD 1.5 from SDXL LoRAs); read without loading if we can."""
        if self._base is not None:
            return int(self._base.unet.config.cross_attention_dim)
        config = Path(self.source).expanduser() / "unet" / "config.json"
        if self.source and config.is_file():
            import json

            return int(json.loads(config.read_text()).get("cross_attention_dim") or 0) or None
        return None

    # -- loading ---------------------------------------------------------------------------
    def switch_model(self, source: str) -> None:
        """Load another base model; the old one is freed first and restored if the new one fails."""
        with self._lock:
            if source == self._loaded_source and self._base is not None:
                return
            previous = self._loaded_source
            self._unload()
            try:
                self.source = source
                self._ensure_loaded()
            except Exception:
                self.source = previous or ""
                if previous:
                    try:
                        self._ensure_loaded()
                    except Exception:  # pragma: no cover - the old model vanished meanwhile
                        log.exception("could not restore the previous model %s", previous)
                raise

    def _unload(self) -> None:
        if self._base is None:
            return
        self._base = None
        self._derived.clear()
        self._controlnets.clear()
        self._adapters.clear()
        self._loaded_source = None
        if self._likeness is not None:
            self._likeness.forget()
        from studio.backends.torch_device import free_memory

        free_memory()

    def _ensure_loaded(self):
        if self._base is not None and self._loaded_source == self.source:
            return self._base
        problem = source_problem(self.source, "GIEOK_SD_MODEL")
        if problem:
            raise BackendError(f"Stable Diffusion cannot start: {problem}.")
        self._unload()
        from studio.backends.torch_device import choose_placement, place_pipeline

        self._placement = choose_placement(getattr(self.settings, "device", "auto"))
        try:
            pipe = self._load_pipeline(self.source, self._placement.dtype)
        except (OSError, ValueError, EnvironmentError, KeyError, LoraFileError) as exc:
            raise BackendError(f"The model {self.source} could not be loaded: {exc}") from exc
        if hasattr(pipe, "safety_checker"):
            pipe.safety_checker = None  # family photos of a grandmother; the checker false-flags them
        pipe.set_progress_bar_config(disable=True)
        self._base = place_pipeline(pipe, self._placement)
        self._default_scheduler = pipe.scheduler
        self._loaded_source = self.source
        self.loads += 1
        return self._base

    @staticmethod
    def _load_pipeline(source: str, dtype):
        from diffusers import AutoPipelineForText2Image, StableDiffusionPipeline, StableDiffusionXLPipeline

        path = Path(source).expanduser()
        if path.is_file():
            cls = StableDiffusionXLPipeline if is_sdxl_checkpoint(path) else StableDiffusionPipeline
            return cls.from_single_file(str(path), dtype=dtype)
        kwargs: dict[str, Any] = {"dtype": dtype}
        if path.is_dir():
            kwargs["local_files_only"] = True
        return AutoPipelineForText2Image.from_pretrained(str(path) if path.is_dir() else source, **kwargs)

    def _controlnet(self, kind: str):
        if kind not in self._controlnets:
            setting = CONTROL_SETTINGS.get(kind)
            if setting is None:
                raise BackendError(f"Unknown ControlNet kind '{kind}'.")
            source = getattr(self.settings, setting, "")
            env_name = "GIEOK_" + setting.upper()
            problem = source_problem(source, env_name)
            if problem:
                raise BackendError(f"ControlNet {kind} cannot be used: {problem}.")
            from diffusers import ControlNetModel

            path = Path(source).expanduser()
            try:
                if path.is_file():
                    model = ControlNetModel.from_single_file(str(path), dtype=self._placement.dtype)
                else:
                    model = ControlNetModel.from_pretrained(str(path) if path.is_dir() else source,
                                                            dtype=self._placement.dtype,
                                                            local_files_only=path.is_dir())
            except (OSError, ValueError) as exc:
                raise BackendError(f"ControlNet {kind} ({source}) could not be loaded: {exc}") from exc
            if not self._placement.offload:
                model.to(self._placement.device)
            self._controlnets[kind] = model
        return self._controlnets[kind]

    def _pipeline_for(self, img2img: bool, control_kind: str):
        base = self._ensure_loaded()
        key = ("img2img" if img2img else "text2img", control_kind)
        if key == ("text2img", "none"):
            return base
        if key not in self._derived:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image

            auto = AutoPipelineForImage2Image if img2img else AutoPipelineForText2Image
            extra = {"controlnet": self._controlnet(control_kind)} if control_kind != "none" else {}
            pipe = auto.from_pipe(base, **extra)  # shares unet/vae/text encoders (and their LoRAs)
            pipe.set_progress_bar_config(disable=True)
            if self._placement.offload and extra:
                pipe.enable_model_cpu_offload()
            self._derived[key] = pipe
        return self._derived[key]

    # -- LoRAs -----------------------------------------------------------------------------
    def check_lora(self, path: str | Path) -> None:
        """Raise a clear ``BackendError`` when the LoRA cannot go on this model."""
        try:
            info = inspect_lora(path)
        except LoraFileError as exc:
            raise BackendError(str(exc)) from None
        reason = info.mismatch(self.model_cross_attention_dim())
        if reason:
            raise BackendError(reason)

    def _apply_loras(self, pipe, request: IllustrationRequest) -> list[tuple[str, float]]:
        weights = {c.ref: float(c.weight) for c in request.spec.loras}
        active: list[tuple[str, float]] = []
        for ref, path in request.lora_paths.items():
            key = f"{Path(path).resolve()}:{Path(path).stat().st_size}"
            if key not in self._adapters:
                self.check_lora(path)
                name = "lora_" + hashlib.sha256(key.encode()).hexdigest()[:12]
                try:  # read as safetensors ourselves: whatever its name, a LoRA is never unpickled
                    from safetensors.torch import load_file

                    self._base.load_lora_weights(load_file(str(path)), adapter_name=name)
                except (ValueError, KeyError, RuntimeError, OSError) as exc:
                    raise BackendError(f"The LoRA {Path(path).name} does not fit this model: {exc}") from exc
                self._adapters[key] = name
            active.append((self._adapters[key], weights.get(ref, 0.8)))
        if not self._adapters:
            return active
        if active:
            pipe.enable_lora()
            pipe.set_adapters([n for n, _ in active], adapter_weights=[w for _, w in active])
        else:
            pipe.disable_lora()  # adapters stay loaded for the next page that wants them
        return active

    def loaded_adapters(self) -> list[str]:
        return list(self._adapters.values())

    # -- generation ------------------------------------------------------------------------
    def illustrate(self, request: IllustrationRequest, on_step: StepCallback | None = None,
                   cancel: CancelToken | None = None):
        if self._gpu_illustrate is None:  # wrapped once: spaces.GPU on ZeroGPU, unchanged elsewhere
            from studio.backends.torch_device import gpu_task

            self._gpu_illustrate = gpu_task(self._illustrate)
        return self._gpu_illustrate(request, on_step, cancel)

    def _illustrate(self, request: IllustrationRequest, on_step, cancel):
        import torch

        from studio.backends.torch_device import free_memory, is_out_of_memory

        spec = request.spec
        cancel = cancel or CancelToken()
        cancel.raise_if_cancelled()
        control_kind = spec.control.kind if request.control_image is not None else "none"
        with self._lock:
            pipe = self._pipeline_for(request.init_image is not None, control_kind)
            self._apply_loras(pipe, request)
            self._set_scheduler(pipe, spec.scheduler)
            width, height = _multiple_of_8(spec.width), _multiple_of_8(spec.height)
            kwargs: dict[str, Any] = dict(
                prompt=request.prompt, negative_prompt=request.negative_prompt or None,
                num_inference_steps=int(spec.steps), guidance_scale=float(spec.guidance),
                generator=torch.Generator(device="cpu").manual_seed(int(spec.seed)),
                callback_on_step_end=_step_callback(on_step, cancel),
            )
            if request.init_image is not None:
                kwargs.update(image=request.init_image.convert("RGB").resize((width, height)),
                              strength=float(spec.strength))
            else:
                kwargs.update(width=width, height=height)
            if control_kind != "none":
                control = request.control_image.convert("RGB").resize((width, height))
                kwargs["control_image" if request.init_image is not None else "image"] = control
                kwargs.update(controlnet_conditioning_scale=float(spec.control.scale),
                              control_guidance_start=float(spec.control.start),
                              control_guidance_end=float(spec.control.end))
            kwargs.update(self._reference_kwargs(pipe, request))
            try:
                with torch.inference_mode():
                    image = pipe(**kwargs).images[0]
            except Exception as exc:
                if is_out_of_memory(exc):
                    free_memory()
                    raise BackendError("The GPU ran out of memory for this page. Try a smaller size or "
                                       "fewer variants; the studio is ready for the next try.") from None
                raise
            if cancel.cancelled:
                raise Cancelled("Stopped.")
            return image.convert("RGB")

    def _reference_kwargs(self, pipe, request: IllustrationRequest) -> dict[str, Any]:
        """IP-Adapter inputs: the character's reference photo, or scale 0 once the adapter is on."""
        from studio.backends.ip_adapter import IpAdapterLikeness

        if request.reference_image is None and not IpAdapterLikeness.is_on(pipe):
            return {}
        if self._likeness is None:
            self._likeness = IpAdapterLikeness(self.settings)
        return self._likeness.pipeline_kwargs(pipe, request.reference_image, request.reference_scale)

    def _set_scheduler(self, pipe, name: str) -> None:
        import diffusers

        if name not in SCHEDULERS:
            raise BackendError(f"Unknown scheduler '{name}'. Choose one of: {', '.join(SCHEDULERS)}.")
        cls_name = SCHEDULERS[name]
        base_config = self._default_scheduler.config
        if cls_name is None:
            pipe.scheduler = self._default_scheduler
        elif type(pipe.scheduler).__name__ != cls_name:
            pipe.scheduler = getattr(diffusers, cls_name).from_config(base_config)


def _step_callback(on_step: StepCallback | None, cancel: CancelToken):
    def callback(pipe, step, timestep, callback_kwargs):
        total = getattr(pipe, "num_timesteps", 0) or step + 1
        if on_step is not None:
            on_step(step + 1, total, None)
        if cancel.cancelled:
            pipe._interrupt = True  # diffusers stops before the next denoising step
        return callback_kwargs

    return callback


def _multiple_of_8(value: int) -> int:
    return max(64, int(value) // 8 * 8)
