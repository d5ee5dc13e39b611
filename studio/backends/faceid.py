"""Likeness from a reference photo through the face itself: IP-Adapter FaceID (SD 1.5 and SDXL).

FaceID does not look at the photo with CLIP: insightface's recognition model (``buffalo_l``)
turns her face into a 512-number identity embedding, and the adapter's projection (``image_proj``:
two linear layers and a norm, the published ``MLPProjModel`` layout) turns that into the extra
tokens the UNet attends to. It is offered only when insightface imports and its models are on
this machine; **insightface's released models are licensed for non-commercial research use
only**, so the switch shows that licence (``LICENCE_KEY``) next to it, always.

Configured by ``ip_adapter_faceid`` (the adapter's ``.safetensors``: ``image_proj.proj.0/2`` and
``image_proj.norm``, ``ip_adapter.<n>.to_k_ip/to_v_ip``) and ``insightface_root`` (the folder
holding ``models/buffalo_l``; empty: insightface's own ``~/.insightface``). The low-rank layers
that some FaceID files also carry (``*_lora.*``) are not applied: they would stay switched on for
pages without her and fight the page's own LoRAs; the identity comes from the embedding alone,
which keeps "scale 0 is the picture without the adapter" true.

The embedder is a small seam (``embedder_for``): insightface in use, a fake in the tests.
"""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, Protocol

from studio.backends.base import Availability, BackendError, missing_packages

LICENCE_KEY = "likeness.faceid_licence"
EMBEDDING_SIZE = 512  # insightface's ArcFace recognition models
KIND = "faceid"  # marks the UNet carrying this adapter (plain IP-Adapter: "plain")


class FaceEmbedder(Protocol):
    def available(self) -> Availability: ...

    def embed(self, image) -> Any:
        """The main face's identity as a float32 vector of ``EMBEDDING_SIZE``; BackendError
        ``likeness.faceid_no_face`` when there is no face in the photo."""


class InsightFaceEmbedder:
    """insightface's FaceAnalysis (detection + ArcFace recognition) on the biggest face."""

    model_name = "buffalo_l"

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._app = None
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        configured = str(getattr(self.settings, "insightface_root", "") or "")
        return Path(configured).expanduser() if configured else Path.home() / ".insightface"

    def available(self) -> Availability:
        if missing_packages("insightface", "onnxruntime"):
            return Availability.no("likeness.faceid_needs_insightface")
        # insightface downloads missing models on first use; here nothing is downloaded by surprise
        if not any((self.root / "models" / self.model_name).glob("*.onnx")):
            return Availability.no("likeness.faceid_models_missing")
        return Availability.yes()

    def embed(self, image):
        import numpy as np

        with self._lock:
            if self._app is None:
                status = self.available()
                if not status.ok:
                    raise BackendError("likeness.faceid_unavailable", reason=status)
                from insightface.app import FaceAnalysis  # heavy, and only when FaceID is used

                app = FaceAnalysis(name=self.model_name, root=str(self.root),
                                   allowed_modules=["detection", "recognition"], providers=_providers())
                app.prepare(ctx_id=0 if "CUDAExecutionProvider" in _providers() else -1, det_size=(640, 640))
                self._app = app
            bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
            faces = self._app.get(bgr)
        if not faces:
            raise BackendError("likeness.faceid_no_face")
        face = max(faces, key=lambda f: float((f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1])))
        return np.asarray(face.normed_embedding, dtype=np.float32)


def _providers() -> list[str]:
    import onnxruntime

    have = set(onnxruntime.get_available_providers())
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have]


def embedder_for(settings: Any) -> FaceEmbedder:
    return InsightFaceEmbedder(settings)


def faceid_state_dict(path: Path) -> dict[str, dict[str, Any]]:
    """The adapter file as diffusers' ``load_ip_adapter`` takes it, without the ``*_lora.*`` layers
    (see the module's note); a file that is not a FaceID adapter is refused with a message."""
    from safetensors import safe_open

    parts: dict[str, dict[str, Any]] = {"image_proj": {}, "ip_adapter": {}}
    with safe_open(str(path), framework="pt", device="cpu") as f:
        for key in f.keys():
            group, _, name = key.partition(".")
            if group in parts and "_lora." not in name:
                parts[group][name] = f.get_tensor(key)
    proj = parts["image_proj"]
    if not ({"proj.0.weight", "proj.2.weight", "norm.weight"} <= set(proj) and parts["ip_adapter"]):
        raise BackendError("likeness.faceid_not_faceid", name=path.name)
    if proj["proj.0.weight"].shape[1] != EMBEDDING_SIZE:
        raise BackendError("likeness.faceid_not_faceid", name=path.name)
    return parts


