"""The one place that decides where models run: device, dtype, memory savers, ZeroGPU.

cuda -> bf16 when supported else fp16; mps -> fp16; cpu -> fp32. On small GPUs the pipeline is
offloaded to the CPU between components; attention slicing and VAE tiling keep big pages in
memory. ``gpu_task`` wraps a function with ``spaces.GPU`` when that package exists (Spaces).
Imports torch lazily: callers are backends that already need it.
"""
from __future__ import annotations

import functools
import gc
from dataclasses import dataclass
from typing import Any, Callable

from studio.backends.base import BackendError, missing_packages

SMALL_GPU_BYTES = 10 * 1024**3  # below this, offload components to the CPU between uses


@dataclass(frozen=True)
class Placement:
    device: str
    dtype: Any  # torch.dtype
    offload: bool = False
    slicing: bool = False


def choose_placement(setting: str = "auto") -> Placement:
    import torch

    setting = (setting or "auto").lower()
    if setting not in ("auto", "cpu", "cuda", "mps"):
        raise BackendError(f"GIEOK_DEVICE must be auto, cpu, cuda or mps (not '{setting}').")
    has_mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if setting == "cuda" and not torch.cuda.is_available():
        raise BackendError("GIEOK_DEVICE=cuda but no CUDA GPU is visible.")
    if setting == "mps" and not has_mps:
        raise BackendError("GIEOK_DEVICE=mps but Apple's Metal backend is not available.")
    if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        total = torch.cuda.get_device_properties(0).total_memory
        return Placement("cuda", dtype, offload=total < SMALL_GPU_BYTES, slicing=total < SMALL_GPU_BYTES)
    if setting == "mps" or (setting == "auto" and has_mps):
        return Placement("mps", torch.float16, slicing=True)
    return Placement("cpu", torch.float32)


def place_pipeline(pipe: Any, placement: Placement) -> Any:
    """Move a freshly loaded pipeline to its device and switch on the memory savers it needs."""
    if placement.offload and not missing_packages("accelerate"):
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(placement.device)
    if placement.slicing and hasattr(pipe, "enable_attention_slicing"):
        pipe.enable_attention_slicing()
    if placement.device != "cpu" and hasattr(getattr(pipe, "vae", None), "enable_tiling"):
        pipe.vae.enable_tiling()  # large pages decode tile by tile instead of running out of memory
    return pipe


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


@functools.cache
def _spaces_gpu() -> Callable | None:
    if missing_packages("spaces"):
        return None
    import spaces  # Hugging Face ZeroGPU: a GPU is attached only while a decorated call runs

    return spaces.GPU


def gpu_task(fn: Callable, duration_s: int = 120) -> Callable:
    """``fn`` wrapped with ``spaces.GPU(duration=...)`` on ZeroGPU Spaces, unchanged elsewhere."""
    decorator = _spaces_gpu()
    return decorator(duration=duration_s)(fn) if decorator else fn
