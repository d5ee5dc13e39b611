"""Drawing with a picture-book hand: shapes at twice the size (so edges come out smooth when the
page is reduced), every shape with a gentle outline a little darker than its own colour, and a
paper texture over the finished page."""
from __future__ import annotations

from typing import Sequence

CREAM = (250, 243, 232)
SCALE = 2  # drawn at 2x and reduced: soft, anti-aliased edges without a slow renderer

RGB = tuple[int, int, int]


def mix(a: Sequence[int], b: Sequence[int], t: float) -> RGB:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def soft(rgb: Sequence[int], amount: float = 0.12) -> RGB:
    """A colour a little nearer the paper, as watercolour on cream paper looks."""
    return mix(rgb, CREAM, amount)


def darker(rgb: Sequence[int], factor: float = 0.68) -> RGB:
    return tuple(int(c * factor) for c in rgb[:3])  # type: ignore[return-value]


class Pen:
    """PIL drawing at the canvas scale with outlines that follow each fill colour."""

    def __init__(self, image, line: float = 1.0):
        from PIL import ImageDraw

        self.image = image
        self.draw = ImageDraw.Draw(image, "RGBA")
        self.line = max(1, int(round(line * SCALE)))

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, fill, outline: bool = True) -> None:
        self.draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=fill,
                          outline=darker(fill) if outline else None, width=self.line if outline else 0)

    def circle(self, cx: float, cy: float, r: float, fill, outline: bool = True) -> None:
        self.ellipse(cx, cy, r, r, fill, outline)

    def polygon(self, points, fill, outline: bool = True) -> None:
        points = [(float(x), float(y)) for x, y in points]
        self.draw.polygon(points, fill=fill)
        if outline:
            self.draw.line(points + [points[0]], fill=darker(fill), width=self.line, joint="curve")

    def rounded(self, x0: float, y0: float, x1: float, y1: float, radius: float, fill, outline: bool = True) -> None:
        self.draw.rounded_rectangle([x0, y0, x1, y1], radius=max(0.0, radius), fill=fill,
                                    outline=darker(fill) if outline else None, width=self.line if outline else 0)

    def limb(self, a, b, width: float, fill, outline: bool = True) -> None:
        """A rounded stroke (arm, leg, branch): a thick line with round ends, outlined."""
        w = max(1.0, width)
        if outline:
            self.draw.line([a, b], fill=darker(fill), width=int(w + 2 * self.line))
            for x, y in (a, b):
                r = w / 2 + self.line
                self.draw.ellipse([x - r, y - r, x + r, y + r], fill=darker(fill))
        self.draw.line([a, b], fill=fill, width=int(w))
        for x, y in (a, b):
            r = w / 2
            self.draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)

    def limbs(self, points, width: float, fill) -> None:
        """A bent stroke (an arm through its elbow) outlined as one shape, with no seam at the joint."""
        w = max(1.0, width)
        for colour, extra in ((darker(fill), 2 * self.line), (fill, 0)):
            self.draw.line(points, fill=colour, width=int(w + extra), joint="curve")
            for x, y in (points[0], points[-1]):
                r = (w + extra) / 2
                self.draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)

    def blobs(self, circles, fill_of) -> None:
        """Overlapping circles (a tree's crown, a cloud) outlined as one soft shape."""
        for cx, cy, r in circles:
            self.draw.ellipse([cx - r - self.line, cy - r - self.line, cx + r + self.line, cy + r + self.line],
                              fill=darker(fill_of(cx, cy, r)))
        for cx, cy, r in circles:
            self.draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill_of(cx, cy, r))

    def arc(self, cx: float, cy: float, rx: float, ry: float, start: float, end: float, fill, width: float) -> None:
        self.draw.arc([cx - rx, cy - ry, cx + rx, cy + ry], start, end, fill=fill, width=max(1, int(width)))


def gradient(width: int, height: int, top: Sequence[int], bottom: Sequence[int]):
    """A vertical colour gradient as a PIL image."""
    import numpy as np
    from PIL import Image

    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    rows = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    return Image.fromarray(np.repeat(rows, width, axis=1).astype(np.uint8), "RGB")


def paper(image, seed: int, strength: float = 1.0):
    """Cold-press paper: fine grain, a few soft blotches of uneven wash, slightly warm edges."""
    import numpy as np
    from PIL import Image, ImageFilter

    w, h = image.size
    rng = np.random.default_rng(seed)
    grain = Image.fromarray((rng.normal(128, 40, (h, w))).clip(0, 255).astype(np.uint8), "L")
    grain = np.asarray(grain.filter(ImageFilter.GaussianBlur(0.7)), np.float32) / 128.0 - 1.0
    small = rng.normal(0, 1, (max(2, h // 48), max(2, w // 48))).astype(np.float32)
    blotch = np.asarray(Image.fromarray(((small + 3) * 40).clip(0, 255).astype(np.uint8), "L")
                        .resize((w, h), Image.BICUBIC), np.float32) / 120.0 - 1.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    edge = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) ** 0.5
    vignette = 1.0 - 0.10 * np.clip(edge - 0.35, 0, None) / 0.35
    factor = (1.0 + strength * (0.035 * grain + 0.025 * blotch)) * vignette
    pixels = np.asarray(image.convert("RGB"), np.float32) * factor[..., None]
    warm = np.array([1.0, 0.985, 0.95], np.float32)  # the edges go a little warmer, like old paper
    pixels = pixels * (1 - (1 - vignette[..., None]) * (1 - warm) * 3)
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
