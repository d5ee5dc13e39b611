"""Pose and depth maps through controlnet-aux, when it is installed (it needs torchvision/timm).

Detected with ``missing_packages`` and imported only when used, so a machine without it starts
normally and the Settings tab says what is missing.
"""
from __future__ import annotations

import threading
from typing import Any

from studio.backends.base import Availability, BackendError, missing_packages

ANNOTATORS = "lllyasviel/Annotators"


class _AuxBase:
    packages: tuple[str, ...] = ("controlnet_aux", "torch", "torchvision", "timm")

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._detector = None
        self._lock = threading.Lock()

    def available(self) -> Availability:
        missing = missing_packages(*self.packages)
        if missing:
            return Availability.no("avail.needs_packages", packages=", ".join(missing))
        return Availability.yes("avail.annotators", source=ANNOTATORS)

    def _get(self, factory):
        if self._detector is None:
            status = self.available()
            if not status.ok:
                raise BackendError("error.finder_unavailable", detail=status)
            try:
                self._detector = factory()
            except (OSError, ValueError) as exc:
                raise BackendError("error.finder_load", detail=str(exc)) from exc
        return self._detector


class OpenposeAuxDetector(_AuxBase):
    name = "controlnet_aux"
    label = "OpenPose (controlnet-aux)"

    def detect(self, image) -> dict[str, Any]:
        import numpy as np

        from studio.poses import validate

        def make():
            from controlnet_aux import OpenposeDetector

            return OpenposeDetector.from_pretrained(ANNOTATORS)

        with self._lock:
            detector = self._get(make)
            results = detector.detect_poses(np.asarray(image.convert("RGB")))
        people = []
        for result in results:
            person = []
            for kp in result.body.keypoints:  # already fractions of the image, OpenPose-18 order
                person.append([0.0, 0.0, 0.0] if kp is None else [kp.x, kp.y, float(kp.score or 1.0)])
            people.append(person)
        if not people:
            raise BackendError("error.pose_nobody")
        return validate({"people": people[:6]})


class DepthAuxEstimator(_AuxBase):
    name = "controlnet_aux"
    label = "MiDaS depth (controlnet-aux)"

    def detect(self, image):
        def make():
            from controlnet_aux import MidasDetector

            return MidasDetector.from_pretrained(ANNOTATORS)

        with self._lock:
            detector = self._get(make)
            return detector(image.convert("RGB")).convert("RGB").resize(image.size)
