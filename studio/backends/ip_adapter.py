"""Likeness from one reference photo without training: IP-Adapter on the diffusers illustrator.

Configured by two Settings paths: ``ip_adapter`` (the adapter's ``.safetensors`` file, e.g.
ip-adapter_sd15 or ip-adapter-plus-face_sd15 — its ``image_proj.*`` and ``ip_adapter.*`` keys
in the published layout) and ``ip_adapter_image_encoder`` (the CLIP vision encoder folder it was
trained with). diffusers' ``load_ip_adapter`` puts it on the pipeline once; each page then passes
the character's reference photo and her scale. A page without a reference runs at scale 0 with a
blank image, which is exactly the picture without the adapter (checked in the tests), so the
adapter never has to be unloaded between pages.

The FaceID variant (``studio.backends.faceid``) needs insightface, whose models are licensed for
non-commercial use only; one adapter is on a pipeline at a time (``unet._gieok_ip_kind``).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from studio.backends.base import Availability, BackendError, missing_packages


class IpAdapterLikeness:
    name = "ip_adapter"
    label = "IP-Adapter (reference photo)"

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._encoder = None

    @property
    def adapter_path(self) -> Path:
        return Path(getattr(self.settings, "ip_adapter", "") or "").expanduser()

    @property
    def encoder_path(self) -> Path:
        return Path(getattr(self.settings, "ip_adapter_image_encoder", "") or "").expanduser()

    def available(self) -> Availability:
        if not getattr(self.settings, "ip_adapter", ""):
            return Availability.no("likeness.ip_adapter_not_set")
        if not (self.adapter_path.is_file() and self.adapter_path.name.endswith(".safetensors")):
            return Availability.no("likeness.ip_adapter_missing")
        if not (getattr(self.settings, "ip_adapter_image_encoder", "") and (self.encoder_path / "config.json").is_file()):
            return Availability.no("likeness.ip_adapter_encoder_missing")
        missing = missing_packages("torch", "diffusers", "transformers")
        if missing:
            return Availability.no("avail.needs_packages", packages=", ".join(missing))
        return Availability.yes()

    @staticmethod
    def is_on(pipe) -> bool:
        """The adapter is on this pipeline's UNet (pipelines made with ``from_pipe`` share it)."""
        return getattr(pipe.unet, "encoder_hid_proj", None) is not None and \
            getattr(pipe.unet, "_gieok_ip_kind", "plain") == "plain" and \
            getattr(pipe, "image_encoder", None) is not None and getattr(pipe, "feature_extractor", None) is not None

    def _ensure_on(self, pipe) -> None:
        if self.is_on(pipe):
            return
        status = self.available()
        if not status.ok:
            raise BackendError("likeness.ip_adapter_unavailable", reason=status)
        from transformers import CLIPVisionModelWithProjection

        try:
            if self._encoder is None:
                self._encoder = CLIPVisionModelWithProjection.from_pretrained(
                    str(self.encoder_path), local_files_only=True, dtype=pipe.unet.dtype).to(pipe.device)
            if getattr(pipe.unet, "encoder_hid_proj", None) is not None:
                pipe.unload_ip_adapter()  # the FaceID adapter was on: one adapter at a time
            if getattr(pipe, "image_encoder", None) is None:
                pipe.register_modules(image_encoder=self._encoder)
            pipe.load_ip_adapter(str(self.adapter_path.parent), subfolder="", weight_name=self.adapter_path.name,
                                 image_encoder_folder=None, local_files_only=True)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise BackendError("likeness.ip_adapter_unreadable", detail=str(exc)[:300]) from exc
        pipe.unet._gieok_ip_kind = "plain"

    def pipeline_kwargs(self, pipe, reference, scale: float) -> dict[str, Any]:
        """What to pass to the pipeline call: the reference at its scale, or a blank at scale 0."""
        from PIL import Image

        with self._lock:
            self._ensure_on(pipe)
            if reference is None:
                scale, reference = 0.0, Image.new("RGB", (224, 224), (127, 127, 127))
            pipe.set_ip_adapter_scale(float(scale))
        return {"ip_adapter_image": reference.convert("RGB")}

    def forget(self) -> None:
        """The base model was switched: the encoder is loaded again for the new one's dtype/device."""
        with self._lock:
            self._encoder = None
