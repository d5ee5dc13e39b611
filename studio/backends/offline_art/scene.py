"""The place a page happens in: sky, light, land, trees, rooms and weather, from a ``Scene``.

``backdrop`` paints everything behind the people and returns where their feet stand;
``weather`` paints what falls in front of them (snow, rain). Coordinates are canvas pixels
(the page size times ``SCALE``); ``rng`` makes every choice repeatable from the seed.
"""
from __future__ import annotations

import math
import random

from studio.backends.offline_art.canvas import Pen, darker, gradient, mix, soft
from studio.backends.offline_art.words import Scene

SKIES = {  # (top, bottom) by time and weather
    ("day", "clear"): ((160, 202, 232), (246, 238, 220)), ("day", "snow"): ((190, 200, 216), (232, 234, 238)),
    ("day", "rain"): ((138, 146, 160), (192, 194, 200)), ("dusk", "clear"): ((146, 136, 188), (250, 196, 160)),
    ("dusk", "snow"): ((120, 120, 160), (214, 190, 190)), ("dusk", "rain"): ((110, 112, 136), (176, 164, 168)),
    ("night", "clear"): ((20, 28, 66), (58, 68, 118)), ("night", "snow"): ((28, 36, 74), (78, 88, 128)),
    ("night", "rain"): ((26, 32, 52), (64, 70, 92)), ("day", "storm"): ((112, 118, 138), (178, 176, 178)),
    ("dusk", "storm"): ((96, 92, 118), (168, 150, 150)), ("night", "storm"): ((22, 26, 44), (52, 56, 78)),
}
GROUNDS = {"spring": (172, 208, 138), "summer": (146, 192, 116), "autumn": (206, 192, 124), "winter": (200, 192, 172)}
PERSIMMON = (238, 124, 46)
MOON = (244, 240, 218)
STAR = (250, 246, 222)
WARM_LIGHT = (255, 214, 150)


def night_tint(rgb, scene: Scene, amount: float = 1.0):
    """Colours as they look by moonlight (dim and blue) or at dusk (warm)."""
    if scene.time == "night":
        r, g, b = rgb
        return mix(rgb, (int(r * 0.42), int(g * 0.48), int(b * 0.72 + 30)), amount)
    if scene.time == "dusk":
        return mix(rgb, (rgb[0], int(rgb[1] * 0.86), int(rgb[2] * 0.8)), amount)
    return tuple(rgb)


def backdrop(image, scene: Scene, rng: random.Random) -> int:
    """Paint the scene behind the people; return the y where their feet stand."""
    if scene.indoor:
        return _room(image, scene, rng)
    w, h = image.size
    horizon = int(h * 0.62)
    top, bottom = SKIES[(scene.time, scene.weather)]
    image.paste(gradient(w, horizon + 2, top, bottom), (0, 0))
    pen = Pen(image, line=max(1.0, w / 600))
    _sky(pen, w, horizon, scene, rng)
    _distance(pen, w, h, horizon, scene, rng)
    ground = (248, 249, 252) if scene.weather == "snow" else GROUNDS[scene.season]
    if scene.weather in ("rain", "storm"):
        ground = mix(ground, (150, 156, 150), 0.35 if scene.weather == "rain" else 0.25)
    ground = night_tint(ground, scene, 0.7 if scene.weather == "snow" else 1.0)
    if scene.place == "sea":
        _sea(pen, w, h, horizon, scene)
    else:
        pen.polygon(_hill_line(w, h, horizon, rng), soft(ground, 0.05), outline=False)
        if scene.place == "river":
            _river(pen, w, h, horizon, scene)
    feet = int(h * 0.9)
    _trees(pen, w, h, horizon, feet, scene, rng)
    _ground_details(pen, w, h, horizon, scene, rng)
    return feet


