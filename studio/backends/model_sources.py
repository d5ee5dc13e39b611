"""The one model-source check every backend uses (Stable Diffusion, ControlNet, VITS, RVC's
HuBERT/ContentVec, pose, depth), answered without importing torch.

A source is a local folder, a single ``.safetensors`` file, or a hub id (``owner/name``):

* folder / file: it must exist (and a folder must hold the model's config file);
* hub id, already in the local cache: usable, offline too;
* hub id, not cached, ``HF_HUB_OFFLINE=1``: not usable, and we say so;
* hub id, not cached, hub allowed: usable, downloaded on first use (``downloads`` is True so the
  UI can say a download is coming).

Loaders pass ``local_files_only=offline()`` so they do exactly what this check promised.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.backends.base import Availability, missing_packages

# Which file marks a usable model folder / cached repo, per kind of model.
DIFFUSERS_MARKERS = ("model_index.json", "config.json")  # a pipeline, or one component (ControlNet)
TRANSFORMERS_MARKERS = ("config.json",)


def offline() -> bool:
    """``HF_HUB_OFFLINE`` as it is now (huggingface_hub reads it once at import; tests change it)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def cache_dir() -> str | None:
    """The hub cache as the environment says now (None: huggingface_hub's own default)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


def looks_like_path(source: str) -> bool:
    """A local folder/file (absolute, relative or ~), as opposed to a hub id like ``owner/name``."""
    return source.startswith(("/", ".", "~")) or source.endswith((".safetensors", ".ckpt", ".pth", ".bin")) \
        or source.count("/") > 1 or Path(source).expanduser().exists()


def cached_file(repo_id: str, filename: str) -> str | None:
    """The local path of ``filename`` of a hub repo when it is in the cache, else None."""
    if not repo_id or looks_like_path(repo_id):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir())
    except Exception:  # a malformed id is simply "not cached"
        return None
    return found if isinstance(found, str) else None


@dataclass(frozen=True)
class SourceCheck:
    """What a model source is and whether it can be used now; ``key``/``values`` say why."""

    kind: str  # "unset" | "folder" | "file" | "hub"
    usable: bool
    key: str
    values: dict[str, Any] = field(default_factory=dict)
    downloads: bool = False  # a hub id that will be downloaded on first use

    def reason(self, lang: str | None = None) -> str:
        from studio.messages import text

        return text(self.key, lang, **self.values)


def check_source(source: str, setting: str, markers: tuple[str, ...] = DIFFUSERS_MARKERS,
                 single_file: bool = True) -> SourceCheck:
    source = (source or "").strip()
    values = {"source": source, "setting": setting}
    if not source:
        return SourceCheck("unset", False, "models.source_unset", values)
    if looks_like_path(source):
        path = Path(source).expanduser()
        values["path"] = str(path)
        if path.is_file() or (path.suffix and not path.exists()):
            if not path.exists():
                return SourceCheck("file", False, "models.source_file_missing", values)
            if not single_file or path.suffix != ".safetensors":
                return SourceCheck("file", False, "models.source_file_kind", {**values, "suffix": path.suffix})
            return SourceCheck("file", True, "models.source_local", values)
        if not path.is_dir():
            return SourceCheck("folder", False, "models.source_folder_missing", values)
        if not any((path / m).is_file() for m in markers):
            return SourceCheck("folder", False, "models.source_folder_incomplete", {**values, "marker": markers[0]})
        return SourceCheck("folder", True, "models.source_local", values)
    if any(cached_file(source, m) for m in markers):
        return SourceCheck("hub", True, "models.source_cached", values)
    if offline():
        return SourceCheck("hub", False, "models.source_not_cached_offline", values)
    return SourceCheck("hub", True, "models.source_will_download", values, downloads=True)


def source_problem(source: str, setting: str, markers: tuple[str, ...] = DIFFUSERS_MARKERS) -> str | None:
    """Why a model source cannot be loaded right now (English), or None."""
    check = check_source(source, setting, markers)
    return None if check.usable else check.reason()


def model_availability(source: str, setting: str, *packages: str,
                       markers: tuple[str, ...] = DIFFUSERS_MARKERS) -> Availability:
    missing = missing_packages(*packages)
    if missing:
        return Availability.no("avail.needs_packages", packages=", ".join(missing))
    check = check_source(source, setting, markers)
    return Availability.said(check.usable, check.key, **check.values)


def load_kwargs(source: str) -> dict[str, Any]:
    """What ``from_pretrained`` needs to do what ``check_source`` promised (no surprise downloads offline)."""
    path = Path(source).expanduser()
    if path.exists():
        return {"local_files_only": True}
    kwargs: dict[str, Any] = {"local_files_only": offline()}
    if cache_dir():
        kwargs["cache_dir"] = cache_dir()
    return kwargs
