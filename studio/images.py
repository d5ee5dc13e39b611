"""Opening images that users upload, safely: size checked before decoding, EXIF/GPS stripped.

Use ``open_user_image(path)`` for anything a visitor gives us; it raises ``ImageInputError``
with a message fit for the UI (decompression bombs, truncated files, SVG, non-images).
"""
from __future__ import annotations

import io
from pathlib import Path

from studio.messages import Localized

MAX_PIXELS = 40_000_000  # ~6300x6300; larger is refused before decoding
MAX_BYTES = 40 * 1024 * 1024
ALLOWED_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "png", "BMP": "png"}


class ImageInputError(Localized, ValueError):
    pass


def open_user_image(path: str | Path, max_pixels: int = MAX_PIXELS):
    """Validate and fully decode an uploaded image; returns an RGB PIL image without metadata."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise ImageInputError("The image could not be read. Please upload it again.") from None
    if size == 0:
        raise ImageInputError("The image file is empty.")
    if size > MAX_BYTES:
        raise ImageInputError(f"The image is too large ({size // (1024 * 1024)} MB; up to {MAX_BYTES // (1024 * 1024)} MB).")
    head = path.read_bytes()[:512].lstrip().lower()
    if head.startswith(b"<?xml") or head.startswith(b"<svg") or b"<svg" in head:
        raise ImageInputError("SVG drawings are not supported; please upload a PNG or JPEG photo.")
    try:
        with Image.open(path) as probe:  # reads the header only
            fmt = probe.format
            width, height = probe.size
    except Image.DecompressionBombError:
        raise ImageInputError("The image is far too large to use safely; please resize it.") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise ImageInputError("This file is not an image we can read (PNG, JPEG or WebP).") from None
    if fmt not in ALLOWED_FORMATS:
        raise ImageInputError(f"{fmt} images are not supported; please use PNG, JPEG or WebP.")
    if width * height > max_pixels:
        raise ImageInputError(
            f"The image is {width}×{height} pixels, too large to use safely; please resize it below "
            f"{int(max_pixels ** 0.5)}×{int(max_pixels ** 0.5)}."
        )
    try:
        with Image.open(path) as img:
            img.load()
            from PIL import ImageOps

            img = ImageOps.exif_transpose(img)
            clean = img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageInputError("The image is damaged or incomplete (truncated); please upload it again.") from None
    clean.info.clear()  # no EXIF/GPS/ICC text carried along
    return clean


def to_png_bytes(image, parameters: str | None = None) -> bytes:
    """PNG bytes; ``parameters`` goes in an A1111-style ``parameters`` text chunk."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    if parameters:
        info.add_text("parameters", parameters)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()