def weather(image, scene: Scene, rng: random.Random, box: tuple[int, int, int, int] | None = None,
            faces: list[tuple[float, float, float]] = ()) -> None:
    """Snowflakes or rain in front of everything, inside ``box`` (the whole page by default).
    ``faces`` are circles (x, y, radius) of the people's heads: a flake there would read as a white
    spot on a cheek or a lens, so flakes that would touch a face are left out (the random draws
    still happen, so the rest of the page stays the same)."""
    x0, y0, x1, y1 = box or (0, 0, *image.size)
    pen = Pen(image)
    area = (x1 - x0) * (y1 - y0)
    unit = max(1.0, image.size[0] / 512)
    if scene.weather == "snow":
        for _ in range(int(area / (2600 * unit * unit)) + 6):
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
            r = unit * rng.choice((2.2, 2.8, 3.4, 4.2, 5.4))
            if any((x - fx) ** 2 + (y - fy) ** 2 < (fr + r + unit) ** 2 for fx, fy, fr in faces):
                continue
            pen.draw.ellipse([x - r - unit, y - r - unit, x + r + unit, y + r + unit], fill=(255, 255, 255, 70))
            pen.draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 255, 240))
    elif scene.weather == "storm":  # wind: streaks and leaves blown sideways
        colour = (236, 238, 242, 150) if scene.time != "night" else (150, 160, 190, 140)
        for _ in range(int(area / (9000 * unit * unit)) + 4):
            x, y = rng.uniform(x0, x1), rng.uniform(y0, (y0 + y1) / 2)
            length = unit * rng.uniform(30, 60)
            pen.draw.arc([x, y, x + length, y + length * 0.3], 200, 340, fill=colour, width=max(1, int(unit * 1.6)))
        for _ in range(int(area / (30000 * unit * unit)) + 3):
            x, y, r = rng.uniform(x0, x1), rng.uniform(y0, y1), unit * 3.2
            pen.draw.ellipse([x - r * 1.6, y - r, x + r * 1.6, y + r], fill=(170, 120, 70, 220))
    elif scene.weather == "rain":
        colour = (214, 226, 240, 190) if scene.time != "night" else (170, 186, 214, 170)
        for _ in range(int(area / (1500 * unit * unit)) + 6):
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
            length = unit * rng.uniform(14, 24)
            pen.draw.line([(x, y), (x - length * 0.25, y + length)], fill=colour, width=max(1, int(unit * 1.6)))


# -- outdoors ----------------------------------------------------------------------------------
def _sky(pen: Pen, w: int, horizon: int, scene: Scene, rng: random.Random) -> None:
    unit = w / 512
    if scene.time == "night":
        if scene.weather not in ("rain", "storm"):
            for _ in range(int(46 if scene.weather == "clear" else 18)):
                x, y, r = rng.uniform(0, w), rng.uniform(0, horizon * 0.8), unit * rng.choice((1.4, 1.8, 2.6))
                pen.draw.ellipse([x - r, y - r, x + r, y + r], fill=STAR + (230,))
                if r > 2 * unit:
                    pen.draw.line([(x - 3 * r, y), (x + 3 * r, y)], fill=STAR + (120,), width=max(1, int(unit)))
                    pen.draw.line([(x, y - 3 * r), (x, y + 3 * r)], fill=STAR + (120,), width=max(1, int(unit)))
            mx, my, mr = w * rng.uniform(0.66, 0.84), horizon * rng.uniform(0.16, 0.26), unit * 30
            for k in range(5, 0, -1):  # a soft glow around the moon
                g = mr * (1 + 0.28 * k)
                pen.draw.ellipse([mx - g, my - g, mx + g, my + g], fill=(200, 210, 240, 12))
            _crescent(pen.image, mx, my, mr)
        for _ in range(2 if scene.weather != "clear" else 1):
            _cloud(pen, rng.uniform(0, w * 0.3), horizon * rng.uniform(0.3, 0.5), unit * 26, (70, 78, 120, 150), rng)
        if scene.weather == "storm":  # a night of heavy clouds hides the moon and the stars
            for i in range(7):
                _cloud(pen, w * (i / 6) + rng.uniform(-20, 20) * unit, horizon * rng.uniform(0.05, 0.3), unit * 46,
                       (44, 50, 72, 240), rng)
        return
    if scene.weather in ("rain", "storm"):  # a sky full of heavy clouds, no sun
        for i in range(7):
            _cloud(pen, w * (i / 6) + rng.uniform(-20, 20) * unit, horizon * rng.uniform(0.05, 0.3), unit * 46,
                   (128, 134, 148, 235), rng)
        return
    if scene.weather == "clear":
        sun = (250, 222, 150) if scene.time == "day" else (248, 170, 120)
        sx = w * rng.choice((0.18, 0.8))
        sy = horizon * (0.22 if scene.time == "day" else 0.84)
        r = unit * 26
        for k in range(4, 0, -1):
            pen.draw.ellipse([sx - r * (1 + 0.3 * k), sy - r * (1 + 0.3 * k), sx + r * (1 + 0.3 * k),
                              sy + r * (1 + 0.3 * k)], fill=sun + (22,))
        pen.circle(sx, sy, r, sun, outline=False)
    for _ in range(rng.randint(2, 3)):
        colour = (252, 252, 250, 230) if scene.weather == "clear" else (238, 240, 244, 230)
        _cloud(pen, rng.uniform(0, w * 0.75), horizon * rng.uniform(0.1, 0.4), unit * 20, colour, rng)


