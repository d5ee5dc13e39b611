"""The offline illustrator: a picture-book drawing of what the page says, made on any machine.

It reads the page's words, setting, mood and prompt (Korean or English) for the time of day,
weather, place and season (``offline_art.words``), paints that place (``offline_art.scene``),
then draws the page's characters — exactly as many as the page names — each from their
character-sheet description: age, hair, glasses, clothes and colours (``offline_art.figures``).
When the page has a photo to start from (the Pages tab's "start from a photo"), it paints the
photo instead (``studio.photo_paint``), with the page's snow, rain or night over it when the
"how much to change the photo" strength is at least one half.

Same request + seed -> same pixels. The image's ``info`` carries ``figures`` (each person's
name and box) and ``scene``, so a caller can tell where everyone stands. The book says once, on
its colophon page, that its pictures are offline drawings; the pictures carry no badge.
"""
from __future__ import annotations

import random
from dataclasses import asdict
from typing import Any

from studio.backends.base import Availability, CancelToken, IllustrationRequest, StepCallback
from studio.backends.offline_art.words import Look, read_look, read_scene

HAND_IN_HAND = ("walking hand in hand", "standing", "hugging", "sitting together", "carrying a child",
                "reading together")
PHOTO_OVERLAY_STRENGTH = 0.5  # from here on, the page's weather and night are painted over a photo


class SketchIllustrator:
    name = "sketch"
    label = "Picture-book illustrator (offline)"
    uses_maps = False  # draws from page_context (and a page photo when there is one): no model needed

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    def available(self) -> Availability:
        return Availability.yes("avail.sketch_ready")

    def illustrate(self, request: IllustrationRequest, on_step: StepCallback | None = None,
                   cancel: CancelToken | None = None):
        if cancel is not None:
            cancel.raise_if_cancelled()
        spec, ctx = request.spec, request.page_context or {}
        width, height = int(spec.width), int(spec.height)
        scene = read_scene(str(ctx.get("text", "")), request.prompt, str(ctx.get("setting", "")),
                           str(ctx.get("mood", "")))
        if request.init_image is not None:
            from studio.photo_paint import paint_photo

            overlay = scene if float(spec.strength) >= PHOTO_OVERLAY_STRENGTH else None
            image = paint_photo(request.init_image, (width, height), seed=int(spec.seed), scene=overlay)
            image.info["painted_photo"] = True
        else:
            image = draw_page(width, height, scene, page_looks(ctx), ctx, int(spec.seed))
        image.info["scene"] = asdict(scene)
        if on_step is not None:
            on_step(1, 1, image)
        return image


def page_looks(ctx: dict[str, Any]) -> list[Look]:
    """One look per character on the page; without characters, one per person in the pose."""
    people = ctx.get("characters") or []
    looks = []
    for person in people:
        if isinstance(person, str):
            person = {"name": person}
        looks.append(read_look(str(person.get("name", "")), str(person.get("description", "")),
                               str(person.get("relation", ""))))
    if looks:
        return looks
    count = len(_pose_people(ctx))  # an explicit empty pose ("people": []) draws the place alone
    return [read_look("", "a grown-up" if i == 0 else "a small child") for i in range(count)]


def _pose_people(ctx: dict[str, Any]) -> list:
    from studio import poses

    if "people" in ctx and not ctx["people"]:
        return []
    if ctx.get("people"):
        try:
            return poses.validate({"people": ctx["people"]})["people"]
        except poses.PoseError:
            pass
    hint = ctx.get("pose_hint") or "standing"
    return poses.bundled(hint if hint in poses.bundled_names() else "standing")["people"]


