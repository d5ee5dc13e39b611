"""The one place that decides where models run: device, dtype, memory savers.

cuda -> bf16 when supported else fp16; mps -> fp16; cpu -> fp32. Memory savers are pure
decisions of (device, memory, picture size): offload on GPUs under 10 GB, attention slicing only
under 6 GB (PyTorch's fused attention already saves that memory), VAE tiling only when the
pictures of one call would not fit. Voice models follow the same ``GIEOK_DEVICE`` (``voice_placement``).
Imports torch lazily: callers are backends that already need it.
"""
from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

from studio.backends.base import BackendError, missing_packages

GIB = 1024**3
SMALL_GPU_BYTES = 10 * GIB  # below this, offload components to the CPU between uses
SLICING_BELOW_BYTES = 6 * GIB  # PyTorch's fused attention (SDPA) already saves what slicing would,
# and slicing costs ~10-20 % speed: only the smallest GPUs need it
MPS_SLICING_BELOW_BYTES = 64 * GIB  # Apple's unified memory is shared with the system
VAE_PIXELS_PER_GIB = 256 * 1024  # decoding ~0.25 megapixel per GiB of GPU memory fits comfortably
MODEL_RESERVE_BYTES = 8 * GIB  # weights and working memory of the largest family (SDXL in half precision)
BATCH_PIXELS_PER_GIB = 128 * 1024  # denoising 1024² in a batch takes ~8 GiB more (SDXL, fused attention)
MAX_PAGES_PER_CALL = 8


@dataclass(frozen=True)
class Placement:
    device: str
    dtype: Any  # torch.dtype
    offload: bool = False
    slicing: bool = False
    total_memory: int = 0  # bytes on the device (0 = the CPU: no limit we manage)


@dataclass(frozen=True)
class MemoryPlan:
    offload: bool
    slicing: bool


def memory_plan(device: str, total_bytes: int) -> MemoryPlan:
    """Memory savers for a device with that much memory (a pure decision, unit-tested)."""
    if device == "cuda":
        return MemoryPlan(offload=total_bytes < SMALL_GPU_BYTES, slicing=total_bytes < SLICING_BELOW_BYTES)
    if device == "mps":
        return MemoryPlan(offload=False, slicing=total_bytes < MPS_SLICING_BELOW_BYTES)
    return MemoryPlan(offload=False, slicing=False)


def needs_vae_tiling(device: str, total_bytes: int, width: int, height: int, batch: int = 1) -> bool:
    """Decode tile by tile only when these pictures would not fit at once (never on the CPU)."""
    if device == "cpu" or total_bytes <= 0:
        return False
    return width * height * max(1, batch) > VAE_PIXELS_PER_GIB * total_bytes / GIB


def pages_per_call(device: str, total_bytes: int, width: int, height: int) -> int:
    """How many pages of that size one call denoises together, unless ``GIEOK_PAGE_BATCH`` says.
    On a GPU: what its memory holds beside the model, at most ``MAX_PAGES_PER_CALL``. On the CPU:
    1. A real model's page there is minutes of compute, which a batch does not shorten (it saves
    the per-call overhead that dominates on the tiny bench model: 0.45-0.71x there, 1.23x on a
    busy machine), while it holds back every page's save until the whole call ends."""
    if device == "cpu" or total_bytes <= 0:
        return 1
    spare_gib = max(0, total_bytes - MODEL_RESERVE_BYTES) / GIB
    fits = int(spare_gib * BATCH_PIXELS_PER_GIB // max(1, width * height))
    return max(1, min(MAX_PAGES_PER_CALL, fits))


def resolve_device(setting: str, cuda: bool, mps: bool) -> str:
    """The device name (cuda, mps or cpu) for the ``GIEOK_DEVICE`` setting on a machine with (or
    without) CUDA and MPS: "auto" takes the fastest there is, a named device that is missing is an error."""
    setting = (setting or "auto").lower()
    if setting not in ("auto", "cpu", "cuda", "mps"):
        raise BackendError("models.device_unknown", setting=setting)
    if setting == "cuda" and not cuda:
        raise BackendError("models.device_no_cuda")
    if setting == "mps" and not mps:
        raise BackendError("models.device_no_mps")
    if setting == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    return setting


def choose_placement(setting: str = "auto") -> Placement:
    import torch

    has_mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    device = resolve_device(setting, torch.cuda.is_available(), has_mps)
    if device == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        total = torch.cuda.get_device_properties(0).total_memory
        plan = memory_plan("cuda", total)
        return Placement("cuda", dtype, offload=plan.offload, slicing=plan.slicing, total_memory=total)
    if device == "mps":
        total = int(getattr(torch.mps, "recommended_max_memory", lambda: 16 * GIB)())
        return Placement("mps", torch.float16, slicing=memory_plan("mps", total).slicing, total_memory=total)
    return Placement("cpu", torch.float32)


def place_pipeline(pipe: Any, placement: Placement) -> Any:
    """Move a freshly loaded pipeline to its device and switch on the memory savers it needs.
    VAE tiling is decided per picture (``set_vae_tiling``): a 512² page never needs it."""
    if placement.offload and not missing_packages("accelerate"):
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(placement.device)
    if placement.slicing and hasattr(pipe, "enable_attention_slicing"):
        pipe.enable_attention_slicing()
    return pipe


def set_vae_tiling(pipe: Any, placement: Placement, width: int, height: int, batch: int = 1) -> bool:
    vae = getattr(pipe, "vae", None)
    if vae is None or not hasattr(vae, "enable_tiling"):
        return False
    tiled = needs_vae_tiling(placement.device, placement.total_memory, width, height, batch)
    vae.enable_tiling() if tiled else vae.disable_tiling()
    return tiled


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        torch.mps.empty_cache()


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


# -- voice models -------------------------------------------------------------------------------
# Half precision where the published implementations run it on GPUs (RVC WebUI's is_half: HuBERT and
# the synthesizer); pitch trackers and VITS stay in float32 (small models, pitch needs the precision).
VOICE_HALF_OK = {"hubert": True, "rvc": True, "rmvpe": False, "crepe": False, "vits": False, "xtts": False}


def voice_placement(setting: str, model: str, cuda: bool, mps: bool) -> tuple[str, str]:
    """(device, dtype name) for a voice model, from the same ``GIEOK_DEVICE`` as the illustrator."""
    device = resolve_device(setting, cuda, mps)
    half = device == "cuda" and VOICE_HALF_OK.get(model, False)
    return device, "float16" if half else "float32"


def choose_voice_placement(setting: str, model: str) -> tuple[Any, Any]:
    """(torch.device, torch.dtype) for a voice model on this machine."""
    import torch

    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    device, dtype = voice_placement(setting, model, torch.cuda.is_available(), mps)
    return torch.device(device), getattr(torch, dtype)
