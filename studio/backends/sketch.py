"""The offline illustrator: a storyboard sketch of the page, honest about being a sketch.

It draws a paper-coloured scene from the page's setting and mood (sky, ground, a tree, a house,
sun or moon), then the people of the chosen pose as soft pencil figures drawn from their
keypoints, and labels the picture "sketch". Same request + seed -> same pixels; ~10 ms per page.
"""
from __future__ import annotations

import math
import random
from typing import Any

from studio.backends.base import Availability, CancelToken, IllustrationRequest, StepCallback

# Palettes by mood word: (sky top, sky bottom, ground, accent)
PALETTES = {
    "warm": ((253, 226, 190), (255, 244, 224), (214, 196, 150), (232, 134, 84)),
    "calm": ((205, 226, 240), (238, 245, 248), (190, 214, 178), (120, 160, 200)),
    "sad": ((196, 202, 214), (228, 230, 236), (188, 192, 186), (120, 130, 160)),
    "happy": ((190, 225, 250), (250, 248, 225), (170, 214, 140), (250, 180, 60)),
    "night": ((40, 52, 92), (92, 96, 140), (70, 88, 90), (250, 236, 170)),
}
MOOD_WORDS = {
    "warm": ("warm", "따뜻", "cozy", "love", "사랑", "tender", "grateful"),
    "sad": ("sad", "miss", "그리", "슬픔", "longing", "farewell", "이별", "quiet"),
    "happy": ("happy", "joy", "기쁨", "행복", "fun", "playful", "bright", "즐거"),
    "night": ("night", "밤", "star", "별", "moon", "달", "evening", "저녁"),
    "calm": ("calm", "peace", "평화", "gentle", "still", "잔잔"),
}
SCENES = {
    "indoor": ("kitchen", "room", "home", "house", "부엌", "방", "집", "거실", "table", "bed"),
    "sea": ("sea", "beach", "ocean", "바다", "해변", "lake", "river", "강", "호수"),
    "garden": ("garden", "park", "tree", "field", "forest", "mountain", "정원", "공원", "나무", "숲", "산", "밭", "마당"),
    "snow": ("snow", "winter", "눈", "겨울"),
}
CLOTHES = ((196, 120, 110), (110, 140, 190), (130, 170, 120), (200, 160, 90), (160, 120, 170), (120, 150, 150))
PENCIL = (88, 80, 72)


class SketchIllustrator:
    name = "sketch"
    label = "Sketch illustrator (offline)"
    uses_maps = False  # draws from page_context (setting, mood, pose people): no photo or LoRA needed

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    def available(self) -> Availability:
        return Availability.yes("always available: draws storyboard sketches, no model needed")

    def illustrate(self, request: IllustrationRequest, on_step: StepCallback | None = None,
                   cancel: CancelToken | None = None):
        if cancel is not None:
            cancel.raise_if_cancelled()
        spec, ctx = request.spec, request.page_context or {}
        width, height = int(spec.width), int(spec.height)
        rng = random.Random(int(spec.seed))
        words = " ".join(str(ctx.get(k, "")) for k in ("setting", "mood", "text")) + " " + request.prompt
        words = words.lower()
        image = _scene(width, height, _pick(words, MOOD_WORDS, "warm"), _pick(words, SCENES, "garden"), rng)
        _draw_people(image, _people(ctx), rng)
        _label(image)
        if on_step is not None:
            on_step(1, 1, image)
        return image


def _pick(words: str, table: dict[str, tuple[str, ...]], default: str) -> str:
    for key, needles in table.items():
        if any(n in words for n in needles):
            return key
    return default


def _people(ctx: dict[str, Any]) -> list[list[list[float]]]:
    from studio import poses

    people = ctx.get("people")
    if people:
        return poses.validate({"people": people})["people"]
    hint = ctx.get("pose_hint") or "standing"
    try:
        return poses.bundled(hint)["people"]
    except poses.PoseError:
        return poses.bundled("standing")["people"]


def _scene(width: int, height: int, mood: str, scene: str, rng: random.Random):
    from PIL import Image, ImageDraw

    sky_top, sky_bottom, ground, accent = PALETTES[mood]
    if scene == "snow":
        ground = (236, 238, 242)
    if scene == "sea" and mood != "night":
        ground = (226, 210, 170)
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    horizon = int(height * (0.58 if scene != "indoor" else 0.66))
    for y in range(horizon):
        t = y / max(1, horizon - 1)
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(sky_top, sky_bottom)))
    draw.rectangle([0, horizon, width, height], fill=ground)
    unit = min(width, height)
    if scene == "indoor":
        _indoor(draw, width, height, horizon, accent, rng)
    else:
        r = unit * 0.07
        sx, sy = width * rng.uniform(0.68, 0.88), height * rng.uniform(0.1, 0.2)
        draw.ellipse([sx - r, sy - r, sx + r, sy + r], fill=accent)
        for _ in range(rng.randint(1, 3)):
            _cloud(draw, width * rng.uniform(0.05, 0.6), height * rng.uniform(0.06, 0.3), unit * 0.06, mood, rng)
        if scene == "sea":
            for i in range(4):
                y = horizon - int(height * 0.12) + i * int(height * 0.03)
                _wobbly(draw, [(x, y + math.sin(x / 14 + i) * 2) for x in range(0, width + 8, 8)], (110, 150, 190), rng)
        else:
            _tree(draw, width * rng.choice((0.1, 0.9)), horizon + height * 0.02, unit * 0.32, scene, rng)
    _paper_grain(draw, width, height, rng)
    return image