def draw_page(width: int, height: int, scene, looks: list[Look], ctx: dict[str, Any], seed: int):
    from PIL import Image

    from studio.backends.offline_art.canvas import SCALE, paper
    from studio.backends.offline_art.figures import (Reach, body_of, draw_arm, draw_figure, hand_rest, height_of,
                                                      seat_height)
    from studio.backends.offline_art.scene import backdrop, night_tint, weather
    from studio.backends.offline_art.canvas import Pen

    rng = random.Random(seed)
    W, H = width * SCALE, height * SCALE
    canvas = Image.new("RGB", (W, H))
    feet = backdrop(canvas, scene, rng)
    xs = _places(len(looks), ctx, W, height_of_page=H, rng=rng)
    heights = [height_of(look, H) for look in looks]
    feet_of = [feet + (H * 0.025 if look.age == "child" else 0.0) for look in looks]
    reaches = [Reach() for _ in looks]
    books: list[tuple[float, float]] = []
    hint = str(ctx.get("pose_hint") or "standing")
    people = [look.kind == "person" for look in looks]
    seat, hugs = None, []
    if hint == "sitting together" and any(people):  # side by side on a bench, hands held on their laps
        seat = seat_height(looks, feet, heights)
        _bench(pen_for(canvas, width), xs, seat, feet, heights, H)
    if hint == "hugging":
        xs = _hugging(looks, xs, feet_of, heights, reaches, people, hugs)
    for i in range(len(looks) - 1):
        if hint == "hugging":
            break
        if hint in HAND_IN_HAND and people[i] and people[i + 1] and xs[i + 1] - xs[i] < W * 0.36:  # neighbours hold hands
            a = hand_rest(looks[i], xs[i], feet_of[i], heights[i], 1, seat)
            b = hand_rest(looks[i + 1], xs[i + 1], feet_of[i + 1], heights[i + 1], -1, seat)
            meet = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
            if hint == "reading together":  # they hold a picture book up between them
                meet = (meet[0], meet[1] - heights[i + 1] * 0.12)
                books.append(meet)
            reaches[i].right, reaches[i + 1].left = meet, meet
    if looks and hint in ("waving", "looking at the sky"):
        side = -1 if xs[0] < W / 2 else 1
        raised = (xs[0] + side * heights[0] * 0.22, feet_of[0] - heights[0] * 1.02)
        if side < 0:
            reaches[0].left = raised
        else:
            reaches[0].right = raised
    pen = Pen(canvas, line=max(1.0, width / 420))
    outdoors_night = not scene.indoor and scene.time != "day"

    def tint(colour):
        return night_tint(colour, scene, 0.45) if outdoors_night else tuple(colour)

    order = sorted(range(len(looks)), key=lambda i: feet_of[i])  # those further back first
    boxes: dict[int, tuple[int, int, int, int]] = {}
    for i in order:
        boxes[i] = draw_figure(pen, looks[i], xs[i], feet_of[i], heights[i], reaches[i], tint,
                               seat if people[i] else None)
    for i, side, hand, elbow in hugs:  # the hugging arm goes round the smaller one's shoulders, in front
        draw_arm(pen, looks[i], xs[i], feet_of[i], heights[i], side, hand, tint, elbow=elbow)
    for bx, by in books:
        _open_book(pen, bx, by, H * 0.045, tint)
    heads = {i: body_of(looks[i], feet_of[i], heights[i], seat if people[i] else None) for i in boxes if people[i]}
    faces = {i: (xs[i], b.head_y, b.r * 1.15) for i, b in heads.items()}  # with hair edge and glasses
    if not scene.indoor:
        weather(canvas, scene, rng, faces=list(faces.values()))
    image = canvas.resize((width, height), Image.LANCZOS)
    image = paper(image, seed)
    image.info["figures"] = [{"name": look.name, "age": look.age,
                              "box": tuple(int(round(v / SCALE)) for v in boxes[i]),
                              "face": _face_box(faces.get(i), SCALE)} for i, look in enumerate(looks)]
    return image


def _face_box(face, scale: int):
    """A person's head circle as a page-pixel box (None for a pet)."""
    if face is None:
        return None
    x, y, r = (v / scale for v in face)
    return (int(round(x - r)), int(round(y - r)), int(round(x + r)), int(round(y + r)))


