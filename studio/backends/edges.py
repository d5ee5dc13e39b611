"""Edge maps for ControlNet canny / lineart, with OpenCV (always installed, no model needed)."""
from __future__ import annotations

from typing import Any

from studio.backends.base import Availability


def canny_map(image, low: int = 100, high: int = 200):
    """White Canny edges on black, the input ControlNet canny was trained on."""
    import cv2
    import numpy as np
    from PIL import Image

    gray = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, int(low), int(high))
    return Image.fromarray(np.stack([edges] * 3, axis=-1), "RGB")


def lineart_map(image, block: int = 9, strength: int = 6):
    """Soft white line drawing on black: adaptive threshold of a lightly blurred photo."""
    import cv2
    import numpy as np
    from PIL import Image

    gray = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    gray = cv2.GaussianBlur(gray, (3, 3), 0)
    lines = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, strength)
    lines = cv2.morphologyEx(lines, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))  # drop speckle
    return Image.fromarray(np.stack([lines] * 3, axis=-1), "RGB")


class CannyEdges:
    name = "canny"
    label = "Canny edges (OpenCV)"

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    def available(self) -> Availability:
        return Availability.yes("avail.built_in_opencv")

    def detect(self, image):
        return canny_map(image)


class LineartEdges(CannyEdges):
    name = "lineart"
    label = "Line art (OpenCV)"

    def detect(self, image):
        return lineart_map(image)


EDGE_DETECTORS = {"canny": CannyEdges, "lineart": LineartEdges}
