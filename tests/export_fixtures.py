"""A stored book with pictures and narrations of known lengths, for the export tests and bench."""
from __future__ import annotations

import io

import numpy as np
import soundfile
from PIL import Image, ImageDraw

from studio.book import ImageVariant, NarrationTake, Page

KOREAN_TEXTS = [
    "할머니는 봄마다 감나무 아래에서 나를 기다리셨어요.",
    "우리는 손을 잡고 시장에 가서 따뜻한 호떡을 샀어요.",
    "할머니의 노래는 바람처럼 부드러웠어요.",
    "밤하늘의 별을 보며 할머니는 옛날이야기를 들려주셨어요.",
    "비 오는 날에는 함께 부침개를 부쳤어요.",
    "할머니의 손은 언제나 따뜻했어요.",
]


def picture_png(seed: int, size: int = 192) -> bytes:
    rng = np.random.default_rng(seed)
    sky = tuple(int(v) for v in rng.integers(120, 230, 3))
    img = Image.new("RGB", (size, size), sky)
    draw = ImageDraw.Draw(img)
    draw.ellipse((size * 0.6, size * 0.1, size * 0.85, size * 0.35), fill=(250, 210, 120))
    draw.rectangle((0, size * 0.7, size, size), fill=(120, 170, 110))
    draw.rectangle((size * 0.3, size * 0.4, size * 0.45, size * 0.75), fill=(140, 90, 60))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def tone_wav(duration_s: float, rate: int = 22050, freq: float = 330.0) -> bytes:
    t = np.arange(int(round(duration_s * rate))) / rate
    envelope = np.minimum(1.0, np.minimum(t, t[::-1] if len(t) else t) * 20)
    samples = (0.3 * np.sin(2 * np.pi * freq * t) * envelope).astype("float32")
    buf = io.BytesIO()
    soundfile.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def make_book(store, owner: str = "local", pages: int = 4, durations: list[float | None] | None = None,
              title: str = "할머니의 감나무", dedicated_to: str = "사랑하는 순자 할머니께",
              texts: list[str] | None = None, with_images: list[bool] | None = None, image_size: int = 192):
    """Create and save a book; ``durations[i] = None`` leaves page i without narration and
    ``with_images[i] = False`` without a chosen picture. Returns the saved Book."""
    durations = durations if durations is not None else [1.0 + 0.25 * i for i in range(pages)]
    texts = texts or [KOREAN_TEXTS[i % len(KOREAN_TEXTS)] for i in range(pages)]
    with_images = with_images or [True] * pages
    book = store.create(owner, title, dedicated_to, "ko", max(4, pages))
    media = store.media_for(owner)

    def fill(b):
        b.pages = []
        for i in range(pages):
            page = Page(text=texts[i], illustration_prompt="grandmother under a persimmon tree",
                        setting="garden", mood="warm")
            if with_images[i]:
                variant = ImageVariant(image=media.put_bytes(picture_png(i, image_size), "png"), backend="test")
                page.variants, page.chosen_variant = [variant], variant.id
            if durations[i] is not None:
                take = NarrationTake(audio=media.put_bytes(tone_wav(durations[i], freq=300 + 20 * i), "wav"),
                                     duration_s=durations[i], speaker="test")
                page.takes, page.chosen_take = [take], take.id
            b.pages.append(page)

    return store.update(owner, book.id, fill)
