"""People as a picture book draws them: a child is small with a big round head, an elder has
grey or white hair (a bun, a perm, short), glasses when the sheet says so; everyone wears the
clothes and colours their character sheet names, and has eyes, rosy cheeks and a smile.

``draw_figure`` returns the person's box on the canvas, so callers (and tests) know where each
one stands.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from studio.backends.offline_art.canvas import Pen, darker, mix, soft
from studio.backends.offline_art.words import Look

SKIN = (247, 214, 186)
EYE = (62, 46, 40)
CHEEK = (240, 150, 150, 110)
HEIGHTS = {"child": 0.36, "adult": 0.56, "elder": 0.53}  # of the page height
HEADS = {"child": 0.15, "adult": 0.1, "elder": 0.105}  # head radius as a share of the body height


@dataclass
class Reach:
    """Where a hand goes: towards a neighbour's hand (holding hands), up (waving), or down."""

    left: tuple[float, float] | None = None
    right: tuple[float, float] | None = None


def height_of(look: Look, page_h: float) -> float:
    if look.kind != "person":
        return page_h * 0.2
    h = HEIGHTS[look.age] * page_h
    return h * (1.04 if look.sex == "m" and look.age != "child" else 1.0)


@dataclass
class Body:
    """Where a person's head, neck, shoulders and hips are; seated people are lowered onto the seat."""

    r: float
    head_y: float
    neck: float
    shoulder: float
    hip: float
    seated: bool


def body_of(look: Look, feet: float, h: float, seat: float | None = None) -> Body:
    r = HEADS[look.age] * h
    child = look.age == "child"
    head_y = feet - h + r
    torso = h * (0.25 if child else 0.3)
    hip = head_y + r * 0.95 + torso
    drop = seat - hip if seat is not None else 0.0  # down onto the seat (a small child climbs up onto it)
    head_y += drop
    return Body(r, head_y, head_y + r * 0.95, r * (1.15 if child else 1.45), hip + drop, seat is not None)


def seat_height(looks: list[Look], feet: float, heights: list[float]) -> float:
    """A bench's top: where a grown-up's hips come to rest when sitting (a child's feet may dangle)."""
    hips = [body_of(look, feet, h).hip for look, h in zip(looks, heights) if look.kind == "person"]
    return feet - (feet - min(hips, default=feet - 1)) * 0.58


def hand_rest(look: Look, cx: float, feet: float, h: float, side: int, seat: float | None = None) -> tuple[float, float]:
    """Where a hand hangs when it is not reaching for anything (on the lap when seated)."""
    if look.kind != "person":
        return cx + side * h * 0.5, feet - h * 0.5
    r = HEADS[look.age] * h
    if seat is not None:
        return cx + side * r * 1.1, body_of(look, feet, h, seat).hip - r * 0.15
    return cx + side * r * (1.9 if look.age == "child" else 1.7), feet - h * (0.42 if look.age == "child" else 0.47)


