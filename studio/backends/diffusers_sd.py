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
from studio.backends.lora_files import LoraFileError, inspect_lora
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
        self._schedulers: dict[tuple, Any] = {}  # (name, family overrides) -> scheduler, built once
        self._gpu_illustrate = None
        self._gpu_pages = None
        self._prompts = None  # PromptEncoder for the loaded base pipeline (shared by derived ones)
        self._likeness = None  # IP-Adapter (studio.backends.ip_adapter), made on first use
        self._faceid = None  # IP-Adapter FaceID (studio.backends.faceid), made on first use
        self.loads = 0  # how many times a base model was loaded (tests and bench check reuse)
        self.single_file_configs: dict[str, str] = {}  # family -> config folder (default: assets/model_configs)

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
        self._prompts = None
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
            raise BackendError("error.sd_cannot_start", detail=problem)
        self._unload()
        from studio.backends.torch_device import choose_placement, place_pipeline

        self._placement = choose_placement(getattr(self.settings, "device", "auto"))
        try:
            pipe = self._load_pipeline(self.source, self._placement.dtype)
        except (OSError, ValueError, EnvironmentError, KeyError, LoraFileError) as exc:
            raise BackendError("error.sd_load", detail=f"{self.source}: {exc}") from exc
        if getattr(pipe, "safety_checker", None) is not None:  # a pipeline object passed in whole
            pipe.safety_checker = None  # family photos of a grandmother; the checker false-flags them
        pipe.set_progress_bar_config(disable=True)
        self._base = place_pipeline(pipe, self._placement)
        self._default_scheduler = pipe.scheduler
        self._schedulers.clear()
        self._loaded_source = self.source
        self.loads += 1
        return self._base

    def _load_pipeline(self, source: str, dtype):
        from studio.backends.sd_loading import load_pipeline

        return load_pipeline(source, dtype, self.single_file_configs)

    def family(self, preset: str = "", preset_scheduler: str = ""):
        """The loaded (or configured) model's family: its defaults and what fits on it."""
        from studio.backends.model_family import Family, detect_pipeline, detect_source

        if self._base is not None:
            return detect_pipeline(self._base, self.source, preset, preset_scheduler)
        return detect_source(self.source, preset, preset_scheduler) or Family("sd15")

    def _controlnet(self, kind: str):
        if kind not in self._controlnets:
            from studio.backends.model_family import check_controlnet, read_model_json
            from studio.backends.sd_loading import load_controlnet

            setting = CONTROL_SETTINGS.get(kind)
            if setting is None:
                raise BackendError("error.control_kind", kind=kind)
            source = getattr(self.settings, setting, "")
            env_name = "GIEOK_" + setting.upper()
            problem = source_problem(source, env_name)
            if problem:
                raise BackendError("error.control_unusable", kind=kind, detail=problem)
            unet_config = dict(self._base.unet.config)
            config = read_model_json(source, "config.json")  # None for single files
            if config is not None:  # refuse before reading weights that cannot fit
                check_controlnet(kind, config, unet_config)
            try:
                model = load_controlnet(source, self._placement.dtype)
            except (OSError, ValueError) as exc:
                raise BackendError("error.control_load", kind=kind, detail=f"{source}: {exc}") from exc
            check_controlnet(kind, dict(model.config), unet_config)
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
            raise BackendError(exc.key, **exc.values) from None  # keeps the message key
        width = self.model_cross_attention_dim()
        if info.mismatch(width):  # the LoRA's attention shapes do not fit this UNet
            raise BackendError("models.lora_other_family", lora=info.family, model=self.family().label,
                               lora_width=info.cross_attention_dim or "?", model_width=width)

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
                    raise BackendError("error.lora_mismatch", name=Path(path).name, detail=str(exc)) from exc
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
        return self.illustrate_variants(request, [int(request.spec.seed)], on_step, cancel)[0]

    def illustrate_variants(self, request: IllustrationRequest, seeds: list[int],
                            on_step: StepCallback | None = None, cancel: CancelToken | None = None) -> list:
        """One picture per seed in ONE pipeline call (the GPU denoises them as a batch); each
        picture is the one its seed makes alone (a generator per picture)."""
        if self._gpu_illustrate is None:  # wrapped once: a ZeroGPU turn sized from the job, direct elsewhere
            from studio import zerogpu

            self._gpu_illustrate = zerogpu.GpuFunction("illustrate", self._illustrate, zerogpu.illustration_units,
                                                       self.settings)
        return self._gpu_illustrate(request, list(seeds), local={"on_step": on_step, "cancel": cancel})

    def illustrate_pages(self, requests: list[IllustrationRequest], seeds: list[int],
                         on_step: StepCallback | None = None, cancel: CancelToken | None = None) -> list:
        """One picture per page request (its own seed, in order). Pages sharing a pipeline, size,
        steps, guidance and LoRAs are denoised in one call (``sd_batching``); each picture is the
        one its page makes alone."""
        if len(requests) != len(seeds):
            raise ValueError("one seed per page")
        if self._gpu_pages is None:  # its own turn size: a batch of pages is bigger work than a page
            from studio import zerogpu
            from studio.backends.sd_batching import page_units

            self._gpu_pages = zerogpu.GpuFunction("illustrate_pages", self._illustrate_pages, page_units,
                                                  self.settings)
        return self._gpu_pages(list(requests), [int(s) for s in seeds], local={"on_step": on_step, "cancel": cancel})

    def page_batch_size(self, spec) -> int:
        """Pages like ``spec`` one ``illustrate_pages`` call may take (see ``sd_batching``)."""
        from studio.backends.sd_batching import page_batch_size

        return page_batch_size(self.settings, self._placement, spec)

    def _illustrate_pages(self, requests: list[IllustrationRequest], seeds: list[int], on_step=None,
                          cancel=None) -> list:
        return [images[0] for images in self._generate(requests, [[seed] for seed in seeds], on_step, cancel)]

    def _illustrate(self, request: IllustrationRequest, seeds: list[int], on_step=None, cancel=None) -> list:
        return self._generate([request], [list(seeds)], on_step, cancel)[0]

    def _generate(self, requests: list[IllustrationRequest], seeds: list[list[int]], on_step=None,
                  cancel=None) -> list[list]:
        """Pictures for each request (one per seed of it), as few pipeline calls as can share."""
        from studio.backends.sd_batching import group_requests

        cancel = cancel or CancelToken()
        cancel.raise_if_cancelled()
        results: list[list] = [[] for _ in requests]
        with self._lock:
            for group in group_requests(requests, [len(s) for s in seeds]):
                made = self._generate_group([requests[i] for i in group], [seeds[i] for i in group], on_step, cancel)
                for index, images in zip(group, made):
                    results[index] = images
        return results

    def _generate_group(self, requests: list[IllustrationRequest], seeds: list[list[int]], on_step,
                        cancel: CancelToken) -> list[list]:
        """Requests with equal ``call_key``: one call per shape of prompt embeddings."""
        from studio.backends.sd_batching import join_embeddings, pipeline_key, split_by_embeddings

        spec = requests[0].spec
        pipe = self._pipeline_for(*pipeline_key(requests[0]))
        active = self._apply_loras(pipe, requests[0])
        self._set_scheduler(pipe, spec.scheduler, self.family("", spec.scheduler).defaults()["scheduler_config"])
        encoder = self._prompt_encoder()
        encoded = [encoder.encode(r.prompt, r.negative_prompt, float(spec.guidance), tuple(active)).kwargs
                   for r in requests]
        calls = split_by_embeddings(encoded)
        # Any IP-Adapter on the UNet (plain or FaceID) wants its image inputs per call: a page each.
        if len(requests) > 1 and getattr(pipe.unet, "encoder_hid_proj", None) is not None:
            calls = [[index] for index in range(len(requests))]
        made: list[list] = [[] for _ in requests]
        for call in calls:
            images = self._call(pipe, [requests[i] for i in call], [s for i in call for s in seeds[i]],
                                join_embeddings([encoded[i] for i in call]), on_step, cancel)
            per_request = len(seeds[call[0]])
            for n, index in enumerate(call):
                made[index] = images[n * per_request:(n + 1) * per_request]
        return made

    def _call(self, pipe, requests: list[IllustrationRequest], seeds: list[int], embeddings: dict[str, Any],
              on_step, cancel: CancelToken) -> list:
        """One pipeline call for ``requests`` (equal ``call_key``), ``seeds`` request after request."""
        import torch

        from studio.backends.sd_batching import call_kwargs
        from studio.backends.torch_device import free_memory, is_out_of_memory, set_vae_tiling

        spec = requests[0].spec
        width, height = _multiple_of_8(spec.width), _multiple_of_8(spec.height)
        set_vae_tiling(pipe, self._placement, width, height, len(seeds))
        kwargs = call_kwargs(requests, seeds, embeddings, width, height)
        kwargs["callback_on_step_end"] = _step_callback(on_step, cancel)
        if len(requests) == 1:
            kwargs.update(self._reference_kwargs(pipe, requests[0]))
        try:
            with torch.inference_mode():
                images = pipe(**kwargs).images
        except Exception as exc:
            if is_out_of_memory(exc):
                free_memory()
                raise BackendError("error.out_of_memory") from None
            raise
        if cancel.cancelled:
            raise Cancelled("Stopped.")
        return [image.convert("RGB") for image in images]

    def _reference_kwargs(self, pipe, request: IllustrationRequest) -> dict[str, Any]:
        """IP-Adapter inputs: the character's reference photo, or scale 0 once the adapter is on."""
        from studio.backends.faceid import FaceIdLikeness
        from studio.backends.ip_adapter import IpAdapterLikeness

        if request.reference_faceid or (request.reference_image is None and FaceIdLikeness.is_on(pipe)):
            if self._faceid is None:
                self._faceid = FaceIdLikeness(self.settings)
            return self._faceid.pipeline_kwargs(pipe, request.reference_image, request.reference_scale,
                                                float(request.spec.guidance))
        if request.reference_image is None and not IpAdapterLikeness.is_on(pipe):
            return {}
        if self._likeness is None:
            self._likeness = IpAdapterLikeness(self.settings)
        return self._likeness.pipeline_kwargs(pipe, request.reference_image, request.reference_scale)

    def _prompt_encoder(self):
        if self._prompts is None:
            from studio.backends.sd_prompts import PromptEncoder

            base = self._ensure_loaded()
            self._prompts = PromptEncoder(base, clip_skip=int(self.family().defaults()["clip_skip"]))
        return self._prompts

    def dropped_words(self, prompt: str) -> list[str] | None:
        """Words at the end of ``prompt`` the text encoder will not read (None: model not loaded yet)."""
        if self._base is None:
            return None
        return self._prompt_encoder().dropped(prompt)

    def _set_scheduler(self, pipe, name: str, overrides: dict | None = None) -> None:
        """The named scheduler on ``pipe``, built once from the model's own scheduler config plus
        the family's ``overrides`` (Lightning/Hyper/turbo want ``timestep_spacing="trailing"``)."""
        import diffusers

        if name not in SCHEDULERS:
            raise BackendError("error.scheduler", name=name, choices=", ".join(SCHEDULERS))
        key = (name, tuple(sorted((overrides or {}).items())))
        if key not in self._schedulers:
            cls_name = SCHEDULERS[name]
            if cls_name is None and not overrides:
                self._schedulers[key] = self._default_scheduler
            else:
                cls = type(self._default_scheduler) if cls_name is None else getattr(diffusers, cls_name)
                self._schedulers[key] = cls.from_config(self._default_scheduler.config, **(overrides or {}))
        pipe.scheduler = self._schedulers[key]


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
