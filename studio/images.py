"""Opening images that users upload, safely: size checked before decoding, EXIF/GPS stripped.

Use ``open_user_image(path)`` for anything a visitor gives us; it raises ``ImageInputError``
with a message key for the UI (decompression bombs, truncated files, SVG, non-images, HEIC
without a reader). Nothing is decoded before the studio has read the picture's size from the
file's header: a 10000×10000 PNG is refused having read a few bytes, not 300 MB of pixels.

Phone photos: JPEGs that carry a second picture (MPO, as many phones write them) are ordinary
photos and the first frame is used; HEIC/HEIF is read when ``pillow-heif`` is installed (its
opener is registered the first time such a file arrives), AVIF through Pillow's own plugin.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

from studio.messages import Localized

MAX_PIXELS = 40_000_000  # ~6300x6300; larger is refused before decoding
MAX_BYTES = 40 * 1024 * 1024
MAX_SIDE = 2048  # stored photos are references for 512-1024 px pictures; a 36 MP original is not kept
# Pillow format name -> how we think of it. MPO is a JPEG with extra frames (phones), HEIF
# comes from pillow-heif, AVIF from Pillow's own plugin.
ALLOWED_FORMATS = {"PNG": "png", "JPEG": "jpg", "MPO": "jpg", "WEBP": "webp", "GIF": "png", "BMP": "png",
                   "HEIF": "heic", "AVIF": "avif"}
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
AVIF_BRANDS = {b"avif", b"avis"}


class ImageInputError(Localized, ValueError):
    pass


def _container_brand(head: bytes) -> str | None:
    """'heif' or 'avif' for an ISO media file (``....ftyp<brand>``), else None."""
    if head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand in AVIF_BRANDS:
        return "avif"
    if brand in HEIF_BRANDS:
        return "heif"
    return None


def _ensure_reader(brand: str) -> None:
    """Make Pillow able to open this HEIF/AVIF file, or explain how to send it instead."""
    from PIL import features

    if brand == "avif":
        if not features.check("avif"):
            raise ImageInputError("uploads.image_heic_unsupported", kind="AVIF")
        return
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        raise ImageInputError("uploads.image_heic_unsupported", kind="HEIC") from None
    register_heif_opener()  # idempotent; only once a visitor actually sends a HEIC photo


def _looks_like_svg(head: bytes) -> bool:
    text = head.lstrip().lower()
    return text.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in text


def _probe(path: Path, max_pixels: int) -> None:
    """Read only the header: format and pixel size, refusing what we will not decode."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # our own limit below is stricter; Pillow's warning would only add noise (or raise
            # under strict warning filters) for sizes we refuse anyway
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as probe:  # reads the header only
                fmt = probe.format
                width, height = probe.size
    except Image.DecompressionBombError:
        raise ImageInputError("uploads.image_bomb", limit=_side(max_pixels)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ImageInputError("uploads.image_not_image") from None
    if fmt not in ALLOWED_FORMATS:
        raise ImageInputError("uploads.image_format", format=str(fmt))
    if width * height > max_pixels:
        raise ImageInputError("uploads.image_too_many_pixels", width=width, height=height, limit=_side(max_pixels))
    if width < 1 or height < 1:
        raise ImageInputError("uploads.image_not_image")


def _side(max_pixels: int) -> str:
    side = int(max_pixels ** 0.5)
    return f"{side}×{side}"


def open_user_image(path: str | Path, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE):
    """Validate and decode an uploaded image; returns an RGB PIL image without metadata, its
    longest side at most ``max_side`` (JPEGs are decoded at a reduced scale when that suffices)."""
    from PIL import Image, ImageOps

    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        raise ImageInputError("uploads.image_unreadable") from None
    if size == 0:
        raise ImageInputError("uploads.image_empty")
    if size > MAX_BYTES:
        raise ImageInputError("uploads.image_file_too_big", size=size // (1 << 20), limit=MAX_BYTES // (1 << 20))
    if _looks_like_svg(head):
        raise ImageInputError("uploads.image_svg")
    brand = _container_brand(head)
    if brand:
        _ensure_reader(brand)
    _probe(path, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.seek(0)  # MPO/GIF/animated WebP: the first picture is the photo
                if img.format in ("JPEG", "MPO"):
                    img.draft("RGB", (max_side, max_side))  # decode at 1/2, 1/4 or 1/8 scale when enough
                img.load()
                img = ImageOps.exif_transpose(img)
                clean = img.convert("RGB")
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        raise ImageInputError("uploads.image_truncated") from None
    if max(clean.size) > max_side:
        clean.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    clean.info.clear()  # no EXIF/GPS/ICC text carried along
    return clean


def to_png_bytes(image, parameters: str | None = None) -> bytes:
    """PNG bytes; ``parameters`` goes in an A1111-style ``parameters`` text chunk. A picture
    that arrived as PNG (a remote engine's answer, a cached control map) keeps its compressed
    pixels: only the chunks are rewritten (see ``studio.png_chunks``)."""
    from PIL.PngImagePlugin import PngInfo

    from studio.png_chunks import remembered_png, with_text

    source = remembered_png(image)
    if source is not None and (reused := with_text(source, "parameters", parameters)) is not None:
        return reused

    info = PngInfo()
    if parameters:
        info.add_text("parameters", parameters)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()
