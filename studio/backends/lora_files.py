"""Reading a ``.safetensors`` header without torch: is it a LoRA, and for which base model?

The header is 8 bytes (little-endian length) + JSON naming every tensor with its shape, so we
can tell an SD 1.5 LoRA (cross-attention width 768) from an SDXL one (2048, or a second text
encoder) before anything is loaded, and give a clear message instead of a shape error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from studio.messages import Localized
from studio.model_files import ModelFileError, read_safetensors_header

MAX_HEADER_BYTES = 64 * 1024 * 1024
FAMILY_BY_CROSS_DIM = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL"}
# attn2 to_k "down" matrix: [rank, text width]. Covers diffusers (lora.down / lora_A) and kohya names.
_CROSS_KEY = re.compile(r"attn2[._]to_k[._].*(lora_A|lora[._]down)\.weight$")


class LoraFileError(Localized, ValueError):
    pass


@dataclass(frozen=True)
class LoraInfo:
    tensors: int
    cross_attention_dim: int | None  # the base model's text width this LoRA was trained for
    sdxl_text_encoder_2: bool  # keys for SDXL's second text encoder

    @property
    def family(self) -> str:
        if self.sdxl_text_encoder_2:
            return "SDXL"
        return family_name(self.cross_attention_dim)

    def mismatch_error(self, model_cross_dim: int | None) -> LoraFileError | None:
        """Why this LoRA cannot go on a model with that cross-attention width (None = it can),
        as an error that renders in the visitor's language."""
        if model_cross_dim is None:
            return None
        model_family = family_name(model_cross_dim)
        if self.sdxl_text_encoder_2 and model_cross_dim != 2048:
            return LoraFileError("uploads.lora_for_sdxl", model=model_family)
        if self.cross_attention_dim is not None and self.cross_attention_dim != model_cross_dim:
            return LoraFileError("uploads.lora_other_base", family=self.family, width=self.cross_attention_dim,
                                 model=model_family, model_width=model_cross_dim)
        return None

    def mismatch(self, model_cross_dim: int | None) -> str | None:
        """The same reason as English text (None = it fits)."""
        error = self.mismatch_error(model_cross_dim)
        return str(error) if error else None


def family_name(cross_attention_dim: int | None) -> str:
    if cross_attention_dim is None:
        return "an unknown model"
    return FAMILY_BY_CROSS_DIM.get(cross_attention_dim, "another base model")


def read_header(path: str | Path) -> dict:
    """The checked header (bounded, shallow, every tensor inside the file): see ``studio.model_files``."""
    try:
        return read_safetensors_header(path, MAX_HEADER_BYTES)
    except ModelFileError as exc:
        raise LoraFileError(exc.key, **exc.values) from None


def inspect_lora(path: str | Path) -> LoraInfo:
    header = read_header(path)
    names = [k for k in header if k != "__metadata__"]
    if not any("lora" in k.lower() for k in names):
        raise LoraFileError("uploads.lora_no_weights")
    cross = None
    for key in names:
        if _CROSS_KEY.search(key):
            shape = header[key].get("shape") or []
            if len(shape) >= 2:
                cross = int(shape[1])
                break
    te2 = any("text_encoder_2" in k or k.startswith("lora_te2_") for k in names)
    return LoraInfo(tensors=len(names), cross_attention_dim=cross, sdxl_text_encoder_2=te2)


def checkpoint_base(path: str | Path) -> str:
    """The base family (sdxl, sd2 or sd15) of a single-file checkpoint, from one read of its header:
    SDXL has a second text encoder (``conditioner.embedders.1``), SD 2.x an OpenCLIP one
    (``cond_stage_model.model.``)."""
    names = list(read_header(path))
    if any(k.startswith("conditioner.embedders.1") for k in names):
        return "sdxl"
    if any(k.startswith("cond_stage_model.model.") for k in names):
        return "sd2"
    return "sd15"


def is_sdxl_checkpoint(path: str | Path) -> bool:
    return checkpoint_base(path) == "sdxl"
