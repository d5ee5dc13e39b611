"""The offline sketch illustrator: honest, pleasant, deterministic, fast, drawn from the pose."""
from __future__ import annotations

import time

import numpy as np

from studio import poses
from studio.backends.base import CancelToken, Cancelled, IllustrationRequest
from studio.backends.sketch import SketchIllustrator
from studio.book import ImageSpec, Page


def _sketch(seed=7, width=320, height=240, **context):
    context.setdefault("setting", "grandmother's garden")
    context.setdefault("mood", "warm")
    request = IllustrationRequest(spec=ImageSpec(seed=seed, width=width, height=height), prompt="", page_context=context)
    return np.asarray(SketchIllustrator().illustrate(request)).astype(int)


def test_size_is_the_page_size_and_the_same_seed_gives_the_same_picture():
    a = _sketch(width=320, height=240)
    assert a.shape == (240, 320, 3)
    assert (a == _sketch(width=320, height=240)).all()
    assert not (a == _sketch(seed=8, width=320, height=240)).all()


def test_people_are_drawn_where_the_pose_puts_them():
    left = poses.transform_person(poses.bundled("standing"), 0, dx=-0.35)
    right = poses.transform_person(poses.bundled("standing"), 0, dx=0.35)
    a, b = _sketch(people=left["people"]), _sketch(people=right["people"])
    diff = np.abs(a - b).sum(axis=-1) > 30
    h, w = diff.shape
    assert diff[:, : w // 3].mean() > 0.05 and diff[:, 2 * w // 3:].mean() > 0.05
    assert diff[:, w // 2 - 5: w // 2 + 5].mean() < 0.05  # the middle is the same scenery
    # the pose hint alone also works (what the Story tab sets), an unknown hint falls back
    assert not (_sketch(pose_hint="hugging") == _sketch(pose_hint="standing")).all()
    assert (_sketch(pose_hint="??") == _sketch(pose_hint="standing")).all()


def test_setting_and_mood_change_the_scene():
    day, night = _sketch(setting="park", mood="happy"), _sketch(setting="park", mood="night under the stars")
    assert night[:40].mean() < day[:40].mean() - 60  # a dark sky
    assert not (_sketch(setting="beach by the sea") == day).all()


def test_it_is_labelled_as_a_sketch():
    img = _sketch(width=400, height=400)
    corner = img[-60:, -120:]
    paper = (np.abs(corner - np.array([255, 250, 240])).sum(axis=-1) == 0).mean()
    ink = (np.abs(corner - np.array([88, 80, 72])).sum(axis=-1) < 40).mean()
    assert paper > 0.1 and ink > 0.01  # the "sketch" label card, with writing on it, in the corner
    assert SketchIllustrator().available().ok and "sketch" in SketchIllustrator().label.lower()


def test_fast_enough_for_a_whole_book_and_cancellable():
    start = time.perf_counter()
    for seed in range(10):
        _sketch(seed=seed, width=512, height=512)
    assert (time.perf_counter() - start) / 10 < 0.25
    token = CancelToken()
    token.cancel()
    try:
        SketchIllustrator().illustrate(IllustrationRequest(spec=ImageSpec(), prompt=""), cancel=token)
        raise AssertionError("should stop")
    except Cancelled:
        pass


def test_export_call_for_pages_without_a_chosen_image(services):
    """The Export tab draws placeholder pictures through the registry exactly like this."""
    page = Page(text="할머니와 감을 땄어요", setting="마당", mood="따뜻한", pose_hint="carrying a child",
                image=ImageSpec(width=256, height=192, seed=3))
    ill = services.backends.get("illustrator", "sketch")
    img = ill.illustrate(IllustrationRequest(spec=page.image, prompt=page.illustration_prompt, page_context={
        "setting": page.setting, "mood": page.mood, "text": page.text, "pose_hint": page.pose_hint, "people": []}))
    assert img.size == (256, 192) and img.mode == "RGB"
    assert services.backends.active("illustrator").name == "sketch"  # no model set: the default