def _crescent(image, x: float, y: float, r: float) -> None:
    """A crescent moon: a disc with a smaller disc taken out of it (a mask, so the sky shows through)."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", image.size, 0)
    draw = ImageDraw.Draw(mask)
    draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    cx, cy, cr = x + r * 0.42, y - r * 0.22, r * 0.84
    draw.ellipse([cx - cr, cy - cr, cx + cr, cy + cr], fill=0)
    image.paste(Image.new("RGB", image.size, MOON), (0, 0), mask)


def _cloud(pen: Pen, x: float, y: float, r: float, colour, rng: random.Random) -> None:
    for i in range(4):
        cx, cy = x + i * r * 0.85, y + rng.uniform(-0.25, 0.25) * r - (r * 0.3 if i in (1, 2) else 0)
        pen.draw.ellipse([cx - r, cy - r * 0.72, cx + r, cy + r * 0.72], fill=colour)


def _hill_line(w: int, h: int, horizon: int, rng: random.Random, amp: float = 0.025):
    phase, freq = rng.uniform(0, 6.28), rng.uniform(1.2, 2.2)
    top = [(x, horizon + math.sin(phase + freq * x / w * 6.28) * h * amp) for x in range(0, w + 16, 16)]
    return top + [(w, h), (0, h)]


def _distance(pen: Pen, w: int, h: int, horizon: int, scene: Scene, rng: random.Random) -> None:
    far = night_tint((150, 172, 196) if scene.season != "autumn" else (176, 160, 170), scene)
    if scene.weather == "rain":
        far = mix(far, (170, 172, 180), 0.5)
    if scene.place == "mountain":
        for k, (cx, peak) in enumerate(((0.25, 0.22), (0.62, 0.14), (0.92, 0.3))):
            x, top = w * (cx + rng.uniform(-0.05, 0.05)), horizon - h * (0.3 - peak)
            shade = mix(far, (255, 255, 255), 0.12 * k)
            base = [(x - w * 0.38, horizon + 4), (x - w * 0.04, top + h * 0.01), (x, top), (x + w * 0.04, top + h * 0.01),
                    (x + w * 0.38, horizon + 4)]
            pen.polygon(base, shade)
            if scene.season == "winter":
                pen.polygon([(x - w * 0.07, top + h * 0.05), (x, top), (x + w * 0.07, top + h * 0.05),
                             (x + w * 0.02, top + h * 0.04), (x - w * 0.02, top + h * 0.06)],
                            night_tint((250, 250, 252), scene, 0.6), outline=False)
    elif scene.place != "sea":
        pen.polygon(_hill_line(w, h, int(horizon - h * 0.05), rng, 0.03), soft(far, 0.2), outline=False)
    if scene.place == "forest" or (scene.place == "mountain" and rng.random() < 0.5):
        tree = night_tint((92, 136, 110) if scene.season != "autumn" else (170, 120, 70), scene)
        x = -w * 0.02
        while x < w:
            size = h * rng.uniform(0.12, 0.2)
            _pine(pen, x, horizon + h * 0.01, size, tree, scene)
            x += size * rng.uniform(0.35, 0.6)


def _pine(pen: Pen, x: float, base: float, size: float, colour, scene: Scene) -> None:
    pen.rounded(x - size * 0.04, base - size * 0.2, x + size * 0.04, base, size * 0.02, darker(colour, 0.7))
    for k in range(3):
        top = base - size * (1.0 - 0.24 * k)
        bottom = base - size * (0.12 + 0.26 * (2 - k) * 0.5)
        half = size * (0.18 + 0.08 * k)
        pen.polygon([(x, top), (x + half, bottom), (x - half, bottom)], colour)
        if scene.weather == "snow":
            white = night_tint((250, 250, 252), scene, 0.5)
            pen.polygon([(x, top), (x + half * 0.45, top + (bottom - top) * 0.45), (x, top + (bottom - top) * 0.32),
                         (x - half * 0.45, top + (bottom - top) * 0.45)], white, outline=False)


def _sea(pen: Pen, w: int, h: int, horizon: int, scene: Scene) -> None:
    water = night_tint((110, 168, 204) if scene.weather == "clear" else (128, 150, 168), scene)
    sand = night_tint((236, 216, 172) if scene.weather != "snow" else (246, 246, 250), scene)
    pen.polygon([(0, horizon), (w, horizon), (w, h * 0.76), (0, h * 0.8)], water, outline=False)
    for k in range(6):
        y = horizon + (h * 0.78 - horizon) * (k + 0.5) / 6
        pts = [(x, y + math.sin(x / (w / 18) + k) * h * 0.004) for x in range(0, w + 8, 8)]
        pen.draw.line(pts, fill=mix(water, (255, 255, 255), 0.45) + (200,), width=max(1, pen.line))
    pen.polygon([(0, h * 0.8), (w, h * 0.76), (w, h), (0, h)], sand)


def _river(pen: Pen, w: int, h: int, horizon: int, scene: Scene) -> None:
    water = night_tint((130, 180, 212) if scene.weather != "snow" else (170, 190, 210), scene)
    left = [(w * 0.52 + math.sin(t * 3) * w * 0.08 - w * (0.02 + 0.25 * t), horizon + (h - horizon) * t)
            for t in (i / 10 for i in range(11))]
    right = [(w * 0.52 + math.sin(t * 3) * w * 0.08 + w * (0.02 + 0.25 * t), horizon + (h - horizon) * t)
             for t in (i / 10 for i in range(10, -1, -1))]
    pen.polygon(left + right, water)


def _trees(pen: Pen, w: int, h: int, horizon: int, feet: int, scene: Scene, rng: random.Random) -> None:
    if scene.place == "sea":
        return
    side = rng.choice((0.13, 0.87))
    big = scene.persimmon or scene.place in ("garden", "river")
    if big:
        _leafy_tree(pen, w * side, feet - h * 0.03, h * 0.62, scene, rng)
    if scene.place == "forest":
        tree = night_tint((70, 120, 92), scene)
        for x in (w * (1 - side) + rng.uniform(-0.04, 0.04) * w, w * (0.5 + (side - 0.5) * 0.3)):
            _pine(pen, x, feet - h * 0.08, h * rng.uniform(0.42, 0.5), tree, scene)


def _leafy_tree(pen: Pen, x: float, base: float, size: float, scene: Scene, rng: random.Random) -> None:
    bark = night_tint((124, 92, 68), scene)
    pen.polygon([(x - size * 0.05, base), (x - size * 0.03, base - size * 0.55), (x + size * 0.03, base - size * 0.55),
                 (x + size * 0.06, base)], bark)
    for sign in (-1, 1):
        pen.limb((x, base - size * 0.45), (x + sign * size * 0.2, base - size * 0.66), size * 0.035, bark)
    leaves = {"spring": (246, 196, 206), "summer": (118, 168, 100), "autumn": (190, 160, 78),
              "winter": (0, 0, 0)}[scene.season]
    crown = []
    if scene.season == "winter":  # bare branches, snow along them
        for sign in (-1, 1, -0.5, 0.5):
            pen.limb((x, base - size * 0.6), (x + sign * size * 0.3, base - size * rng.uniform(0.8, 0.95)),
                     size * 0.02, bark)
        if scene.weather == "snow":
            white = night_tint((250, 250, 252), scene, 0.5)
            for sign in (-1, 1):
                pen.ellipse(x + sign * size * 0.12, base - size * 0.7, size * 0.08, size * 0.02, white, outline=False)
        return
    for _ in range(9):
        cx, cy = x + rng.uniform(-0.28, 0.28) * size, base - size * rng.uniform(0.62, 0.9)
        crown.append((cx, cy, size * rng.uniform(0.14, 0.2)))
    shades = {c: night_tint(mix(leaves, (255, 255, 255), rng.uniform(0, 0.15)), scene) for c in crown}
    pen.blobs(crown, lambda cx, cy, r: shades[(cx, cy, r)])
    if scene.weather == "snow":
        for cx, cy, r in crown:
            pen.ellipse(cx, cy - r * 0.6, r * 0.7, r * 0.35, night_tint((250, 250, 252), scene, 0.5), outline=False)
    if scene.persimmon and scene.season in ("autumn", "winter", "summer"):
        for _ in range(12):  # persimmons hang at the crown's edges
            cx, cy, r = rng.choice(crown)
            angle = rng.uniform(0, 6.28)
            fx, fy = cx + math.cos(angle) * r * 0.75, cy + abs(math.sin(angle)) * r * 0.7
            fr = size * 0.032
            pen.circle(fx, fy, fr, night_tint(PERSIMMON, scene, 0.6))
            pen.draw.ellipse([fx - fr * 0.5, fy - fr * 1.15, fx + fr * 0.5, fy - fr * 0.75],
                             fill=night_tint((90, 120, 60), scene))
    if scene.season == "spring":
        for cx, cy, r in crown:
            for _ in range(3):
                bx, by = cx + rng.uniform(-0.7, 0.7) * r, cy + rng.uniform(-0.7, 0.7) * r
                pen.circle(bx, by, size * 0.012, (255, 244, 246), outline=False)


def _ground_details(pen: Pen, w: int, h: int, horizon: int, scene: Scene, rng: random.Random) -> None:
    unit = w / 512
    top = horizon + h * 0.06 if scene.place != "sea" else h * 0.82
    for _ in range(18):
        x, y = rng.uniform(0, w), rng.uniform(top, h * 0.98)
        if scene.weather == "snow":
            pen.ellipse(x, y, unit * rng.uniform(10, 22), unit * 3, night_tint((226, 232, 244), scene, 0.6), outline=False)
        elif scene.weather == "rain":
            pen.ellipse(x, y, unit * rng.uniform(16, 30), unit * 4.5, night_tint((150, 170, 196), scene), outline=False)
            pen.ellipse(x - unit * 4, y - unit, unit * 6, unit * 1.2, night_tint((214, 226, 240), scene), outline=False)
        elif scene.season == "spring":
            colour = rng.choice(((246, 170, 186), (252, 226, 120), (255, 255, 255)))
            pen.circle(x, y, unit * 3.2, night_tint(colour, scene))
        elif scene.season == "autumn":
            pen.ellipse(x, y, unit * 5, unit * 2.6, night_tint(rng.choice(((226, 128, 60), (214, 170, 70))), scene))
        elif scene.place == "sea":
            pen.ellipse(x, y, unit * 3, unit * 2, night_tint((246, 236, 224), scene))
        else:
            grass = night_tint(darker(GROUNDS[scene.season], 0.8), scene)
            for dx in (-3, 0, 3):
                pen.draw.line([(x + dx * unit, y), (x + dx * unit * 1.6, y - unit * 7)], fill=grass,
                              width=max(1, int(unit * 1.5)))


# -- indoors -----------------------------------------------------------------------------------
def _room(image, scene: Scene, rng: random.Random) -> int:
    w, h = image.size
    floor_y = int(h * 0.7)
    wall = (244, 226, 198) if scene.place == "room" else (236, 226, 206)
    dim = 0.35 if scene.time == "night" else 0.0
    image.paste(gradient(w, floor_y, mix(wall, (120, 100, 110), dim), mix(wall, (150, 120, 110), dim * 0.6)), (0, 0))
    pen = Pen(image, line=max(1.0, w / 600))
    for y in range(int(h * 0.06), floor_y, int(h * 0.06)):  # wallpaper: a quiet pattern of small dots
        for x in range(int(w * 0.03) + (y // int(h * 0.06)) % 2 * int(w * 0.03), w, int(w * 0.06)):
            pen.draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=darker(wall, 0.9) + (90,))
    floor = (222, 178, 106) if scene.place == "room" else (196, 150, 104)  # 장판 yellow in a room, wood in a kitchen
    floor = mix(floor, (90, 70, 70), dim)
    pen.polygon([(0, floor_y), (w, floor_y), (w, h), (0, h)], floor)
    for k in range(1, 6):
        y = floor_y + (h - floor_y) * k / 6
        pen.draw.line([(0, y), (w, y)], fill=darker(floor, 0.9), width=max(1, pen.line // 2))
    side = rng.choice((0.08, 0.6))
    wx0, wy0, wx1, wy1 = w * side, h * 0.1, w * (side + 0.32), h * 0.44
    _window(image, pen, (int(wx0), int(wy0), int(wx1), int(wy1)), scene, rng)
    if scene.place == "kitchen":
        _kitchen(pen, w, h, floor_y, 0.68 if side < 0.5 else 0.06, scene)
    else:
        _room_things(pen, w, h, floor_y, 0.7 if side < 0.5 else 0.08, scene)
    lx = w * (0.5 if side > 0.5 else 0.46)
    pen.draw.line([(lx, 0), (lx, h * 0.08)], fill=(90, 70, 60), width=max(1, pen.line))
    pen.polygon([(lx - w * 0.05, h * 0.13), (lx - w * 0.025, h * 0.08), (lx + w * 0.025, h * 0.08),
                 (lx + w * 0.05, h * 0.13)], (236, 196, 130))
    glow = 40 if scene.time == "night" else 18
    for k in range(8, 0, -1):  # the lamp's warm light spreads over the room
        r = w * 0.07 * k
        pen.draw.ellipse([lx - r, h * 0.15 - r * 0.8, lx + r, h * 0.15 + r * 0.8], fill=WARM_LIGHT + (glow // 3,))
    return int(h * 0.92)


def _window(image, pen: Pen, box, scene: Scene, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    top, bottom = SKIES[(scene.time, scene.weather)]
    image.paste(gradient(x1 - x0, y1 - y0, top, bottom), (x0, y0))
    if scene.time == "night" and scene.weather != "rain":
        for _ in range(8):
            x, y, r = rng.uniform(x0, x1), rng.uniform(y0, y1), 2.0 * pen.line / 2
            pen.draw.ellipse([x - r, y - r, x + r, y + r], fill=STAR)
        mx, my, mr = x0 + (x1 - x0) * 0.7, y0 + (y1 - y0) * 0.3, (x1 - x0) * 0.1
        pen.circle(mx, my, mr, MOON, outline=False)
    if scene.persimmon and scene.weather != "snow":
        for _ in range(4):
            fx, fy = rng.uniform(x0, x0 + (x1 - x0) * 0.5), rng.uniform(y0 + (y1 - y0) * 0.5, y1)
            pen.circle(fx, fy, (x1 - x0) * 0.035, PERSIMMON)
    if scene.weather == "snow":
        ground = night_tint((248, 249, 252), scene, 0.6)
        pen.polygon([(x0, y1 - (y1 - y0) * 0.2), (x1, y1 - (y1 - y0) * 0.28), (x1, y1), (x0, y1)], ground, outline=False)
    weather(image, scene, rng, box)
    frame = (150, 110, 80)
    bar = max(2, (x1 - x0) // 28)
    for rect in ((x0 - bar, y0 - bar, x1 + bar, y0), (x0 - bar, y1, x1 + bar, y1 + bar * 2), (x0 - bar, y0, x0, y1),
                 (x1, y0, x1 + bar, y1), ((x0 + x1) // 2 - bar // 2, y0, (x0 + x1) // 2 + bar // 2, y1),
                 (x0, (y0 + y1) // 2 - bar // 2, x1, (y0 + y1) // 2 + bar // 2)):
        pen.rounded(*rect, 1, frame)


def _kitchen(pen: Pen, w: int, h: int, floor_y: int, at: float, scene: Scene) -> None:
    x0, x1, top = w * at, w * (at + 0.28), h * 0.5
    pen.rounded(x0, top, x1, floor_y + h * 0.04, 4, (214, 200, 178))
    pen.rounded(x0 - w * 0.01, top - h * 0.02, x1 + w * 0.01, top + h * 0.01, 3, (190, 160, 130))
    cx = (x0 + x1) / 2
    pot = (110, 96, 92)
    pen.rounded(cx - w * 0.07, top - h * 0.1, cx + w * 0.07, top - h * 0.02, 10, pot)  # a 뚝배기 on the stove
    pen.rounded(cx - w * 0.08, top - h * 0.115, cx + w * 0.08, top - h * 0.095, 4, darker(pot, 0.85))
    for k, dx in enumerate((-0.03, 0.0, 0.03)):  # steam: the smell of the stew rising
        pts = [(cx + w * dx + math.sin(t * 1.3 + k) * w * 0.012, top - h * 0.13 - t * h * 0.025) for t in range(6)]
        pen.draw.line(pts, fill=(255, 255, 255, 170), width=max(2, pen.line * 2), joint="curve")


def _room_things(pen: Pen, w: int, h: int, floor_y: int, at: float, scene: Scene) -> None:
    x0 = w * at
    table = (168, 116, 78)  # a low 소반 table
    pen.rounded(x0, floor_y + h * 0.03, x0 + w * 0.22, floor_y + h * 0.055, 4, table)
    for dx in (0.02, 0.18):
        pen.rounded(x0 + w * dx, floor_y + h * 0.05, x0 + w * (dx + 0.02), floor_y + h * 0.11, 2, darker(table, 0.85))
    pen.rounded(x0 + w * 0.07, floor_y - h * 0.005, x0 + w * 0.15, floor_y + h * 0.03, 6, (246, 236, 214))
    blanket = (232, 150, 150) if scene.time == "night" else (236, 196, 120)
    for k in range(3):  # folded 이불 stacked by the wall
        pen.rounded(w * (at + 0.02), floor_y - h * (0.05 + 0.045 * k), w * (at + 0.22), floor_y - h * (0.01 + 0.045 * k),
                    8, mix(blanket, (255, 255, 255), 0.2 * k))
