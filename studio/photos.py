"""Preparing a family's photos for training: each one kept (cropped, captioned) or set aside with why.

Every photo is opened through ``open_user_image`` (size checked before decoding, EXIF orientation
applied, metadata stripped), then checked in the order a person would: can it be read, is it big
enough, bright enough, sharp enough, is there a face (for a person), is it the same picture as one
already kept. A kept photo is cropped square around the face (head and shoulders) or the person
and resized to the training resolution; its caption comes from a template the family can edit.

Detection needs no download: MediaPipe's bundled BlazeFace, then its pose landmarks (a person
seen from the side or far away), then OpenCV's bundled Haar cascade as the last resort (and the
only one when MediaPipe is not installed; the result says which detector found the face).

When configured (``studio.photo_models``), a transformers person detector comes right after
BlazeFace (a person whose face is small or turned away is still found and cropped whole), and a
captioning model adds its description of each kept crop after the template's words.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.images import ImageInputError, open_user_image

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]

KEPT = "likeness.kept"
REJECT_UNREADABLE = "likeness.reject_unreadable"  # values: why (an uploads.* key)
REJECT_TOO_SMALL = "likeness.reject_too_small"
REJECT_DARK = "likeness.reject_dark"
REJECT_BLURRY = "likeness.reject_blurry"
REJECT_NO_FACE = "likeness.reject_no_face"
REJECT_DUPLICATE = "likeness.reject_duplicate"

PERSON_TEMPLATE = "a photo of {token} {class_word}"
STYLE_TEMPLATE = "an illustration in {token} style"


@dataclass
class PrepOptions:
    subject: str = "person"  # "person" (a face is needed) or "style" (any picture, centre crop)
    resolution: int = 512
    min_side: int = 0  # 0: half the resolution
    dark_below: float = 35.0  # mean brightness 0-255
    blur_below: float = 25.0  # variance of the Laplacian at 512 px (a sharp photo: 100-1000)
    duplicate_within: int = 6  # dHash bits (of 64) apart
    face_margin: float = 2.4  # crop side = face size x this (head and shoulders)
    token: str = "sks"
    class_word: str = "person"


@dataclass
class PreparedPhoto:
    name: str  # the upload's own name, for the grid
    reason: str  # KEPT or a REJECT_* message key
    values: dict[str, Any] = field(default_factory=dict)
    crop: Any = None  # PIL image, resolution x resolution (kept photos)
    face_box: Box | None = None  # in the crop's pixels
    source_box: Box | None = None  # the face/person box in the (oriented) photo
    crop_box: Box | None = None  # the square taken from the (oriented) photo
    detector: str = ""  # blazeface | person_detector | mediapipe_pose | haar_cascade | none
    caption: str = ""
    dhash: int | None = None
    measures: dict[str, float] = field(default_factory=dict)
    shows_face: bool = False  # a style picture in which BlazeFace finds a real person's face

    @property
    def kept(self) -> bool:
        return self.reason == KEPT


def caption_for(options: PrepOptions, extra: str = "") -> str:
    template = PERSON_TEMPLATE if options.subject == "person" else STYLE_TEMPLATE
    text = template.format(token=options.token.strip(), class_word=options.class_word.strip())
    extra = " ".join(extra.split())
    return f"{text}, {extra}" if extra else text


def set_caption(photo: PreparedPhoto, text: str, options: PrepOptions) -> None:
    """The family's own words for one photo; the trigger word is put back first if they removed it."""
    text = " ".join(str(text).split())[:300]
    if options.token.strip() not in text.replace(",", " ").split():
        text = caption_for(options, text)
    photo.caption = text


