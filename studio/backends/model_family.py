"""Which family a Stable Diffusion model belongs to, and the defaults that suit it.

The families are data (``assets/model_families.json``): a *base* (SD 1.5, SD 2.x, SDXL) told
apart by the pipeline class, the UNet's ``addition_embed_type`` and text width, and an optional
*speed* (turbo, Lightning, Hyper, LCM) told by the scheduler, the model's name or the style
preset the family chose. Defaults (size, steps, guidance, scheduler, negative prompt, CLIP skip)
come from the base, with the speed's overrides on top. Nothing here imports torch: folders and
single files are read as JSON / safetensors headers.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.backends.base import BackendError

FAMILIES_PATH = Path(__file__).resolve().parents[2] / "assets" / "model_families.json"
DEFAULT_KEYS = ("width", "height", "steps", "guidance", "scheduler", "negative_prompt", "clip_skip",
                "scheduler_config")


@functools.cache
def families() -> dict[str, dict[str, Any]]:
    return json.loads(FAMILIES_PATH.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Family:
    base: str  # "sd15" | "sd2" | "sdxl"
    speed: str = ""  # "" | "turbo" | "lightning" | "hyper" | "lcm"

    @property
    def label(self) -> str:
        label = families()["bases"][self.base]["label"]
        return f"{label} · {families()['speeds'][self.speed]['label']}" if self.speed else label

    def defaults(self) -> dict[str, Any]:
        base = families()["bases"][self.base]
        values = {k: base.get(k, {}) for k in DEFAULT_KEYS}  # scheduler_config: only where a family needs one
        if self.speed:
            speed = families()["speeds"][self.speed]
            values.update({k: speed[k] for k in DEFAULT_KEYS if k in speed})
            side = speed.get("base_sizes", {}).get(self.base)
            if side:
                values["width"] = values["height"] = side
        return values


def detect(pipeline_class: str = "", unet_config: dict | None = None, scheduler_class: str = "",
           source: str = "", preset: str = "", preset_scheduler: str = "") -> Family:
    """The family from whatever is known; each clue is optional (SD 1.5 when nothing says otherwise)."""
    return Family(_base(pipeline_class, unet_config or {}), _speed(scheduler_class, source, preset, preset_scheduler))


def _base(pipeline_class: str, unet: dict) -> str:
    bases = families()["bases"]
    if "XL" in pipeline_class or unet.get("addition_embed_type") == bases["sdxl"]["addition_embed_type"]:
        return "sdxl"
    by_width = {spec["cross_attention_dim"]: name for name, spec in bases.items()}
    return by_width.get(unet.get("cross_attention_dim"), "sd15")


def _speed(scheduler_class: str, source: str, preset: str, preset_scheduler: str) -> str:
    name = Path(source).name.lower() if source else ""
    for speed, spec in families()["speeds"].items():
        if scheduler_class in spec.get("schedulers", ()) or preset_scheduler in spec.get("preset_schedulers", ()):
            return speed
        if any(word in name or word in preset.lower() for word in spec["names"]):
            return speed
    return ""


def detect_pipeline(pipe: Any, source: str = "", preset: str = "", preset_scheduler: str = "") -> Family:
    return detect(type(pipe).__name__, dict(pipe.unet.config), type(pipe.scheduler).__name__, source,
                  preset, preset_scheduler)


def detect_source(source: str, preset: str = "", preset_scheduler: str = "") -> Family | None:
    """The family of a model not loaded yet, from its files (None when nothing can be read)."""
    path = Path(source).expanduser() if source else None
    if path is not None and path.is_file():
        from studio.backends.lora_files import is_sdxl_checkpoint

        try:
            xl = is_sdxl_checkpoint(path)
        except ValueError:
            return None
        return detect("StableDiffusionXLPipeline" if xl else "", {}, "", source, preset, preset_scheduler)
    index, unet, scheduler = (read_model_json(source, name) for name in (
        "model_index.json", "unet/config.json", "scheduler/scheduler_config.json"))
    if index is None and unet is None:
        return None
    return detect((index or {}).get("_class_name", ""), unet, (scheduler or {}).get("_class_name", ""),
                  source, preset, preset_scheduler)


def read_model_json(source: str, name: str) -> dict | None:
    """A model's JSON file (``config.json``, ``model_index.json``...) from its folder or the hub cache,
    without loading weights; None when it is not there or unreadable (single files have none)."""
    path = Path(source).expanduser() / name
    if not path.is_file():
        from studio.backends.model_sources import cached_file

        found = cached_file(source, name)
        path = Path(found) if found else None
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path else None
    except (OSError, ValueError):
        return None


def controlnet_problem(controlnet_config: dict, unet_config: dict) -> tuple[str, str] | None:
    """(ControlNet's family label, model's family label) when they do not fit together, else None."""
    net = detect("", controlnet_config)
    model = detect("", unet_config)
    same_width = controlnet_config.get("cross_attention_dim") == unet_config.get("cross_attention_dim")
    if net.base != model.base or not same_width:
        return net.label, model.label
    return None


def suggested_controlnet(base: str, kind: str) -> str:
    """A ControlNet of this kind known to fit the base family ("" when we know none)."""
    return families()["bases"][base].get("controlnets", {}).get(kind, "")


def check_controlnet(kind: str, controlnet_config: dict, unet_config: dict) -> None:
    problem = controlnet_problem(controlnet_config, unet_config)
    if problem:
        suggestion = suggested_controlnet(detect("", unet_config).base, kind)
        raise BackendError("models.controlnet_other_family_try" if suggestion else "models.controlnet_other_family",
                           kind=kind, controlnet=problem[0], model=problem[1], suggestion=suggestion)


def fit_spec(spec: Any, family: Family | None, preset: Any = None) -> Any:
    """A copy of an ``ImageSpec`` where values nobody chose (ImageSpec's generic defaults, or the
    style ``preset``'s SD 1.5 numbers) become the family's: 1024² for SDXL, 2 steps and no
    guidance for a turbo model... What the family typed themselves is kept."""
    import copy

    out = copy.deepcopy(spec)
    if family is None:
        return out
    generic = type(spec)()
    want = family.defaults()
    if preset is not None and not family.speed:  # the preset's advice for this base (few-step rules win)
        want.update(preset.families.get(family.base, {}))
    untouched = {("steps", generic.steps), ("guidance", generic.guidance), ("scheduler", generic.scheduler)}
    if preset is not None:
        untouched |= {("steps", preset.steps), ("guidance", preset.guidance), ("scheduler", preset.scheduler)}
    retune = family.base != "sd15" or family.speed or (preset is not None and family.base in preset.families)
    for name in ("steps", "guidance", "scheduler"):
        if retune and (name, getattr(out, name)) in untouched:
            setattr(out, name, want[name])
    if (out.width, out.height) == (generic.width, generic.height):
        out.width, out.height = int(want["width"]), int(want["height"])
    if not want["negative_prompt"] and preset is not None and out.negative_prompt == preset.negative:
        out.negative_prompt = ""  # a few-step model ignores it; keep the saved spec honest
    if preset is not None and preset.lora and family.base != "sd15":  # the presets' LoRA files are SD 1.5's
        out.loras = [lo for lo in out.loras if lo.ref != preset.lora]
    return out
