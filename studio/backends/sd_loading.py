"""Loading Stable Diffusion pipelines and ControlNets exactly as the source check promised.

* Folders and hub ids: ``from_pretrained`` with ``local_files_only`` when offline (no surprise
  download), the safety checker never loaded (``safety_checker=None`` when the pipeline has
  one: it would be downloaded and loaded only to be thrown away), and ``variant="fp16"`` only
  when the repo has fp16 files and the weights will run in half precision.
* Single ``.safetensors`` files: converted with a *local* config folder
  (``assets/model_configs/<family>``, or one the caller names) whose CLIP tokenizer files are
  made on this machine (``clip_vocab``), so ``from_single_file`` never fetches a config or a
  vocabulary from the hub behind the family's back.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.backends.model_sources import cached_file, load_kwargs, offline

MODEL_CONFIGS = Path(__file__).resolve().parents[2] / "assets" / "model_configs"
FP16_MARKER = ".fp16."


def single_file_config(family: str, configs: dict[str, str | Path] | None = None) -> Path:
    """The local config folder a single-file checkpoint of that family is converted with: the
    caller's (``configs[family]``) or the shipped one, its CLIP tokenizer files made from the
    packaged BPE data when the folder has none (a completed copy in the studio's cache)."""
    from studio.backends.clip_vocab import complete_config_folder
    from studio.lifecycle import cache_dir

    chosen = Path((configs or {}).get(family) or MODEL_CONFIGS / family).expanduser()
    return complete_config_folder(chosen, family == "sdxl", cache_dir("model_configs"))


def check_config_folder(folder: Path, sdxl: bool) -> None:
    """A single file holds weights only: the tokenizer's vocabulary must be in the config folder.
    ``single_file_config`` adds it when the BPE data is installed; if it still is not there, say
    what is missing instead of letting diffusers fetch it from the hub."""
    from studio.backends.base import BackendError
    from studio.backends.clip_vocab import TOKENIZER_FILES, tokenizer_folders

    missing = [f"{t}/{name}" for t in tokenizer_folders(sdxl) for name in TOKENIZER_FILES
               if not (folder / t / name).is_file() and not (folder / t / "tokenizer.json").is_file()]
    if not (folder / "model_index.json").is_file() or missing:
        raise BackendError("models.single_file_config_incomplete", folder=str(folder),
                           missing=", ".join(missing or ["model_index.json"]))


def model_index(source: str) -> dict | None:
    """model_index.json of a folder or a hub repo (cached, or fetched when downloads are allowed)."""
    path = Path(source).expanduser() / "model_index.json"
    found = str(path) if path.is_file() else cached_file(source, "model_index.json")
    if found is None and not offline() and not path.parent.exists():
        try:
            from huggingface_hub import hf_hub_download

            found = hf_hub_download(source, "model_index.json", **{k: v for k, v in load_kwargs(source).items()
                                                                  if k == "cache_dir"})
        except Exception:  # no network after all: from_pretrained will say so clearly
            return None
    try:
        return json.loads(Path(found).read_text(encoding="utf-8")) if found else None
    except (OSError, ValueError):
        return None


def repo_files(source: str) -> list[str]:
    """File names of a local folder, or of a hub repo (listed online, or what is cached offline)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return [p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()]
    if offline():
        candidate = "unet/diffusion_pytorch_model.fp16.safetensors"
        return [candidate] if cached_file(source, candidate) else []
    try:
        from huggingface_hub import HfApi

        return list(HfApi().list_repo_files(source))
    except Exception:
        return []


def wants_fp16_variant(files: list[str], half_precision: bool) -> bool:
    """Download the fp16 weights (half the bytes) only when they exist and will be used as such."""
    return half_precision and any(FP16_MARKER in name and name.startswith("unet/") for name in files)


def load_pipeline(source: str, dtype: Any, single_file_configs: dict | None = None):
    import torch
    from diffusers import AutoPipelineForText2Image, StableDiffusionPipeline, StableDiffusionXLPipeline

    from studio.backends.lora_files import checkpoint_base

    path = Path(source).expanduser()
    if path.is_file():
        family = checkpoint_base(path)
        sdxl = family == "sdxl"
        if family == "sd2" and not (single_file_configs or {}).get("sd2"):
            # SD 2.x has its own text encoder and sizes: converting it with the SD 1.5 config would
            # fail deep inside diffusers (or draw noise); no SD 2.x config folder is shipped.
            from studio.backends.base import BackendError

            raise BackendError("models.single_file_sd2", name=path.name)
        cls = StableDiffusionXLPipeline if sdxl else StableDiffusionPipeline
        config = single_file_config(family, single_file_configs)
        check_config_folder(config, sdxl)
        extra = {} if sdxl else {"safety_checker": None, "requires_safety_checker": False}
        return cls.from_single_file(str(path), config=str(config), local_files_only=True, dtype=dtype, **extra)
    where = str(path) if path.is_dir() else source
    half = dtype in (torch.float16, torch.bfloat16)
    kwargs = {"dtype": dtype, **load_kwargs(source),
              **pretrained_kwargs(model_index(where) or {}, repo_files(where) if half else [], half)}
    return AutoPipelineForText2Image.from_pretrained(where, **kwargs)


def pretrained_kwargs(index: dict, files: list[str], half_precision: bool) -> dict[str, Any]:
    """What to tell ``from_pretrained`` given the repo's model_index.json and file names."""
    kwargs: dict[str, Any] = {}
    if "safety_checker" in index:  # never download or load it: it would be discarded anyway
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    if wants_fp16_variant(files, half_precision):
        kwargs["variant"] = "fp16"
    return kwargs


def load_controlnet(source: str, dtype: Any):
    from diffusers import ControlNetModel

    path = Path(source).expanduser()
    if path.is_file():
        return ControlNetModel.from_single_file(str(path), dtype=dtype, local_files_only=True)
    return ControlNetModel.from_pretrained(str(path) if path.is_dir() else source, dtype=dtype,
                                           **load_kwargs(source))
