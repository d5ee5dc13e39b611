"""Writing a trained LoRA as one ``.safetensors`` file, in diffusers or kohya/A1111 key names.

diffusers (peft) names: ``unet.<module>.lora_A.weight`` / ``lora_B.weight``. diffusers assumes
alpha = rank for these, so alpha/rank is folded into ``lora_B`` (exact) and the file behaves the
same wherever it is loaded, including the studio's illustrator, which reads the tensors only.

kohya names (what kohya sd-scripts writes and A1111/Forge/ComfyUI read):
``lora_unet_<module with _>.lora_down.weight`` / ``lora_up.weight`` / ``alpha``. SD 1.x keeps
diffusers' block names (down_blocks_1_attentions_0...), as sd-scripts does; SDXL uses the original
(SGM) names (input_blocks_4_1..., middle_block_1..., output_blocks_0_1...), as sd-scripts does.
diffusers' ``load_lora_weights`` converts both back.

Both carry a metadata block: base model, family, rank, alpha, steps, trigger word, dataset size
and the consent record (JSON), plus kohya's ``ss_network_dim``/``ss_network_alpha``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

METADATA_PREFIX = "gieok."


def lora_metadata(info: dict[str, Any]) -> dict[str, str]:
    """safetensors metadata is str -> str: plain values as text, the rest as JSON."""
    out = {}
    for key, value in info.items():
        out[METADATA_PREFIX + key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if "rank" in info:
        out["ss_network_dim"] = str(info["rank"])
    if "alpha" in info:
        out["ss_network_alpha"] = str(info["alpha"])
    return out


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The studio's metadata block of a LoRA file (header only; no tensors read)."""
    from studio.backends.lora_files import read_header

    raw = read_header(path).get("__metadata__") or {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key.startswith(METADATA_PREFIX):
            name = key[len(METADATA_PREFIX):]
            try:
                out[name] = json.loads(value)
            except (TypeError, ValueError):
                out[name] = value
    return out


def _pairs(peft_state: dict) -> dict[str, tuple[Any, Any]]:
    """module path -> (A "down", B "up") from a peft state dict (``<module>.lora_A.weight``)."""
    pairs: dict[str, list] = {}
    for key, tensor in peft_state.items():
        match = re.match(r"(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$", key)
        if not match:
            continue
        slot = pairs.setdefault(match.group(1), [None, None])
        slot[0 if match.group(2) == "A" else 1] = tensor
    return {module: (a, b) for module, (a, b) in pairs.items() if a is not None and b is not None}


def diffusers_state(peft_state: dict, rank: int, alpha: float) -> dict:
    scale = float(alpha) / float(rank)
    out = {}
    for module, (down, up) in _pairs(peft_state).items():
        out[f"unet.{module}.lora_A.weight"] = down.detach().float().cpu().contiguous()
        out[f"unet.{module}.lora_B.weight"] = (up.detach().float() * scale).cpu().contiguous()
    return out


def sgm_module_name(module: str, layers_per_block: int) -> str:
    """diffusers UNet path -> the original SDXL (SGM) path kohya uses for SDXL LoRAs."""
    match = re.match(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", module)
    if match:
        block, layer, rest = int(match.group(1)), int(match.group(2)), match.group(3)
        return f"input_blocks.{block * (layers_per_block + 1) + layer + 1}.1.{rest}"
    match = re.match(r"mid_block\.attentions\.0\.(.+)", module)
    if match:
        return f"middle_block.1.{match.group(1)}"
    match = re.match(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", module)
    if match:
        block, layer, rest = int(match.group(1)), int(match.group(2)), match.group(3)
        return f"output_blocks.{block * (layers_per_block + 1) + layer}.1.{rest}"
    raise ValueError(f"no SGM name for {module}")


def kohya_state(peft_state: dict, alpha: float, sdxl: bool, layers_per_block: int) -> dict:
    import torch

    out = {}
    for module, (down, up) in _pairs(peft_state).items():
        name = sgm_module_name(module, layers_per_block) if sdxl else module
        base = "lora_unet_" + name.replace(".", "_")
        out[f"{base}.lora_down.weight"] = down.detach().float().cpu().contiguous()
        out[f"{base}.lora_up.weight"] = up.detach().float().cpu().contiguous()
        out[f"{base}.alpha"] = torch.tensor(float(alpha))
    return out


def write_lora(path: str | Path, tensors: dict, metadata: dict[str, str]) -> Path:
    """Atomic write (temp + rename): a half-written LoRA never replaces a good one."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
