"""A family photo painted as a picture-book page: the composition stays (edges in the same
places), the colours become a painter's few, and the page's night or snow can be painted over."""
from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from studio.backends.base import IllustrationRequest
from studio.backends.offline_art.words import read_scene
from studio.backends.sketch import SketchIllustrator
from studio.book import ImageSpec, Page
from studio.photo_paint import paint_photo


def family_photo(size=(480, 360), seed=1) -> Image.Image:
    """A photo-like picture: a sky gradient, a house, two people, sensor noise and a soft lens."""
    rng = np.random.default_rng(seed)
    w, h = size
    t = np.linspace(0, 1, h)[:, None, None]
    sky = (np.array([120, 170, 220]) * (1 - t) + np.array([230, 220, 200]) * t) * np.ones((h, w, 3))
    img = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, int(h * 0.68), w, h), fill=(96, 140, 80))
    draw.rectangle((int(w * 0.05), int(h * 0.3), int(w * 0.35), int(h * 0.7)), fill=(190, 160, 130))
    draw.polygon([(int(w * 0.02), int(h * 0.32)), (int(w * 0.2), int(h * 0.12)), (int(w * 0.38), int(h * 0.32))],
                 fill=(120, 60, 50))
    for cx, top, colour in ((0.55, 0.3, (200, 90, 110)), (0.75, 0.45, (240, 200, 80))):
        x = int(w * cx)
        draw.ellipse((x - 22, int(h * top) - 44, x + 22, int(h * top)), fill=(236, 196, 170))
        draw.rectangle((x - 30, int(h * top), x + 30, int(h * 0.9)), fill=colour)
    pixels = np.asarray(img.filter(ImageFilter.GaussianBlur(1.2)), np.float32)
    pixels += rng.normal(0, 9, pixels.shape)  # sensor noise: thousands of colours, like a real photo
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def edge_map(image: Image.Image) -> np.ndarray:
    grey = cv2.GaussianBlur(cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY), (0, 0), 2)
    edges = cv2.Canny(grey, 30, 90).astype(np.float32)
    return cv2.GaussianBlur(edges, (0, 0), 4).ravel()


def unique_colours(image: Image.Image) -> int:
    return len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0))


def test_painting_keeps_the_composition_and_reduces_the_colours():
    photo = family_photo()
    painted = paint_photo(photo, (480, 360), seed=2, texture=False)
    assert painted.size == (480, 360)
    similarity = np.corrcoef(edge_map(photo), edge_map(painted))[0, 1]
    assert similarity > 0.55
    other = np.corrcoef(edge_map(photo.transpose(Image.FLIP_LEFT_RIGHT)), edge_map(painted))[0, 1]
    assert other < similarity - 0.2  # the bound means something: a mirrored photo does not match
    assert unique_colours(painted) < unique_colours(photo) / 20
    assert np.abs(np.asarray(painted, int) - np.asarray(photo, int)).mean() > 8  # it is not the photo
    textured = paint_photo(photo, (480, 360), seed=2)
    assert np.corrcoef(edge_map(photo), edge_map(textured))[0, 1] > 0.5  # paper grain keeps the shapes


def test_painting_fills_the_page_shape_and_is_repeatable():
    photo = family_photo((640, 300))
    a = paint_photo(photo, (256, 256), seed=4)
    assert a.size == (256, 256)
    assert (np.asarray(a) == np.asarray(paint_photo(photo, (256, 256), seed=4))).all()


def test_the_pages_night_and_snow_over_the_painting():
    photo = family_photo()
    plain = np.asarray(paint_photo(photo, (320, 240), seed=1), int)
    night = np.asarray(paint_photo(photo, (320, 240), seed=1, scene=read_scene("눈 내리는 밤")), int)
    assert night[:80].mean() < plain[:80].mean() - 40  # a night sky
    flakes = (night.min(-1) > 235) & (plain.min(-1) < 235)
    assert flakes.sum() > 100  # snowflakes fall over it


def test_the_offline_illustrator_paints_the_pages_photo(services):
    """Pages tab: "start from a photo" with the offline illustrator gives a painting of it, and
    "how much to change the photo" (strength) decides whether the page's snow falls on it."""
    from studio import illustrate

    buf = io.BytesIO()
    family_photo((400, 400)).save(buf, "PNG")
    ref = services.store.media_for("local").put_bytes(buf.getvalue(), "png")
    book = services.store.create("local", "겨울", "", "ko", 4)
    book = services.store.update("local", book.id, lambda b: (
        b.pages.append(Page(text="눈이 오는 날 할머니와 찍은 사진", characters=[])),
        setattr(b.pages[0].image, "init_image", ref)))
    page = book.pages[0]
    sketch = services.backends.get("illustrator", "sketch")
    spec = illustrate.final_spec(book, page, ImageSpec(width=256, height=256, init_image=ref, strength=0.3), seed=3)
    painted, _ = illustrate.render(services, book, page, spec, sketch)
    assert painted.info.get("painted_photo") is True
    photo = family_photo((400, 400)).resize((256, 256))
    assert np.corrcoef(edge_map(photo), edge_map(painted))[0, 1] > 0.45
    spec.strength = 0.8
    snowy, _ = illustrate.render(services, book, page, spec, sketch)
    extra_white = (np.asarray(snowy).min(-1) > 235) & (np.asarray(painted).min(-1) < 235)
    assert extra_white.sum() > 100
    drawn = SketchIllustrator().illustrate(IllustrationRequest(spec=ImageSpec(width=256, height=256, seed=3),
                                                               prompt="", page_context={"text": page.text}))
    assert "painted_photo" not in drawn.info  # without a photo it draws the page
