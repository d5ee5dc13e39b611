"""A family photo painted as a picture-book page, with no model: OpenCV's non-photorealistic
filters, step by step, each for a reason.

1. crop to the page's shape around the centre (the family chose the photo for its people);
2. ``bilateralFilter`` twice and ``cv2.edgePreservingFilter``: flat washes of colour, edges kept;
3. colour quantisation with k-means (a small palette, like a painter's few tubes), softened
   towards the paper so it reads as watercolour rather than a posterised photo;
4. soft ink lines from Canny edges of the blurred photo, thickened and blurred;
5. paper texture (the same as the offline illustrator's), and optionally the page's night,
   snow or rain painted over it.

    painted = paint_photo(Image.open("grandma.jpg"), (768, 768), seed=3)
"""
from __future__ import annotations

import random

PALETTE_SIZE = 18
INK = (84, 62, 50)


def paint_photo(photo, size: tuple[int, int], seed: int = 0, scene=None, palette_size: int = PALETTE_SIZE,
                texture: bool = True):
    """The photo as a painting of ``size`` (width, height); ``scene`` (a ``Scene``) adds its
    night / snow / rain over the painting; ``texture`` False leaves out the paper grain."""
    import cv2
    import numpy as np
    from PIL import Image

    from studio.backends.offline_art.canvas import paper

    width, height = size
    rgb = np.asarray(_cover(photo.convert("RGB"), width, height), dtype=np.uint8)
    smooth = rgb
    for _ in range(2):
        smooth = cv2.bilateralFilter(smooth, 9, 40, 7)
    # the edge-preserving filter at half size is four times faster and its washes come out broader,
    # like a brush. (cv2.stylization darkens textured areas — fur, leaves — almost to black.)
    half = cv2.resize(smooth, (max(32, width // 2), max(32, height // 2)), interpolation=cv2.INTER_AREA)
    washes = cv2.edgePreservingFilter(half, flags=cv2.RECURS_FILTER, sigma_s=60, sigma_r=0.4)
    styled = cv2.resize(washes, (width, height), interpolation=cv2.INTER_CUBIC)
    styled = _brighter(styled)
    flat = cv2.medianBlur(_quantise(styled, palette_size, seed), 5)  # no single-pixel speckles of colour
    paper_tone = np.array([250, 243, 232], np.float32)
    washed = flat.astype(np.float32) * 0.86 + paper_tone * 0.14  # pigment on cream paper, never pure black
    lines = _ink_lines(styled) * 0.38
    washed = washed * (1 - lines[..., None]) + np.array(INK, np.float32) * lines[..., None]
    image = Image.fromarray(washed.clip(0, 255).astype(np.uint8), "RGB")
    if scene is not None:
        image = _scene_over(image, scene, seed)
    return paper(image, seed) if texture else image


def _brighter(rgb):
    """Picture-book light: a little more colour and lighter shadows than a photo has."""
    import cv2
    import numpy as np

    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.15, 0, 255)
    hsv[..., 2] = 255.0 * (hsv[..., 2] / 255.0) ** 0.8
    return cv2.cvtColor(hsv.clip(0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)


def _cover(photo, width: int, height: int):
    """Scale and crop to fill the page, keeping the middle of the photo."""
    from PIL import Image

    scale = max(width / photo.width, height / photo.height)
    w, h = max(width, round(photo.width * scale)), max(height, round(photo.height * scale))
    resized = photo.resize((w, h), Image.LANCZOS)
    left, top = (w - width) // 2, (h - height) // 2
    return resized.crop((left, top, left + width, top + height))


def _quantise(pixels, count: int, seed: int):
    """k-means on a sample of the pixels, then every pixel takes its nearest palette colour."""
    import cv2
    import numpy as np

    flat = pixels.reshape(-1, 3).astype(np.float32)
    rng = np.random.default_rng(seed)
    sample = flat[rng.choice(len(flat), size=min(len(flat), 12000), replace=False)]
    cv2.setRNGSeed(int(seed) & 0x7FFFFFFF)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    _, _, centres = cv2.kmeans(sample, count, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    # nearest centre for every 5-bit colour once (32,768 cells), then a table look-up per pixel
    cells = (np.stack(np.meshgrid(*[np.arange(32)] * 3, indexing="ij"), -1).reshape(-1, 3) * 8 + 4).astype(np.float32)
    nearest = ((cells[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
    q = pixels.reshape(-1, 3).astype(np.int64) >> 3
    labels = nearest[(q[:, 0] << 10) | (q[:, 1] << 5) | q[:, 2]]
    return centres[labels].reshape(pixels.shape).astype(np.uint8)


def _ink_lines(rgb):
    """Soft outlines (0..1): Canny edges of the blurred photo, thickened a little and blurred."""
    import cv2
    import numpy as np

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    grey = cv2.GaussianBlur(grey, (0, 0), max(1.2, min(rgb.shape[:2]) / 260))
    edges = cv2.Canny(grey, 40, 110)  # only the strong shapes: a painter's outline, not every hair
    lines = cv2.GaussianBlur(edges.astype(np.float32) / 255.0, (0, 0), 1.0)
    # fur, leaves and grass make thickets of edges: a painter outlines shapes, not texture
    density = cv2.blur(edges.astype(np.float32) / 255.0, (15, 15))
    return (lines * np.clip(1.6 - density * 8.0, 0.0, 1.0)).clip(0, 1)


def _scene_over(image, scene, seed: int):
    """The page's time and weather over the painting: moonlight, stars, snow, rain."""
    import numpy as np
    from PIL import Image

    from studio.backends.offline_art.scene import weather

    rng = random.Random(seed)
    if scene.time in ("night", "dusk"):
        pixels = np.asarray(image, np.float32)
        h = pixels.shape[0]
        fade = np.linspace(0.75, 1.0, h, dtype=np.float32)[:, None, None]  # darker towards the sky
        tint = np.array([0.56, 0.62, 0.88], np.float32) if scene.time == "night" else np.array([1.0, 0.82, 0.72],
                                                                                                np.float32)
        blue = np.array([10, 14, 40], np.float32) if scene.time == "night" else np.zeros(3, np.float32)
        pixels = pixels * tint * (fade if scene.time == "night" else 1.0) + blue
        image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    if scene.weather in ("snow", "rain"):
        image = image.copy()
        weather(image, scene, rng)
    return image
