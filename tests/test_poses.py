"""Pose library, editor operations and the OpenPose skeleton renderer."""
from __future__ import annotations

import numpy as np
import pytest

from studio import poses
from studio.book import POSE_HINTS


def test_every_story_pose_hint_has_a_bundled_pose_of_one_to_three_people():
    names = poses.bundled_names()
    assert set(POSE_HINTS) <= set(names)
    for name in names:
        people = poses.bundled(name)["people"]
        assert 1 <= len(people) <= 3
        assert all(len(p) == 18 and all(0 <= x <= 1 and 0 <= y <= 1 for x, y, _ in p) for p in people)
    assert dict(poses.bundled_choices("ko"))  # labelled in Korean too
    assert any("안아" in label for label, _ in poses.bundled_choices("ko"))


def test_bundled_pose_is_a_fresh_copy():
    a = poses.bundled("standing")
    a["people"][0][0] = [0, 0, 0]
    assert poses.bundled("standing")["people"][0][0] != [0, 0, 0]


def _pixel(img, x, y):
    return tuple(int(v) for v in np.asarray(img)[int(y), int(x)])


def test_renderer_draws_standard_colours_on_black():
    pose = poses.bundled("standing")
    size = 256
    img = poses.render(pose, size, size)
    assert img.size == (size, size) and img.mode == "RGB"
    person = pose["people"][0]
    for j, (x, y, _) in enumerate(person):  # every joint is a dot in its own colour
        assert _pixel(img, x * size, y * size) == poses.COLORS[j], poses.KEYPOINTS[j]
    for limb in (3, 5, 8, 11):  # forearms and shins: limb colour at 60 % over black at the midpoint
        a, b = poses.LIMBS[limb]
        mx, my = (person[a][0] + person[b][0]) / 2 * size, (person[a][1] + person[b][1]) / 2 * size
        got = np.array(_pixel(img, mx, my))
        assert np.abs(got - 0.6 * np.array(poses.COLORS[limb])).max() <= 2, limb
    assert _pixel(img, 2, 2) == (0, 0, 0)


def test_missing_keypoints_are_not_drawn():
    pose = poses.bundled("standing")
    pose["people"][0][4][2] = 0.0  # right wrist unknown
    x, y, _ = pose["people"][0][4]
    assert _pixel(poses.render(pose, 256, 256), x * 256, y * 256) == (0, 0, 0)


def test_mirror_keeps_skeleton_valid_and_swaps_sides():
    pose = poses.bundled("waving")  # the left arm is raised
    mirrored = poses.transform_person(pose, 0, mirror=True)
    before, after = pose["people"][0], mirrored["people"][0]
    # still facing us: right shoulder on the viewer's left of the left shoulder
    assert after[2][0] < after[5][0]
    # the raised wrist is now the right one, at the mirrored place
    cx, _ = poses.person_center(pose, 0)
    assert after[4][1] == pytest.approx(before[7][1]) and after[4][0] == pytest.approx(2 * cx - before[7][0])
    assert sorted(poses.limb_lengths(mirrored, 0)) == pytest.approx(sorted(poses.limb_lengths(pose, 0)))
    twice = poses.transform_person(mirrored, 0, mirror=True)
    assert np.allclose(twice["people"][0], before)
    assert pose == poses.bundled("waving")  # input not mutated


def test_scale_and_move_keep_proportions_and_stay_in_the_picture():
    pose = poses.bundled("hugging")
    small = poses.transform_person(pose, 1, scale=0.5)
    assert poses.limb_lengths(small, 1) == pytest.approx([v * 0.5 for v in poses.limb_lengths(pose, 1)])
    assert small["people"][0] == pose["people"][0]  # the other person is untouched
    big = poses.transform_person(pose, 0, scale=3.0)  # capped so nothing is squashed at the border
    ratios = {round(a / b, 6) for a, b in zip(poses.limb_lengths(big, 0), poses.limb_lengths(pose, 0)) if b > 0}
    assert len(ratios) == 1 and all(0 <= v <= 1 for p in big["people"][0] for v in p[:2])
    moved = poses.transform_person(pose, 1, dx=5.0)  # far right: stops at the edge
    assert max(p[0] for p in moved["people"][1]) == pytest.approx(1.0)
    assert poses.limb_lengths(moved, 1) == pytest.approx(poses.limb_lengths(pose, 1))
    with pytest.raises(poses.PoseError, match="no person 3"):
        poses.transform_person(pose, 2, dx=0.1)


def test_click_selects_nearest_joint_and_moves_it():
    pose = poses.bundled("standing")
    x, y, _ = pose["people"][0][7]  # left wrist
    assert poses.nearest_joint(pose, x + 0.01, y) == (0, 7)
    assert poses.nearest_joint(pose, 0.02, 0.98) is None
    moved = poses.move_joint(pose, 0, 7, 0.9, 0.1)
    assert moved["people"][0][7] == [0.9, 0.1, 1.0]
    assert moved["people"][0][:7] == pose["people"][0][:7]
    white = lambda img: (np.asarray(img) == 255).all(axis=-1)  # noqa: E731
    assert white(poses.render(moved, 100, 100, highlight=(0, 7))).any()  # the selection ring
    assert not white(poses.render(moved, 100, 100)).any()


def test_validate_refuses_bad_poses():
    for bad in (None, {"people": []}, {"people": [[[0, 0, 1]] * 17]}, {"people": [[["a", 0, 1]] * 18]},
                {"people": [[[float("nan"), 0, 1]] * 18]}):
        with pytest.raises(poses.PoseError):
            poses.validate(bad)
    with pytest.raises(poses.PoseError, match="no ready-made pose named"):
        poses.bundled("dancing on the moon")


def test_detector_keypoints_convert_to_openpose_with_a_neck():
    coco = [(10.0 * i, 20.0, 0.9) for i in range(17)]
    pose = poses.from_coco17([coco], 200, 100)
    person = pose["people"][0]
    assert person[2][:2] == pytest.approx([0.3, 0.2])  # COCO right shoulder (6) -> OpenPose 2
    assert person[1][:2] == pytest.approx([(0.3 + 0.25) / 2, 0.2])  # neck = shoulders' middle
    with pytest.raises(poses.PoseError, match="No person"):
        poses.from_coco17([], 10, 10)
