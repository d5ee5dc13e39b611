"""Image parameters as A1111-style ``parameters`` text (PNG chunk) and back; the tone grade.

The text is what Stable Diffusion web UIs write, so other tools read our pictures too:

    a grandmother under a persimmon tree, watercolor
    Negative prompt: blurry
    Steps: 25, Sampler: dpm++_2m, CFG scale: 7.0, Seed: 42, Size: 512x512, Model: sd15, Lora: "ab12.safetensors:0.8", Tone: warm
"""
from __future__ import annotations

import json
import re
from typing import Any

from studio.book import TONES, ControlSpec, ImageSpec, LoraChoice
from studio.messages import Localized

_PARAM = re.compile(r'\s*([\w ]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
# The tone grade per channel: (multiply, add) for R, G, B. Gentle, like a warm/cool photo filter.
TONE_CURVES = {
    "warm": ((1.06, 6), (1.0, 2), (0.9, -4)),
    "cool": ((0.92, -4), (1.0, 0), (1.07, 6)),
}


NOT_DETERMINISTIC = "not deterministic: the same settings may give a different picture on this service"


class PictureError(Localized, ValueError):
    """A picture request that cannot be made as asked: a message key and its values."""


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False) if ("," in value or ":" in value or '"' in value) else value


def to_a1111(spec: ImageSpec, model: str = "", backend: str = "", deterministic: bool = True) -> str:
    """The ``parameters`` text for an image made from ``spec`` (its prompts are the final ones).
    ``deterministic=False`` (a service that may answer the same settings with another picture)
    adds a ``Note`` saying so: whoever reads the settings knows they will not give these pixels."""
    fields: list[tuple[str, Any]] = [
        ("Steps", spec.steps), ("Sampler", spec.scheduler), ("CFG scale", spec.guidance), ("Seed", spec.seed),
        ("Size", f"{spec.width}x{spec.height}"),
    ]
    if model:
        fields.append(("Model", _quote(model)))
    if spec.init_image:
        fields += [("Denoising strength", spec.strength), ("Init image", spec.init_image)]
    if spec.control.kind != "none":
        fields += [("ControlNet", spec.control.kind), ("ControlNet scale", spec.control.scale),
                   ("ControlNet start", spec.control.start), ("ControlNet end", spec.control.end)]
        if spec.control.map_image:
            fields.append(("ControlNet map", spec.control.map_image))
    if spec.loras:
        fields.append(("Lora", _quote(", ".join(f"{lo.ref}:{lo.weight:g}" for lo in spec.loras))))
    if spec.style:
        fields.append(("Style", _quote(spec.style)))
    fields.append(("Tone", spec.tone))
    if backend:
        fields.append(("Backend", backend))
    if not deterministic:
        fields.append(("Note", _quote(NOT_DETERMINISTIC)))
    lines = [spec.prompt]
    if spec.negative_prompt:
        lines.append(f"Negative prompt: {spec.negative_prompt}")
    lines.append(", ".join(f"{k}: {v}" for k, v in fields))
    return "\n".join(lines)


def parse_a1111(text: str) -> dict[str, Any]:
    """``{"prompt", "negative_prompt", <key>: <str value>...}`` from a ``parameters`` text."""
    lines = (text or "").strip().split("\n")
    if not lines or not lines[-1].strip():
        raise PictureError("error.params_empty")
    *head, last = lines
    if len(_PARAM.findall(last)) < 3:  # no settings line: the whole text is the prompt
        head, last = lines, ""
    prompt, negative, in_negative = [], [], False
    for line in head:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    out: dict[str, Any] = {"prompt": "\n".join(prompt).strip(), "negative_prompt": "\n".join(negative).strip()}
    for key, value in _PARAM.findall(last):
        value = value.strip()
        if value.startswith('"') and value.endswith('"'):
            value = json.loads(value)
        out[key.strip()] = value
    return out


def spec_from_a1111(text: str) -> ImageSpec:
    """An ``ImageSpec`` that reproduces the image these parameters describe."""
    p = parse_a1111(text)
    try:
        width, height = (int(v) for v in p.get("Size", "512x512").split("x"))
        spec = ImageSpec(prompt=p["prompt"], negative_prompt=p["negative_prompt"], seed=int(p.get("Seed", 0)),
                         seed_locked=True, steps=int(p.get("Steps", 25)), guidance=float(p.get("CFG scale", 7.0)),
                         width=width, height=height, scheduler=p.get("Sampler", "default"),
                         style=p.get("Style", ""), tone=p.get("Tone", "neutral"))
        if "Denoising strength" in p:
            spec.init_image = p.get("Init image") or None
            spec.strength = float(p["Denoising strength"])
        if "ControlNet" in p:
            spec.control = ControlSpec(kind=p["ControlNet"], scale=float(p.get("ControlNet scale", 0.8)),
                                       start=float(p.get("ControlNet start", 0.0)),
                                       end=float(p.get("ControlNet end", 1.0)), map_image=p.get("ControlNet map"))
        for item in filter(None, (s.strip() for s in p.get("Lora", "").split(","))):
            ref, _, weight = item.rpartition(":")
            spec.loras.append(LoraChoice(ref=ref, weight=float(weight)))
    except (TypeError, ValueError) as exc:
        raise PictureError("error.params_unreadable", detail=str(exc)) from None
    return spec


def read_png_parameters(path) -> str:
    from PIL import Image

    with Image.open(path) as img:
        return img.info.get("parameters", "")


def tone_grade(image, tone: str):
    """A gentle warm or cool colour grade applied after generation (neutral: unchanged)."""
    if tone not in TONES:
        raise PictureError("error.tone", tones=", ".join(TONES))
    if tone == "neutral":
        return image
    curves = TONE_CURVES[tone]
    bands = [band.point(lambda v, m=m, a=a: max(0, min(255, round(v * m + a))))
             for band, (m, a) in zip(image.convert("RGB").split(), curves)]
    from PIL import Image

    return Image.merge("RGB", bands)