def hug_points(look: Look, cx: float, feet: float, h: float, side: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """An arm round this person's shoulders, from the ``-side`` side: the elbow over the near shoulder,
    the hand on the far one, below the chin."""
    body = body_of(look, feet, h)
    near = (cx - side * body.shoulder * 0.9, body.neck + body.r * 0.25)
    far = (cx + side * body.shoulder * 0.75, body.neck + body.r * 0.55)
    return near, far


def waist_of(look: Look, cx: float, feet: float, h: float, side: int) -> tuple[float, float]:
    """Where a small hugging arm lands on a grown-up: round the waist, a little past the middle."""
    body = body_of(look, feet, h)
    return cx + side * body.shoulder * 0.25, body.hip + body.r * 0.4


def draw_figure(pen: Pen, look: Look, cx: float, feet: float, h: float, reach: Reach | None = None,
                tint=lambda c: c, seat: float | None = None) -> tuple[int, int, int, int]:
    if look.kind != "person":
        return _pet(pen, look, cx, feet, h, tint)
    reach = reach or Reach()
    body = body_of(look, feet, h, seat)
    r, head_y, neck, shoulder, hip = body.r, body.head_y, body.neck, body.shoulder, body.hip
    if body.seated:  # legs too short for the seat dangle above the ground
        feet = min(feet, hip + (feet - body_of(look, feet, h).hip) * 0.62)
    child = look.age == "child"
    torso = hip - neck
    knee = hip + r * (0.45 if child else 0.55)  # seated: thighs come towards us, shins go down
    skin = tint(SKIN if look.age != "elder" else (242, 208, 182))
    top, bottom = tint(soft(look.top)), tint(soft(look.bottom))
    limb_w = r * (0.42 if child else 0.4)

    # hair that falls behind the head and shoulders
    hair = tint(look.hair_colour)
    if look.hair_style == "long":
        pen.rounded(cx - r * 1.05, head_y - r * 0.6, cx + r * 1.05, neck + r * 0.9, r * 0.8, hair)
    # legs and shoes
    hem = feet - h * (0.03 if look.hanbok and look.dress else 0.16 if look.dress else 0.0)
    if body.seated:
        hem = min(hem, knee + r * (0.9 if look.hanbok else 0.5))
    for side in (-1, 1):
        x = cx + side * shoulder * (0.38 if child else 0.42)
        if body.seated:
            if not look.dress:  # the lap: two foreshortened thighs
                pen.limb((x, hip - r * 0.2), (x + side * r * 0.1, knee), limb_w * (1.6 if child else 1.8), bottom)
            pen.limb((x + side * r * 0.1, knee), (x + side * r * 0.1, feet - r * 0.2), limb_w * (1.1 if child else 1.2),
                     bottom if not look.dress else skin if not look.hanbok else tint((246, 244, 236)))
        elif not look.dress:
            pen.limb((x, hip - r * 0.2), (x, feet - r * 0.2), limb_w * (1.3 if child else 1.5), bottom)
        else:
            pen.limb((x, hem - r * 0.3), (x, feet - r * 0.2), limb_w * 0.8, skin if not look.hanbok else tint((246, 244, 236)))
        pen.ellipse(x + side * r * 0.1, feet - r * 0.1, r * 0.36, r * 0.2, tint((96, 72, 62)))
    # body: one long garment (dress, hanbok chima) or a top over trousers
    if look.dress:
        waist = neck + torso * (0.35 if look.hanbok else 0.5)
        flare = shoulder * (2.1 if look.hanbok else 1.55)
        pen.polygon([(cx - shoulder * 0.7, waist), (cx + shoulder * 0.7, waist), (cx + flare, hem), (cx - flare, hem)], bottom)
        top_end = waist + r * 0.15
    else:
        top_end = hip + r * 0.15
    pen.polygon([(cx - shoulder, neck + r * 0.15), (cx + shoulder, neck + r * 0.15),
                 (cx + shoulder * (0.98 if not look.dress else 0.78), top_end),
                 (cx - shoulder * (0.98 if not look.dress else 0.78), top_end)], top)
    pen.circle(cx - shoulder * 0.82, neck + r * 0.35, r * 0.38, top, outline=False)
    pen.circle(cx + shoulder * 0.82, neck + r * 0.35, r * 0.38, top, outline=False)
    if not look.dress and not look.hanbok and look.age != "child":  # a collar and buttons: a shirt, not a box
        collar = tint((248, 244, 236))
        pen.polygon([(cx - r * 0.4, neck + r * 0.12), (cx + r * 0.4, neck + r * 0.12), (cx, neck + r * 0.85)], collar)
        for k in range(3):
            pen.circle(cx, neck + r * (1.15 + 0.45 * k), r * 0.07, darker(top, 0.75), outline=False)
    if look.stripes:
        for k in range(1, 4):
            y = neck + (top_end - neck) * k / 4
            pen.draw.line([(cx - shoulder, y), (cx + shoulder, y)], fill=mix(top, (255, 255, 255), 0.5),
                          width=max(1, int(r * 0.12)))
    if look.hanbok:  # the jeogori's ribbon (고름)
        ribbon = tint((212, 84, 92)) if look.top[0] < 200 or look.top[1] > 150 else tint((120, 110, 190))
        pen.limb((cx + r * 0.1, neck + r * 0.6), (cx + r * 0.35, neck + r * 1.5), r * 0.16, ribbon)
        pen.limb((cx + r * 0.1, neck + r * 0.6), (cx - r * 0.05, neck + r * 1.6), r * 0.16, ribbon)
    if look.apron:
        pen.rounded(cx - shoulder * 0.7, neck + r * 0.9, cx + shoulder * 0.7, (hem if look.dress else hip) - r * 0.2,
                    r * 0.2, tint(soft(look.apron)))
    for side, target in ((-1, reach.left), (1, reach.right)):
        draw_arm(pen, look, cx, feet, h, side, target or hand_rest(look, cx, feet, h, side, seat), tint, seat)
    if look.scarf:
        scarf = tint(soft(look.scarf))
        pen.rounded(cx - r * 0.75, neck - r * 0.05, cx + r * 0.75, neck + r * 0.35, r * 0.18, scarf)
        pen.rounded(cx + r * 0.2, neck + r * 0.2, cx + r * 0.55, neck + r * 1.3, r * 0.12, scarf)
    pen.rounded(cx - r * 0.28, neck - r * 0.3, cx + r * 0.28, neck + r * 0.2, r * 0.1, skin, outline=False)
    _head(pen, look, cx, head_y, r, skin, hair, tint)
    box = (cx - max(shoulder * 2.2, r * 1.3), head_y - r * 1.6, cx + max(shoulder * 2.2, r * 1.3), feet + r * 0.2)
    for hand in (reach.left, reach.right):
        if hand:
            box = (min(box[0], hand[0] - r * 0.3), min(box[1], hand[1] - r * 0.3), max(box[2], hand[0] + r * 0.3), box[3])
    return tuple(int(v) for v in box)  # type: ignore[return-value]


def draw_arm(pen: Pen, look: Look, cx: float, feet: float, h: float, side: int, hand: tuple[float, float],
             tint=lambda c: c, seat: float | None = None, elbow: tuple[float, float] | None = None) -> None:
    """A sleeve in the top's colour from the shoulder to the hand (drawn again on top for a hug)."""
    body = body_of(look, feet, h, seat)
    r = body.r
    limb_w = r * (0.42 if look.age == "child" else 0.4)
    skin = tint(SKIN if look.age != "elder" else (242, 208, 182))
    start = (cx + side * body.shoulder * 0.82, body.neck + r * 0.4)
    elbow = elbow or (start[0] + (hand[0] - start[0]) * 0.55 + side * r * 0.15, start[1] + (hand[1] - start[1]) * 0.55)
    pen.limbs([start, elbow, hand], limb_w * 1.1, tint(soft(look.top)))
    pen.circle(hand[0], hand[1], limb_w * 0.62, skin)


def _head(pen: Pen, look: Look, cx: float, cy: float, r: float, skin, hair, tint) -> None:
    style = look.hair_style
    if style == "bun":
        pen.circle(cx, cy - r * 1.05, r * 0.48, hair)
        if look.hanbok or look.age == "elder":  # a 비녀 pin through the bun
            pen.limb((cx - r * 0.75, cy - r * 1.0), (cx + r * 0.75, cy - r * 1.1), r * 0.1, tint((200, 170, 90)))
    if style == "pigtails":
        for side in (-1, 1):
            pen.circle(cx + side * r * 1.15, cy + r * 0.1, r * 0.38, hair)
            pen.circle(cx + side * r * 0.95, cy - r * 0.15, r * 0.12, tint((226, 96, 110)))
    ear_y = cy + r * 0.1
    for side in (-1, 1):
        pen.circle(cx + side * r * 0.96, ear_y, r * 0.2, skin)
    pen.ellipse(cx, cy, r, r * 1.02, skin)
    # hair on top: a cap with a fringe, curls for a perm, tufts at the sides when bald
    if style == "curly":
        for k in range(11):
            angle = 3.14159 * (k / 10)
            x = cx - r * 0.95 * math.cos(angle)
            y = cy - r * 0.35 - r * 0.72 * math.sin(angle)
            pen.circle(x, y, r * 0.3, hair)
    elif style == "bald":
        for side in (-1, 1):
            pen.ellipse(cx + side * r * 0.85, cy - r * 0.1, r * 0.22, r * 0.35, hair)
    else:
        fringe = {"bowl": 0.25, "short": 0.0, "bun": -0.05, "long": 0.05, "pigtails": 0.0}.get(style, 0.0)
        pen.draw.chord([cx - r * 1.04, cy - r * 1.1, cx + r * 1.04, cy + r * (0.55 + fringe)], 180, 360, fill=hair,
                       outline=darker(hair), width=pen.line)
        if style == "short":  # a few tufts along the hairline
            for k in range(5):
                tx = cx - r * 0.7 + k * r * 0.35
                pen.draw.ellipse([tx - r * 0.22, cy - r * 0.62, tx + r * 0.22, cy - r * 0.3], fill=hair)
        if style in ("short", "bowl"):  # hair down over the temples, so it is not a cap
            for side in (-1, 1):
                pen.draw.chord([cx + side * r * 0.62 - r * 0.42, cy - r * 0.75, cx + side * r * 0.62 + r * 0.42,
                                cy + r * 0.2], 0, 360, fill=hair)
            pen.draw.arc([cx - r * 1.04, cy - r * 1.1, cx + r * 1.04, cy + r * (0.55 + fringe)], 180, 360,
                         fill=darker(hair), width=pen.line)
        if style in ("short", "bun", "long", "pigtails"):  # a side parting so it reads as hair, not a helmet
            pen.draw.line([(cx - r * 0.2, cy - r * 1.02), (cx + r * 0.15, cy - r * 0.45)], fill=darker(hair, 0.8),
                          width=pen.line)
    if look.hat:
        hat = tint(soft(look.hat))
        pen.draw.chord([cx - r * 1.08, cy - r * 1.3, cx + r * 1.08, cy + r * 0.2], 180, 360, fill=hat,
                       outline=darker(hat), width=pen.line)
        pen.rounded(cx - r * 1.1, cy - r * 0.6, cx + r * 1.1, cy - r * 0.3, r * 0.12, darker(hat, 0.9))
        pen.circle(cx, cy - r * 1.3, r * 0.22, mix(hat, (255, 255, 255), 0.5))
    _face(pen, look, cx, cy, r, tint)


def _face(pen: Pen, look: Look, cx: float, cy: float, r: float, tint) -> None:
    eye_y, gap = cy + r * 0.12, r * 0.38
    line = max(1, int(r * 0.09))
    for side in (-1, 1):
        ex = cx + side * gap
        if look.age == "elder":  # smiling eyes: gentle arcs
            pen.arc(ex, eye_y + r * 0.05, r * 0.14, r * 0.11, 200, 340, tint(EYE), line)
            pen.arc(ex + side * r * 0.05, eye_y - r * 0.32, r * 0.16, r * 0.08, 200, 340, tint(darker(look.hair_colour, 0.8)),
                    max(1, line))
        else:
            er = r * (0.12 if look.age == "child" else 0.095)
            pen.ellipse(ex, eye_y, er, er * 1.2, tint(EYE), outline=False)
            pen.circle(ex + er * 0.35, eye_y - er * 0.45, er * 0.35, (255, 255, 255), outline=False)
        pen.draw.ellipse([ex + side * r * 0.12 - r * 0.17, eye_y + r * 0.22, ex + side * r * 0.12 + r * 0.17,
                          eye_y + r * 0.4], fill=CHEEK)
    if look.age != "child":
        pen.arc(cx, cy + r * 0.3, r * 0.07, r * 0.06, 20, 160, tint(darker(SKIN, 0.75)), line)
    pen.arc(cx, cy + r * 0.42, r * 0.22, r * 0.16, 15, 165, tint((170, 80, 80)), line)
    if look.beard:
        beard = tint(look.hair_colour)
        pen.draw.chord([cx - r * 0.55, cy + r * 0.35, cx + r * 0.55, cy + r * 1.05], 0, 180, fill=beard,
                       outline=darker(beard), width=pen.line)
        pen.arc(cx, cy + r * 0.5, r * 0.2, r * 0.1, 15, 165, tint((170, 80, 80)), line)
    if look.glasses:
        frame = tint((96, 70, 56))
        for side in (-1, 1):
            ex = cx + side * gap
            pen.draw.ellipse([ex - r * 0.22, eye_y - r * 0.2, ex + r * 0.22, eye_y + r * 0.2], outline=frame,
                             width=max(1, line))
        pen.draw.line([(cx - gap + r * 0.22, eye_y), (cx + gap - r * 0.22, eye_y)], fill=frame, width=max(1, line))


def _pet(pen: Pen, look: Look, cx: float, feet: float, h: float, tint) -> tuple[int, int, int, int]:
    """A dog or a cat sitting on the ground, looking out of the page, with a red collar."""
    fur, dark = tint(soft(look.top)), tint(look.hair_colour)
    body_w, head_r = h * 0.42, h * 0.26
    pen.limb((cx + body_w * 0.55, feet - h * 0.3), (cx + body_w * 0.95, feet - h * (0.75 if look.kind == "dog" else 0.95)),
             h * 0.08, fur)  # the tail
    pen.ellipse(cx, feet - h * 0.3, body_w * 0.6, h * 0.3, fur)
    for side in (-1, 1):
        pen.ellipse(cx + side * body_w * 0.3, feet - h * 0.04, h * 0.1, h * 0.06, fur)
    hy = feet - h * 0.68
    for side in (-1, 1):
        if look.kind == "dog":  # soft floppy ears
            pen.ellipse(cx + side * head_r * 0.95, hy + head_r * 0.2, head_r * 0.32, head_r * 0.62, dark)
        else:  # pointed ears
            pen.polygon([(cx + side * head_r * 0.85, hy - head_r * 0.3), (cx + side * head_r * 0.75, hy - head_r * 1.25),
                         (cx + side * head_r * 0.2, hy - head_r * 0.8)], fur)
    pen.circle(cx, hy, head_r, fur)
    pen.ellipse(cx, hy + head_r * 0.35, head_r * 0.45, head_r * 0.32, tint(mix(look.top, (255, 255, 255), 0.5)))
    for side in (-1, 1):
        pen.ellipse(cx + side * head_r * 0.38, hy - head_r * 0.1, head_r * 0.11, head_r * 0.14, tint(EYE), outline=False)
        pen.circle(cx + side * head_r * 0.38 + head_r * 0.04, hy - head_r * 0.16, head_r * 0.04, (255, 255, 255),
                   outline=False)
        pen.draw.ellipse([cx + side * head_r * 0.6 - head_r * 0.14, hy + head_r * 0.15, cx + side * head_r * 0.6
                          + head_r * 0.14, hy + head_r * 0.32], fill=CHEEK)
    pen.ellipse(cx, hy + head_r * 0.22, head_r * 0.13, head_r * 0.09, tint((70, 50, 46)), outline=False)
    pen.arc(cx - head_r * 0.1, hy + head_r * 0.33, head_r * 0.1, head_r * 0.08, 0, 180, tint((110, 70, 60)),
            max(1, head_r * 0.05))
    pen.arc(cx + head_r * 0.1, hy + head_r * 0.33, head_r * 0.1, head_r * 0.08, 0, 180, tint((110, 70, 60)),
            max(1, head_r * 0.05))
    pen.rounded(cx - head_r * 0.6, hy + head_r * 0.85, cx + head_r * 0.6, hy + head_r * 1.05, head_r * 0.08,
                tint((212, 84, 74)))
    return (int(cx - body_w), int(hy - head_r * 1.3), int(cx + body_w * 1.1), int(feet + h * 0.06))
