"""Poses for ControlNet openpose: the OpenPose-18 keypoint layout, bundled poses, edits, renderer.

A pose is a plain dict ``{"people": [[[x, y, c], ...18 keypoints], ...]}`` with x/y as fractions
of the image width/height (so a pose fits any page size) and c the confidence (0 = missing). It is
stored as-is in ``ControlSpec.pose``. Every edit returns a new dict; the input is never mutated.
"""
from __future__ import annotations

import copy
import functools
import json
import math
from pathlib import Path
from typing import Any

from studio.messages import Localized

POSES_DIR = Path(__file__).resolve().parents[1] / "assets" / "poses"

KEYPOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)
# The 17 limbs ControlNet's openpose annotator draws, as keypoint index pairs, in its order.
LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
    (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
# The standard OpenPose colours (RGB): limb i and keypoint i use COLORS[i].
COLORS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)
# Left/right partner of each keypoint (for mirroring).
MIRROR = (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)
# COCO-17 (VitPose, most detectors) -> OpenPose-18 index; the neck is the shoulders' midpoint.
COCO_TO_OPENPOSE = {0: 0, 1: 15, 2: 14, 3: 17, 4: 16, 5: 5, 6: 2, 7: 6, 8: 3, 9: 7, 10: 4, 11: 11,
                    12: 8, 13: 12, 14: 9, 15: 13, 16: 10}
MAX_PEOPLE = 6


class PoseError(Localized, ValueError):
    pass


@functools.cache
def _bundled() -> dict[str, dict[str, Any]]:
    poses = {}
    for path in sorted(POSES_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        data["people"] = validate({"people": data["people"]})["people"]
        poses[data["name"]] = data
    return dict(sorted(poses.items(), key=lambda kv: kv[1].get("order", 99)))


def bundled_names() -> list[str]:
    return list(_bundled())


def bundled_choices(language: str = "en") -> list[tuple[str, str]]:
    """(label, name) pairs for a dropdown, labelled in the book's language."""
    key = "name_ko" if language == "ko" else "name"
    return [(f"{p.get(key) or name} · {len(p['people'])}", name) for name, p in _bundled().items()]


def bundled(name: str) -> dict[str, Any]:
    """A fresh copy of a bundled pose (safe to edit)."""
    try:
        return {"people": copy.deepcopy(_bundled()[name]["people"])}
    except KeyError:
        raise PoseError("error.no_pose", name=name) from None


def validate(pose: Any) -> dict[str, Any]:
    """A clean copy of a pose, or ``PoseError`` saying what is wrong with it."""
    if not isinstance(pose, dict) or not isinstance(pose.get("people"), list):
        raise PoseError("error.pose_people")
    people = pose["people"]
    if not 1 <= len(people) <= MAX_PEOPLE:
        raise PoseError("error.pose_count", most=MAX_PEOPLE)
    clean = []
    for person in people:
        if not isinstance(person, list) or len(person) != len(KEYPOINTS):
            raise PoseError("error.pose_points", count=len(KEYPOINTS))
        points = []
        for point in person:
            try:
                x, y, c = (float(v) for v in point)
            except (TypeError, ValueError):
                raise PoseError("error.pose_point") from None
            if not all(math.isfinite(v) for v in (x, y, c)):
                raise PoseError("error.pose_number")
            points.append([min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0), min(max(c, 0.0), 1.0)])
        clean.append(points)
    return {"people": clean}


def _visible(person: list[list[float]]) -> list[list[float]]:
    return [p for p in person if p[2] > 0]


def person_center(pose: dict[str, Any], index: int) -> tuple[float, float]:
    pts = _visible(_person(pose, index))
    if not pts:
        return 0.5, 0.5
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2


def transform_person(pose: dict[str, Any], index: int, dx: float = 0.0, dy: float = 0.0,
                     scale: float = 1.0, mirror: bool = False) -> dict[str, Any]:
    """Move (fractions of the image), scale about the person's centre, and/or mirror one person.

    The move is limited so the whole person stays inside the picture."""
    if not 0.2 <= scale <= 5.0:
        raise PoseError("error.pose_scale")
    out = validate(pose)
    person = _person(out, index)
    cx, cy = person_center(out, index)
    if mirror:  # flip around the centre and swap left/right labels so limbs keep their colours' meaning
        person = [[2 * cx - person[MIRROR[i]][0], person[MIRROR[i]][1], person[MIRROR[i]][2]] for i in range(len(person))]
    vis = _visible(person) or person
    span = max(max(p[0] for p in vis) - min(p[0] for p in vis), max(p[1] for p in vis) - min(p[1] for p in vis))
    scale = min(scale, 1.0 / span) if span > 0 else scale  # never larger than the picture: no squashed limbs
    person = [[cx + (x - cx) * scale, cy + (y - cy) * scale, c] for x, y, c in person]
    vis = _visible(person) or person
    xs, ys = [p[0] for p in vis], [p[1] for p in vis]
    dx = min(max(dx, -min(xs)), 1.0 - max(xs))
    dy = min(max(dy, -min(ys)), 1.0 - max(ys))
    out["people"][index] = validate({"people": [[[x + dx, y + dy, c] for x, y, c in person]]})["people"][0]
    return out