def pen_for(canvas, width: int):
    from studio.backends.offline_art.canvas import Pen

    return Pen(canvas, line=max(1.0, width / 420))


def _bench(pen, xs: list[float], seat: float, feet: float, heights: list[float], page_h: float) -> None:
    """A wooden bench behind the seated people, its top where their hips rest."""
    reach = max(heights, default=page_h * 0.5) * 0.3
    left, right = min(xs) - reach, max(xs) + reach
    wood, dark = (176, 128, 86), (132, 92, 60)
    thick = page_h * 0.018
    pen.rounded(left, seat - thick * 5.5, right, seat - thick * 3.5, thick * 0.5, wood)  # the backrest
    for x in (left + thick * 2, right - thick * 2):
        pen.rounded(x - thick * 0.6, seat - thick * 5.5, x + thick * 0.6, feet, thick * 0.3, dark)
    pen.rounded(left - thick, seat - thick * 0.6, right + thick, seat + thick * 0.9, thick * 0.5, wood)  # the seat


def _hugging(looks, xs: list[float], feet_of: list[float], heights: list[float], reaches, people,
             hug: list) -> list[float]:
    """The first two people step close and put their arms around each other: the taller one's
    arms round the smaller one's shoulders, the smaller one's arms round the taller one's waist."""
    from studio.backends.offline_art.figures import hug_points, waist_of

    pair = [i for i, person in enumerate(people) if person][:2]
    if len(pair) < 2:
        return xs
    a, b = pair
    xs = list(xs)
    middle = (xs[a] + xs[b]) / 2
    apart = min(heights[a], heights[b]) * 0.16
    xs[a], xs[b] = middle - apart, middle + apart
    big, small = (a, b) if heights[a] >= heights[b] else (b, a)
    towards = 1 if xs[small] > xs[big] else -1
    elbow, hand = hug_points(looks[small], xs[small], feet_of[small], heights[small], towards)
    waist = waist_of(looks[big], xs[big], feet_of[big], heights[big], towards)
    if towards > 0:
        reaches[big].right, reaches[small].left = hand, waist
    else:
        reaches[big].left, reaches[small].right = hand, waist
    hug.append((big, towards, hand, elbow))
    return xs


def _open_book(pen, x: float, y: float, size: float, tint) -> None:
    cover, paper = tint((196, 96, 84)), tint((252, 248, 238))
    pen.polygon([(x - size * 1.5, y - size * 0.75), (x, y - size * 0.55), (x + size * 1.5, y - size * 0.75),
                 (x + size * 1.5, y + size * 0.6), (x, y + size * 0.8), (x - size * 1.5, y + size * 0.6)], cover)
    for side in (-1, 1):
        pen.polygon([(x, y - size * 0.45), (x + side * size * 1.35, y - size * 0.62), (x + side * size * 1.35, y + size * 0.5),
                     (x, y + size * 0.68)], paper)
        for k in range(3):  # lines of words
            ly = y - size * 0.25 + k * size * 0.25
            pen.draw.line([(x + side * size * 0.25, ly), (x + side * size * 1.1, ly - size * 0.08)],
                          fill=tint((170, 150, 130)), width=max(1, pen.line))


def _places(count: int, ctx: dict[str, Any], width: float, height_of_page: float, rng: random.Random) -> list[float]:
    """Where each person stands, left to right: spread around the middle, wider apart for fewer."""
    centre = width * (0.5 + rng.uniform(-0.04, 0.04))  # drawn even for nobody: the rest of the page stays the same
    if count == 0:
        return []
    gap = min(0.24, 0.78 / count) * width
    if height_of_page > width * 1.2:  # a tall page: people stand closer
        gap *= 0.8
    return [centre + (i - (count - 1) / 2) * gap for i in range(count)]
