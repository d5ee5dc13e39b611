"""Where a model comes from (hub id, local folder, single file) and why it cannot be used now,
answered without importing torch (for ``available()`` and the Settings tab)."""
from __future__ import annotations

import os
from pathlib import Path

from studio.backends.base import Availability, missing_packages


def looks_like_path(source: str) -> bool:
    """A local folder/file (absolute, relative or ~), as opposed to a hub id like ``owner/name``."""
    return source.startswith(("/", ".", "~")) or source.endswith((".safetensors", ".ckpt")) \
        or Path(source).expanduser().exists()


def source_problem(source: str, setting: str) -> str | None:
    """Why a model source cannot be loaded right now, naming the setting to change, or None."""
    if not source:
        return f"{setting} is not set"
    if looks_like_path(source):
        path = Path(source).expanduser()
        if not path.exists():
            return f"model {'file' if path.suffix else 'folder'} not found: {path} ({setting})"
        if path.is_file() and path.suffix != ".safetensors":
            return f"only .safetensors single-file models are loaded (not {path.suffix}) ({setting})"
        return None
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(source, "model_index.json") or try_to_load_from_cache(source, "config.json")
        if not isinstance(cached, str):
            return f"{source} is not in the local model cache and HF_HUB_OFFLINE=1 ({setting})"
    return None


def model_availability(source: str, setting: str, *packages: str) -> Availability:
    missing = missing_packages(*packages)
    if missing:
        return Availability.no("needs the packages " + ", ".join(missing))
    problem = source_problem(source, setting)
    return Availability.no(problem) if problem else Availability.yes(f"model: {source}")