def move_joint(pose: dict[str, Any], index: int, joint: int, x: float, y: float) -> dict[str, Any]:
    """Place one keypoint at (x, y) (fractions of the image); a missing keypoint becomes visible."""
    out = validate(pose)
    person = _person(out, index)
    if not 0 <= joint < len(KEYPOINTS):
        raise PoseError("error.pose_joint", joint=joint)
    person[joint] = [min(max(float(x), 0.0), 1.0), min(max(float(y), 0.0), 1.0), 1.0]
    return out


def nearest_joint(pose: dict[str, Any], x: float, y: float, aspect: float = 1.0,
                  max_distance: float = 0.08) -> tuple[int, int] | None:
    """(person, joint) closest to a click at (x, y), within ``max_distance`` of the image height."""
    best, best_d = None, max_distance
    for pi, person in enumerate(validate(pose)["people"]):
        for ji, (px, py, c) in enumerate(person):
            if c <= 0:
                continue
            d = math.hypot((px - x) * aspect, py - y)
            if d <= best_d:
                best, best_d = (pi, ji), d
    return best


def from_coco17(people: list[list[tuple[float, float, float]]], width: int, height: int) -> dict[str, Any]:
    """Detector output (COCO-17 keypoints in pixels with scores) -> an OpenPose-18 pose."""
    out = []
    for kps in people:
        person = [[0.0, 0.0, 0.0] for _ in KEYPOINTS]
        for coco, op in COCO_TO_OPENPOSE.items():
            x, y, s = kps[coco]
            person[op] = [x / width, y / height, float(s)]
        rs, ls = person[2], person[5]
        if rs[2] > 0 and ls[2] > 0:
            person[1] = [(rs[0] + ls[0]) / 2, (rs[1] + ls[1]) / 2, min(rs[2], ls[2])]
        out.append(person)
    if not out:
        raise PoseError("error.pose_nobody")
    return validate({"people": out[:MAX_PEOPLE]})


def render(pose: dict[str, Any], width: int, height: int, min_confidence: float = 0.3,
           highlight: tuple[int, int] | None = None):
    """The ControlNet openpose map: coloured limbs (60 % ellipses) and joints on black."""
    import cv2
    import numpy as np
    from PIL import Image

    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    stick = max(2, round(min(width, height) / 128))
    people = validate(pose)["people"]
    for person in people:
        for i, (a, b) in enumerate(LIMBS):
            pa, pb = person[a], person[b]
            if pa[2] < min_confidence or pb[2] < min_confidence:
                continue
            x0, y0, x1, y1 = pa[0] * width, pa[1] * height, pb[0] * width, pb[1] * height
            length = math.hypot(x1 - x0, y1 - y0)
            angle = math.degrees(math.atan2(y1 - y0, x1 - x0))
            poly = cv2.ellipse2Poly((int((x0 + x1) / 2), int((y0 + y1) / 2)), (int(length / 2), stick),
                                    int(angle), 0, 360, 1)
            layer = canvas.copy()
            cv2.fillConvexPoly(layer, poly, COLORS[i])
            canvas = cv2.addWeighted(canvas, 0.4, layer, 0.6, 0)
    for pi, person in enumerate(people):
        for j, (x, y, c) in enumerate(person):
            if c < min_confidence:
                continue
            center = (int(x * width), int(y * height))
            cv2.circle(canvas, center, stick + 1, COLORS[j], thickness=-1)
            if highlight == (pi, j):
                cv2.circle(canvas, center, stick * 3 + 3, (255, 255, 255), thickness=2)
    return Image.fromarray(canvas, "RGB")


def limb_lengths(pose: dict[str, Any], index: int) -> list[float]:
    """Length of every limb of one person (fractions; used to check edits keep proportions)."""
    person = _person(validate(pose), index)
    return [math.hypot(person[a][0] - person[b][0], person[a][1] - person[b][1]) for a, b in LIMBS]


def _person(pose: dict[str, Any], index: int) -> list[list[float]]:
    people = pose["people"]
    if not 0 <= index < len(people):
        raise PoseError("error.pose_person", count=len(people), number=index + 1)
    return people[index]