def _indoor(draw, width, height, horizon, accent, rng):
    wx0, wy0 = width * rng.uniform(0.55, 0.65), height * 0.12
    wx1, wy1 = wx0 + width * 0.25, wy0 + height * 0.25
    draw.rectangle([wx0, wy0, wx1, wy1], fill=(220, 236, 246))
    for box in ([(wx0, wy0), (wx1, wy0), (wx1, wy1), (wx0, wy1), (wx0, wy0)],
                [((wx0 + wx1) / 2, wy0), ((wx0 + wx1) / 2, wy1)], [(wx0, (wy0 + wy1) / 2), (wx1, (wy0 + wy1) / 2)]):
        _wobbly(draw, box, PENCIL, rng)
    _wobbly(draw, [(0, horizon), (width, horizon)], PENCIL, rng)
    tx = width * rng.uniform(0.08, 0.2)
    draw.rectangle([tx, horizon - height * 0.1, tx + width * 0.22, horizon - height * 0.08], fill=accent)


def _cloud(draw, x, y, r, mood, rng):
    color = (250, 250, 252) if mood != "night" else (120, 126, 160)
    for i in range(3):
        cx = x + i * r * 0.9
        cy = y + rng.uniform(-0.2, 0.2) * r
        draw.ellipse([cx - r, cy - r * 0.7, cx + r, cy + r * 0.7], fill=color)


def _tree(draw, x, base, size, scene, rng):
    trunk = (132, 100, 72)
    draw.rectangle([x - size * 0.05, base - size * 0.5, x + size * 0.05, base], fill=trunk)
    leaves = (236, 240, 244) if scene == "snow" else (118, 160, 100)
    for _ in range(5):
        cx, cy = x + rng.uniform(-0.2, 0.2) * size, base - size * rng.uniform(0.55, 0.85)
        r = size * rng.uniform(0.16, 0.24)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=leaves)
    if scene != "snow":  # persimmons: the studio's first book was about a persimmon tree
        for _ in range(4):
            cx, cy = x + rng.uniform(-0.22, 0.22) * size, base - size * rng.uniform(0.55, 0.85)
            draw.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=(232, 126, 50))


def _draw_people(image, people, rng):
    from PIL import ImageDraw

    from studio.poses import LIMBS

    draw = ImageDraw.Draw(image)
    width, height = image.size
    first_colour = rng.randrange(len(CLOTHES))
    for index, person in enumerate(people):
        pts = [(x * width, y * height, c) for x, y, c in person]
        ys = [p[1] for p in pts if p[2] > 0.3]
        tall = (max(ys) - min(ys)) if ys else height * 0.5
        limb_w = max(2, int(tall * 0.06))
        body = CLOTHES[(first_colour + index) % len(CLOTHES)]
        # torso: a soft filled shape between shoulders and hips
        torso = [pts[i] for i in (2, 5, 11, 8) if pts[i][2] > 0.3]
        if len(torso) >= 3:
            draw.polygon([(x, y) for x, y, _ in torso], fill=body)
        for a, b in LIMBS:
            if a == 0 or b == 0 or a >= 14 or b >= 14:
                continue  # face keypoints are drawn as a head below
            if pts[a][2] > 0.3 and pts[b][2] > 0.3:
                draw.line([pts[a][:2], pts[b][:2]], fill=body, width=limb_w, joint="curve")
                _wobbly(draw, [pts[a][:2], pts[b][:2]], PENCIL, rng, width=1)
        neck, nose = pts[1], pts[0]
        if nose[2] > 0.3 or neck[2] > 0.3:
            hx, hy = (nose[0], nose[1]) if nose[2] > 0.3 else (neck[0], neck[1] - tall * 0.08)
            r = max(4, tall * 0.075)
            draw.ellipse([hx - r, hy - r, hx + r, hy + r], fill=(246, 214, 184), outline=PENCIL, width=1)
            draw.arc([hx - r * 0.45, hy - r * 0.1, hx + r * 0.45, hy + r * 0.5], 20, 160, fill=PENCIL, width=1)
            draw.pieslice([hx - r, hy - r * 1.05, hx + r, hy + r * 0.2], 180, 360, fill=(90, 70, 60))


def _wobbly(draw, points, color, rng, width: int = 1):
    """A hand-drawn stroke: the same polyline twice, each point nudged a little."""
    for _ in range(2):
        draw.line([(x + rng.uniform(-1.2, 1.2), y + rng.uniform(-1.2, 1.2)) for x, y in points],
                  fill=color, width=width)


def _paper_grain(draw, width, height, rng):
    for _ in range(width * height // 900):
        x, y = rng.randrange(width), rng.randrange(height)
        draw.point((x, y), fill=(200, 190, 176))


def _label(image):
    from PIL import ImageDraw, ImageFont

    draw = ImageDraw.Draw(image)
    size = max(10, image.height // 24)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # very old Pillow
        font = ImageFont.load_default()
    text = "sketch"
    box = draw.textbbox((0, 0), text, font=font)
    w, h = box[2] - box[0], box[3] - box[1]
    x, y = image.width - w - size, image.height - h - size
    draw.rounded_rectangle([x - size // 2, y - size // 3, x + w + size // 2, y + h + size // 2],
                           radius=size // 2, fill=(255, 250, 240), outline=PENCIL)
    draw.text((x, y - box[1] // 2), text, fill=PENCIL, font=font)
