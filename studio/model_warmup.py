"""Models downloaded when the studio starts, before anyone asks for a page.

On a ZeroGPU Space a GPU is lent for one short turn; a first page that has to download a
multi-GB model spends that turn downloading (or runs out of it). So at start, when the hub can
be reached, every configured model that is a hub id not in the local cache yet is downloaded in
one background thread, one after another. What counts as "a hub id not cached, downloads allowed"
is the studio's one source check (``model_sources.check_source``): offline
(``HF_HUB_OFFLINE=1``) it says no, and nothing is attempted; local folders and files are never
touched. Only the files the loaders will read are fetched (``download_source``).

The Settings tab shows each download's state in the visitor's language
(``models.warmup_<state>``). A failed download is only reported: the model is tried again, with
its own message, when a page first needs it.

    warmup = ModelWarmup(settings).start()   # app.main does this
    warmup.messages("ko")                    # ["모델 … 내려받는 중이에요", ...]
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import Any, Callable

log = logging.getLogger(__name__)

# (Settings field, what reads it): "pipeline" = a diffusers pipeline, "diffusers" = one diffusers
# model (ControlNet), "transformers" = a transformers model (VITS, HuBERT/ContentVec, pose, depth)
SOURCES = (("sd_model", "pipeline"), ("controlnet_openpose", "diffusers"), ("controlnet_depth", "diffusers"),
           ("controlnet_canny", "diffusers"), ("controlnet_lineart", "diffusers"),
           ("vits_model_ko", "transformers"), ("vits_model_en", "transformers"),
           ("hubert_model", "transformers"), ("pose_model", "transformers"), ("depth_model", "transformers"))
TRANSFORMERS_FILES = ["*.json", "*.txt", "*.model"]  # configs, vocabularies, sentencepiece models
MAX_DETAIL_CHARS = 300


@dataclass(frozen=True)
class HubModel:
    setting: str  # the Settings field that names it
    source: str  # the hub id
    kind: str  # "pipeline" | "diffusers" | "transformers"


@dataclass(frozen=True)
class Download:
    model: HubModel
    state: str = "waiting"  # waiting | downloading | done | failed
    detail: str = ""  # why it failed

    def message(self, lang: str | None = None) -> str:
        from studio.messages import text

        return text(f"models.warmup_{self.state}", lang, source=self.model.source, detail=self.detail)


def models_to_download(settings: Any) -> list[HubModel]:
    """Configured hub ids that the source check says will be downloaded on first use."""
    from studio.backends.model_sources import DIFFUSERS_MARKERS, TRANSFORMERS_MARKERS, check_source, offline

    if offline():
        return []
    found: dict[str, HubModel] = {}
    for field_name, kind in SOURCES:
        source = str(getattr(settings, field_name, "") or "").strip()
        if not source or source in found:
            continue
        transformers = kind == "transformers"
        check = check_source(source, "GIEOK_" + field_name.upper(),
                             TRANSFORMERS_MARKERS if transformers else DIFFUSERS_MARKERS, single_file=not transformers)
        if check.kind == "hub" and check.usable and check.downloads:
            found[source] = HubModel(field_name, source, kind)
    return list(found.values())


class ModelWarmup:
    """Downloads ``models_to_download(settings)`` in one background thread; ``downloads()`` says
    where each one is. ``download(model, settings)`` is the fetcher (tests pass a fake)."""

    def __init__(self, settings: Any, download: Callable[[HubModel, Any], None] | None = None) -> None:
        self.settings = settings
        self._download = download or download_source
        self._lock = threading.Lock()
        self._downloads = [Download(model) for model in models_to_download(settings)]
        self._thread: threading.Thread | None = None

    def start(self) -> "ModelWarmup":
        if self._downloads and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gieok-model-warmup", daemon=True)
            self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """True when every download has ended (done or failed)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return all(d.state in ("done", "failed") for d in self.downloads())

    def downloads(self) -> list[Download]:
        with self._lock:
            return list(self._downloads)

    def messages(self, lang: str | None = None) -> list[str]:
        return [d.message(lang) for d in self.downloads()]

    def _set(self, index: int, state: str, detail: str = "") -> None:
        with self._lock:
            self._downloads[index] = replace(self._downloads[index], state=state, detail=detail)

    def _run(self) -> None:
        for index, item in enumerate(self.downloads()):
            self._set(index, "downloading")
            log.info("Downloading %s (%s) before the first page needs it", item.model.source, item.model.setting)
            try:
                self._download(item.model, self.settings)
            except Exception as exc:  # reported in Settings; the loader tries again on first use
                log.warning("Could not download %s at start: %s", item.model.source, exc)
                detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:MAX_DETAIL_CHARS]
                self._set(index, "failed", detail)
            else:
                self._set(index, "done")


def download_source(model: HubModel, settings: Any) -> None:
    """Fetch what the studio's loader for ``model`` will read, into the cache it reads from."""
    from studio.backends.model_sources import cache_dir

    if model.kind == "pipeline":
        from diffusers import DiffusionPipeline

        from studio.backends.sd_loading import model_index, pretrained_kwargs, repo_files

        half = _runs_in_half_precision(settings)
        wanted = pretrained_kwargs(model_index(model.source) or {}, repo_files(model.source) if half else [], half)
        wanted.pop("requires_safety_checker", None)  # safety_checker=None alone skips its folder
        DiffusionPipeline.download(model.source, cache_dir=cache_dir(), **wanted)
        return
    from huggingface_hub import snapshot_download

    from studio.backends.sd_loading import repo_files

    files = repo_files(model.source)
    safetensors = any(name.endswith(".safetensors") for name in files)
    if model.kind == "diffusers":  # ControlNetModel.from_pretrained reads these two (no variant)
        patterns = ["config.json", "diffusion_pytorch_model.safetensors" if safetensors else "diffusion_pytorch_model.bin"]
    else:
        patterns = TRANSFORMERS_FILES + (["*.safetensors"] if safetensors else ["*.bin"])
    snapshot_download(model.source, allow_patterns=patterns, cache_dir=cache_dir())


def _runs_in_half_precision(settings: Any) -> bool:
    """Whether the illustrator will run in half precision (then the fp16 weights are fetched)."""
    import torch

    device = str(getattr(settings, "device", "auto") or "auto").lower()
    if device == "cpu":
        return False
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return torch.cuda.is_available() or (device in ("auto", "mps") and mps)