# -- measures -------------------------------------------------------------------------------------
def dhash(image, size: int = 8) -> int:
    """Difference hash: each bit says whether a pixel is brighter than its right neighbour on a
    (size+1) x size greyscale thumbnail; resized/recompressed copies differ by a few bits."""
    from PIL import Image

    small = image.convert("L").resize((size + 1, size), Image.Resampling.LANCZOS)
    px = list(small.getdata())
    bits = 0
    for row in range(size):
        for col in range(size):
            bits = (bits << 1) | (px[row * (size + 1) + col] > px[row * (size + 1) + col + 1])
    return bits


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def sharpness(grey) -> float:
    """Variance of the Laplacian of a greyscale array scaled to 512 px (higher = sharper)."""
    import cv2

    h, w = grey.shape[:2]
    scale = 512.0 / max(h, w)
    if scale < 1.0:
        grey = cv2.resize(grey, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


# -- detection -----------------------------------------------------------------------------------
def _haar_faces(grey) -> list[Box]:
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5,
                                     minSize=(max(24, min(grey.shape) // 12),) * 2)
    boxes = [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h in found]
    return sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)


PERSON_MARGIN = 1.1  # a whole person (no face found) is cropped with a little room around them


def _shows_a_face(rgb, grey, use_mediapipe: bool = True) -> bool:
    """Whether a style picture shows a face (a style's pictures may be photos of a person: then
    the family's consent is asked for, as for a person). BlazeFace when MediaPipe is installed;
    OpenCV's cascade sees faces in too many drawings, but without MediaPipe (a Space installs no
    --no-deps packages) asking for consent once too often is the safe mistake, never asking is not."""
    from studio.backends.pose_mediapipe import mediapipe_missing, shared_finder

    if use_mediapipe and not mediapipe_missing():
        try:
            return bool(shared_finder().faces(rgb))
        except Exception:  # a broken MediaPipe install must not stop the preparation
            log.exception("MediaPipe failed while looking for faces in a style picture; using the cascade")
    return bool(_haar_faces(grey))


def find_face(rgb, grey, use_mediapipe: bool = True, person_detector=None) -> tuple[Box | None, str]:
    """The main face (biggest) and which detector found it; with a configured ``person_detector``
    (``photo_models.PersonDetector``), a person's box when no face is found."""
    faces: list = []
    mediapipe_ok = False
    if use_mediapipe:
        from studio.backends.pose_mediapipe import mediapipe_missing, shared_finder

        mediapipe_ok = not mediapipe_missing()
        if mediapipe_ok:
            try:
                faces = shared_finder().faces(rgb)
            except Exception:  # a broken MediaPipe install must not stop the preparation
                log.exception("MediaPipe failed; using the other detectors")
                mediapipe_ok = False
    if faces:
        return faces[0][0], "blazeface"
    if person_detector is not None:
        from PIL import Image

        people = person_detector.people(Image.fromarray(rgb))
        if people:
            return people[0][0], "person_detector"
    if mediapipe_ok:
        from studio.backends.pose_mediapipe import FACE_LANDMARKS, landmarks_box, shared_finder

        try:
            landmarks = shared_finder().pose_landmarks(rgb)
            if landmarks is not None:
                box = landmarks_box(landmarks, rgb.shape[1], rgb.shape[0], FACE_LANDMARKS, pad=0.6)
                if box is not None and box[2] > box[0] and box[3] > box[1]:
                    return box, "mediapipe_pose"
        except Exception:  # a broken MediaPipe install must not stop the preparation
            log.exception("MediaPipe failed; using the OpenCV cascade")
    faces = _haar_faces(grey)
    if faces:
        return faces[0], "haar_cascade"
    return None, "none"


def square_around(box: Box, width: int, height: int, margin: float) -> Box:
    """The square crop (inside the photo) centred on ``box``, ``margin`` x its size, containing it."""
    bw, bh = box[2] - box[0], box[3] - box[1]
    side = int(round(max(bw, bh) * margin))
    side = max(side, max(bw, bh))
    side = min(side, width, height)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0), height - side)))
    # a face taller than the photo is narrow: keep its top (the eyes) rather than its chin
    y0 = min(y0, box[1]) if box[3] - box[1] > side else y0
    return x0, y0, x0 + side, y0 + side


def centre_square(width: int, height: int) -> Box:
    side = min(width, height)
    x0, y0 = (width - side) // 2, (height - side) // 2
    return x0, y0, x0 + side, y0 + side


