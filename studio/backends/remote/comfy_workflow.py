"""Fill the ComfyUI workflow template (``assets/comfyui/text2img_lora_controlnet.json``, API
format) for one page: prompts, size, seed, steps, sampler, the checkpoint, a chain of LoRAs (none
to many), the ControlNet with the uploaded map (or no ControlNet), and img2img from a photo.

Nodes are found by class and title, not by id, so an operator may edit the template in ComfyUI
("Save (API format)") and keep it working as long as the same kinds of nodes are there.
"""
from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from studio.backends.base import BackendError, IllustrationRequest
from studio.backends.remote.common import COMFY_SAMPLERS

TEMPLATE = Path(__file__).resolve().parents[3] / "assets" / "comfyui" / "text2img_lora_controlnet.json"
SERVICE = "ComfyUI"
Workflow = dict[str, dict[str, Any]]


@cache
def _template() -> str:
    return TEMPLATE.read_text(encoding="utf-8")


def template() -> Workflow:
    return json.loads(_template())


def find(workflow: Workflow, class_type: str, title: str | None = None) -> str:
    for node_id, node in workflow.items():
        if node.get("class_type") == class_type and (title is None or node.get("_meta", {}).get("title") == title):
            return node_id
    raise BackendError("remote.workflow_error", service=SERVICE, detail=f"the template has no {class_type} node")


def _rewire(workflow: Workflow, old: list, new: list) -> None:
    """Every input that read ``old`` ([node id, output]) reads ``new`` instead."""
    for node in workflow.values():
        for name, value in node["inputs"].items():
            if value == old:
                node["inputs"][name] = list(new)


def _remove(workflow: Workflow, node_id: str, outputs: dict[int, list]) -> None:
    del workflow[node_id]
    for output, replacement in outputs.items():
        _rewire(workflow, [node_id, output], replacement)


def fill(request: IllustrationRequest, checkpoint: str, controlnets: dict[str, str],
         uploaded: dict[str, str]) -> Workflow:
    """The workflow for this page. ``uploaded`` names the images already on the server:
    {"control": name, "init": name}."""
    spec = request.spec
    wf = template()
    ckpt = find(wf, "CheckpointLoaderSimple")
    wf[ckpt]["inputs"]["ckpt_name"] = checkpoint
    sampler = find(wf, "KSampler")
    wf[sampler]["inputs"].update(seed=int(spec.seed), steps=int(spec.steps), cfg=float(spec.guidance),
                                 sampler_name=COMFY_SAMPLERS.get(spec.scheduler, "euler_ancestral"),
                                 scheduler="normal", denoise=1.0)
    wf[find(wf, "CLIPTextEncode", "positive")]["inputs"]["text"] = request.prompt
    wf[find(wf, "CLIPTextEncode", "negative")]["inputs"]["text"] = request.negative_prompt
    latent = find(wf, "EmptyLatentImage")
    wf[latent]["inputs"].update(width=int(spec.width) // 8 * 8, height=int(spec.height) // 8 * 8)
    _chain_loras(wf, ckpt, [(lo.name or lo.ref, float(lo.weight)) for lo in spec.loras])
    apply = find(wf, "ControlNetApplyAdvanced")
    if "control" in uploaded:
        model = controlnets.get(spec.control.kind)
        if not model:
            raise BackendError("remote.controlnet_missing", service=SERVICE, kind=spec.control.kind)
        wf[find(wf, "ControlNetLoader")]["inputs"]["control_net_name"] = model
        wf[wf[apply]["inputs"]["image"][0]]["inputs"]["image"] = uploaded["control"]
        wf[apply]["inputs"].update(strength=float(spec.control.scale), start_percent=float(spec.control.start),
                                   end_percent=float(spec.control.end))
    else:
        positive, negative = wf[apply]["inputs"]["positive"], wf[apply]["inputs"]["negative"]
        loader, image = wf[apply]["inputs"]["control_net"][0], wf[apply]["inputs"]["image"][0]
        _remove(wf, apply, {0: positive, 1: negative})
        del wf[loader], wf[image]
    if "init" in uploaded:  # img2img: the photo, encoded, replaces the empty latent
        vae = wf[find(wf, "VAEDecode")]["inputs"]["vae"]
        wf["init_image"] = {"class_type": "LoadImage", "_meta": {"title": "photo"},
                            "inputs": {"image": uploaded["init"]}}
        wf["init_latent"] = {"class_type": "VAEEncode", "_meta": {"title": "photo latent"},
                             "inputs": {"pixels": ["init_image", 0], "vae": list(vae)}}
        _remove(wf, latent, {0: ["init_latent", 0]})
        wf[sampler]["inputs"]["denoise"] = float(spec.strength)
    return wf


def _chain_loras(wf: Workflow, ckpt: str, loras: list[tuple[str, float]]) -> None:
    """Zero LoRAs: the template's LoraLoader is bypassed. Several: copies chained one after another."""
    node_id = find(wf, "LoraLoader")
    original = wf[node_id]
    if not loras:
        _remove(wf, node_id, {0: original["inputs"]["model"], 1: original["inputs"]["clip"]})
        return
    previous_model, previous_clip = original["inputs"]["model"], original["inputs"]["clip"]
    last = node_id
    for i, (name, weight) in enumerate(loras):
        this = node_id if i == 0 else f"{node_id}_{i}"
        node = copy.deepcopy(original)
        node["inputs"].update(model=list(previous_model), clip=list(previous_clip), lora_name=name,
                              strength_model=weight, strength_clip=weight)
        if i > 0:  # whatever read the previous LoRA's outputs now reads this one's
            _rewire(wf, [last, 0], [this, 0])
            _rewire(wf, [last, 1], [this, 1])
        wf[this] = node
        previous_model, previous_clip, last = [this, 0], [this, 1], this


def output_node(wf: Workflow) -> str:
    return find(wf, "SaveImage")
