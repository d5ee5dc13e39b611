"""Reading a ``.safetensors`` header without torch: is it a LoRA, and for which base model?

The header is 8 bytes (little-endian length) + JSON naming every tensor with its shape, so we
can tell an SD 1.5 LoRA (cross-attention width 768) from an SDXL one (2048, or a second text
encoder) before anything is loaded, and give a clear message instead of a shape error.
"""
from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from studio.messages import Localized

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

    def mismatch(self, model_cross_dim: int | None) -> str | None:
        """Why this LoRA cannot go on a model with that cross-attention width (None = it can)."""
        if model_cross_dim is None:
            return None
        model_family = family_name(model_cross_dim)
        if self.sdxl_text_encoder_2 and model_cross_dim != 2048:
            return f"This LoRA was made for SDXL, but the loaded model is {model_family}."
        if self.cross_attention_dim is not None and self.cross_attention_dim != model_cross_dim:
            return (f"This LoRA was made for {self.family} (text width {self.cross_attention_dim}), but the "
                    f"model is {model_family} (text width {model_cross_dim}). Choose a LoRA made for this model.")
        return None


def family_name(cross_attention_dim: int | None) -> str:
    if cross_attention_dim is None:
        return "an unknown model"
    return FAMILY_BY_CROSS_DIM.get(cross_attention_dim, "another base model")


def read_header(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                raise LoraFileError("This file is too short to be a .safetensors file.")
            (length,) = struct.unpack("<Q", raw)
            if not 2 <= length <= min(MAX_HEADER_BYTES, path.stat().st_size - 8):
                raise LoraFileError("This is not a valid .safetensors file (bad header length).")
            header = json.loads(fh.read(length).decode("utf-8"))
    except OSError:
        raise LoraFileError("The LoRA file could not be read. Please upload it again.") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise LoraFileError("This is not a valid .safetensors file (unreadable header).") from None
    if not isinstance(header, dict):
        raise LoraFileError("This is not a valid .safetensors file.")
    return header


def inspect_lora(path: str | Path) -> LoraInfo:
    header = read_header(path)
    names = [k for k in header if k != "__metadata__"]
    if not any("lora" in k.lower() for k in names):
        raise LoraFileError("This .safetensors file holds no LoRA weights (is it a full model?).")
    cross = None
    for key in names:
        if _CROSS_KEY.search(key):
            shape = header[key].get("shape") or []
            if len(shape) >= 2:
                cross = int(shape[1])
                break
    te2 = any("text_encoder_2" in k or k.startswith("lora_te2_") for k in names)
    return LoraInfo(tensors=len(names), cross_attention_dim=cross, sdxl_text_encoder_2=te2)


def is_sdxl_checkpoint(path: str | Path) -> bool:
    """A single-file SDXL checkpoint has a second text encoder under ``conditioner.embedders.1``."""
    return any(k.startswith("conditioner.embedders.1") for k in read_header(path))
