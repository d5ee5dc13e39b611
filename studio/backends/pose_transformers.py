"""Pose keypoints from a photo with VitPose (transformers), when ``GIEOK_POSE_MODEL`` is set.

VitPose is top-down: it needs a box per person. MediaPipe's bundled pose model gives the box
around the person when it is installed; otherwise the whole photo is the box, which suits the
usual family photo of one or two people framed together. The keypoints land in the pose editor,
where the family can fix what the detector got wrong.
"""
from __future__ import annotations

import threading
from typing import Any

from studio.backends.base import Availability, BackendError
from studio.backends.model_sources import model_availability


class VitPoseDetector:
    name = "vitpose"
    label = "VitPose (transformers)"

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._model = None
        self._processor = None
        self._lock = threading.Lock()

    def available(self) -> Availability:
        return model_availability(self.settings.pose_model, "GIEOK_POSE_MODEL", "torch", "transformers")

    def _load(self):
        if self._model is None:
            status = self.available()
            if not status.ok:
                raise BackendError("error.finder_unavailable", detail=status)
            from transformers import AutoProcessor, VitPoseForPoseEstimation

            try:
                from studio.backends.model_sources import load_kwargs

                src = self.settings.pose_model
                self._processor = AutoProcessor.from_pretrained(src, **load_kwargs(src))
                self._model = VitPoseForPoseEstimation.from_pretrained(src, **load_kwargs(src)).eval()
            except (OSError, ValueError) as exc:
                raise BackendError("error.finder_load", detail=str(exc)) from exc
        return self._processor, self._model

    def detect(self, image) -> dict[str, Any]:
        """An OpenPose-18 pose (fractions of the photo) for the person in the photo."""
        import torch

        from studio.poses import from_coco17

        with self._lock:
            processor, model = self._load()
            width, height = image.size
            boxes = [[person_box(image, self.settings)]]  # COCO format x, y, w, h
            inputs = processor(image.convert("RGB"), boxes=boxes, return_tensors="pt")
            with torch.inference_mode():
                outputs = model(**inputs)
            results = processor.post_process_pose_estimation(outputs, boxes=boxes)[0]
        people = []
        for person in results:
            kps, scores = person["keypoints"].tolist(), person["scores"].tolist()
            people.append([(x, y, s) for (x, y), s in zip(kps, scores)])
        return from_coco17(people, width, height)


def person_box(image, settings: Any) -> list[float]:
    """[x, y, w, h] around the person the configured person detector (``photo_models``) or
    MediaPipe finds, else the whole photo."""
    from studio import photo_models
    from studio.backends.pose_mediapipe import MediaPipePoseDetector

    width, height = image.size
    detector = photo_models.shared(photo_models.PersonDetector, settings)
    people = detector.people(image) if detector is not None else []
    box = people[0][0] if people else MediaPipePoseDetector(settings).person_box(image)
    if box is None or box[2] - box[0] < 8 or box[3] - box[1] < 8:
        return [0.0, 0.0, float(width), float(height)]
    return [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]