# -- the preparation ------------------------------------------------------------------------------
def prepare_photo(path: str | Path, name: str, options: PrepOptions, use_mediapipe: bool = True,
                  models=None) -> PreparedPhoto:
    """One photo, checked and cropped; duplicates are found across photos by ``prepare_photos``.
    ``models``: the configured ``photo_models.PhotoModels`` (None: the bundled detectors and the
    caption template only)."""
    import numpy as np
    from PIL import Image

    try:
        image = open_user_image(path)
    except ImageInputError as exc:
        return PreparedPhoto(name, REJECT_UNREADABLE, {"why": exc.key, **exc.values})
    width, height = image.size
    min_side = options.min_side or options.resolution // 2
    if min(width, height) < min_side:
        return PreparedPhoto(name, REJECT_TOO_SMALL, {"width": width, "height": height, "needed": min_side})
    rgb = np.asarray(image)
    grey = np.asarray(image.convert("L"))
    brightness = float(grey.mean())
    measures = {"brightness": round(brightness, 1)}
    if brightness < options.dark_below:
        return PreparedPhoto(name, REJECT_DARK, {"brightness": round(brightness)}, measures=measures)
    measures["sharpness"] = round(sharpness(grey), 1)
    if measures["sharpness"] < options.blur_below:
        return PreparedPhoto(name, REJECT_BLURRY, {"sharpness": round(measures["sharpness"])}, measures=measures)
    shows_face = False
    if options.subject == "person":
        face, detector = find_face(rgb, grey, use_mediapipe, getattr(models, "detector", None))
        if face is None:
            return PreparedPhoto(name, REJECT_NO_FACE, measures=measures, detector=detector)
        margin = PERSON_MARGIN if detector == "person_detector" else options.face_margin
        crop_box = square_around(face, width, height, margin)
    else:
        face, detector = None, "none"
        crop_box = centre_square(width, height)
        shows_face = _shows_a_face(rgb, grey, use_mediapipe)
    side = crop_box[2] - crop_box[0]
    crop = image.crop(crop_box).resize((options.resolution, options.resolution), Image.Resampling.LANCZOS)
    in_crop = None
    if face is not None:
        k = options.resolution / side
        in_crop = tuple(int(round(min(max(v - o, 0), side) * k))
                        for v, o in zip(face, (crop_box[0], crop_box[1], crop_box[0], crop_box[1])))
    captioner = getattr(models, "captioner", None)
    caption = caption_for(options, captioner.describe(crop) if captioner is not None else "")
    return PreparedPhoto(name, KEPT, crop=crop, face_box=in_crop, source_box=face, crop_box=crop_box, detector=detector,
                         caption=caption, dhash=dhash(image), measures=measures,
                         shows_face=options.subject != "person" and shows_face)


def prepare_photos(files: list[tuple[str, str | Path]], options: PrepOptions | None = None,
                   use_mediapipe: bool = True, models=None) -> list[PreparedPhoto]:
    """``files``: (display name, path) pairs. Returns one result per file, in order; a photo that is
    nearly the same as one kept earlier is set aside as a duplicate of it. ``models``: see
    ``prepare_photo`` (configured models are checked by ``photo_models.for_settings`` first)."""
    options = options or PrepOptions()
    if options.subject not in ("person", "style"):
        raise ValueError("likeness.bad_subject")
    results: list[PreparedPhoto] = []
    for name, path in files:
        photo = prepare_photo(path, name, options, use_mediapipe, models)
        if photo.kept:
            twin = next((r for r in results if r.kept and hamming(r.dhash, photo.dhash) <= options.duplicate_within),
                        None)
            if twin is not None:
                photo = PreparedPhoto(name, REJECT_DUPLICATE, {"other": twin.name}, dhash=photo.dhash,
                                      measures=photo.measures, detector=photo.detector)
        results.append(photo)
    return results


def summary(results: list[PreparedPhoto]) -> dict[str, int]:
    """How many photos were kept and set aside per reason (for the grid's heading)."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.reason] = counts.get(r.reason, 0) + 1
    return counts


def reason_text(photo: PreparedPhoto, lang: str | None = None) -> str:
    """Why a photo was kept or set aside, in the visitor's language (an unreadable file says what
    the studio's image check found, with its own values)."""
    from studio.messages import text

    if photo.reason == REJECT_UNREADABLE:
        values = {k: v for k, v in photo.values.items() if k != "why"}
        return text(REJECT_UNREADABLE, lang, why=text(photo.values.get("why", ""), lang, **values))
    return text(photo.reason, lang, **photo.values)