class FaceIdLikeness:
    """Puts the FaceID adapter on a pipeline once and gives each page her identity at her scale."""

    def __init__(self, settings: Any, embedder: FaceEmbedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or embedder_for(settings)
        self._lock = threading.Lock()
        self._embeddings: dict[str, Any] = {}  # photo digest -> embedding (a page asks often)

    @property
    def adapter_path(self) -> Path:
        return Path(getattr(self.settings, "ip_adapter_faceid", "") or "").expanduser()

    def available(self) -> Availability:
        if not getattr(self.settings, "ip_adapter_faceid", ""):
            return Availability.no("likeness.faceid_not_set")
        if not (self.adapter_path.is_file() and self.adapter_path.name.endswith(".safetensors")):
            return Availability.no("likeness.faceid_file_missing")
        status = self.embedder.available()
        if not status.ok:
            return status
        missing = missing_packages("torch", "diffusers")
        return Availability.no("avail.needs_packages", packages=", ".join(missing)) if missing else Availability.yes()

    @staticmethod
    def is_on(pipe) -> bool:
        return getattr(pipe.unet, "encoder_hid_proj", None) is not None and \
            getattr(pipe.unet, "_gieok_ip_kind", "") == KIND

    def _ensure_on(self, pipe) -> None:
        if self.is_on(pipe):
            return
        status = self.available()
        if not status.ok:
            raise BackendError("likeness.faceid_unavailable", reason=status)
        try:
            if getattr(pipe.unet, "encoder_hid_proj", None) is not None:
                pipe.unload_ip_adapter()  # the plain adapter was on: one adapter at a time
            pipe.load_ip_adapter(faceid_state_dict(self.adapter_path), subfolder="", weight_name="",
                                 image_encoder_folder=None)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise BackendError("likeness.faceid_unreadable", detail=str(exc)[:300]) from exc
        pipe.unet._gieok_ip_kind = KIND

    def embedding(self, reference):
        """Her identity from the photo (computed once per photo)."""
        digest = hashlib.sha256(reference.convert("RGB").tobytes()).hexdigest()
        if digest not in self._embeddings:
            self._embeddings = {digest: self.embedder.embed(reference)}  # one character's photo at a time
        return self._embeddings[digest]

    def pipeline_kwargs(self, pipe, reference, scale: float, guidance: float) -> dict[str, Any]:
        """``ip_adapter_image_embeds`` for the call: her identity at ``scale``, or zeros at scale 0
        (a page without her while the adapter stays on)."""
        import torch

        with self._lock:
            self._ensure_on(pipe)
            if reference is None:
                scale, identity = 0.0, torch.zeros(EMBEDDING_SIZE)
            else:
                identity = torch.as_tensor(self.embedding(reference), dtype=torch.float32).reshape(EMBEDDING_SIZE)
            pipe.set_ip_adapter_scale(float(scale))
        embeds = identity.reshape(1, 1, EMBEDDING_SIZE)
        if guidance > 1.0:  # classifier-free guidance: the unconditional half sees no face
            embeds = torch.cat([torch.zeros_like(embeds), embeds])
        return {"ip_adapter_image_embeds": [embeds.to(pipe.unet.device, pipe.unet.dtype)]}


def faceid_switch(settings: Any, lang: str | None = None) -> tuple[bool, str]:
    """(can the FaceID switch be turned on, what to show next to it): always the licence, and the
    reason in the visitor's language when it cannot be used."""
    from studio.messages import text

    status = FaceIdLikeness(settings).available()
    licence = text(LICENCE_KEY, lang)
    if status.ok:
        return True, licence
    return False, text("likeness.faceid_off", lang, reason=status.said_in(lang)) + "\n\n" + licence
