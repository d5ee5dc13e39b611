"""Depth maps from a photo with a transformers depth-estimation model (e.g. Depth Anything),
when ``GIEOK_DEPTH_MODEL`` is set. Near is bright, far is dark: what ControlNet depth expects."""
from __future__ import annotations

import threading
from typing import Any

from studio.backends.base import Availability, BackendError
from studio.backends.model_sources import model_availability


class TransformersDepth:
    name = "transformers_depth"
    label = "Depth estimation (transformers)"

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._pipe = None
        self._lock = threading.Lock()

    def available(self) -> Availability:
        return model_availability(self.settings.depth_model, "GIEOK_DEPTH_MODEL", "torch", "transformers")

    def detect(self, image):
        from PIL import Image, ImageOps

        with self._lock:
            if self._pipe is None:
                status = self.available()
                if not status.ok:
                    raise BackendError("error.finder_unavailable", detail=status)
                from transformers import pipeline

                try:
                    self._pipe = pipeline("depth-estimation", model=self.settings.depth_model)
                except (OSError, ValueError) as exc:
                    raise BackendError("error.finder_load", detail=str(exc)) from exc
            depth = self._pipe(image.convert("RGB"))["depth"]
        depth = ImageOps.autocontrast(depth.convert("L"))
        return Image.merge("RGB", [depth] * 3).resize(image.size)
