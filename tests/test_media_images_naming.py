"""Media refs never become paths; uploaded images are checked before decoding; names are slugs."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from studio.images import ImageInputError, open_user_image, to_png_bytes
from studio.media import MediaError, MediaStore
from studio.naming import safe_slug


def test_media_store_is_content_addressed(tmp_path):
    media = MediaStore(tmp_path / "m")
    a = media.put_bytes(b"hello", "txt")
    assert a == media.put_bytes(b"hello", "TXT") and media.read_bytes(a) == b"hello"
    src = tmp_path / "photo.jpg"
    src.write_bytes(b"jpeg bytes")
    ref = media.put_file(src)
    assert ref.endswith(".jpg") and media.exists(ref)
    assert not list((tmp_path / "m").rglob(".tmp-*"))


@pytest.mark.parametrize("ref", ["../../etc/passwd", "/etc/passwd", "a" * 64 + ".png/../x", "", "A" * 64 + ".png"])
def test_refs_that_are_not_hashes_are_refused(tmp_path, ref):
    media = MediaStore(tmp_path / "m")
    with pytest.raises(MediaError):
        media.path(ref)
    assert media.exists(ref) is False


def test_bad_extension_refused(tmp_path):
    with pytest.raises(MediaError):
        MediaStore(tmp_path).put_bytes(b"x", "../sh")


def _png_header_only(width, height):
    """A PNG that *claims* huge dimensions: must be refused from its header, never decoded."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [10_000, 20_000])
def test_decompression_bombs_are_refused_before_decoding(tmp_path, size):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(size, size))
    with pytest.raises(ImageInputError, match="too large"):
        open_user_image(path)


def test_truncated_jpeg_non_image_svg_and_empty(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buf, "JPEG")
    cases = {
        "truncated.jpg": (buf.getvalue()[:200], "damaged|not an image"),
        "text.png": (b"just some text, not a picture", "not an image"),
        "drawing.png": (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        "empty.png": (b"", "empty"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ImageInputError, match=message):
            open_user_image(path)


def test_exif_and_gps_are_stripped(tmp_path):
    img = Image.new("RGB", (32, 16), "blue")
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (37.0, 33.0, 0.0)}  # GPS
    exif[0x0112] = 6  # rotated: applied, then dropped
    path = tmp_path / "gps.jpg"
    img.save(path, exif=exif)
    clean = open_user_image(path)
    assert clean.size == (16, 32) and not clean.info and clean.mode == "RGB"
    reread = Image.open(io.BytesIO(to_png_bytes(clean, "a prompt\nSteps: 2")))
    assert reread.text == {"parameters": "a prompt\nSteps: 2"} and not reread.getexif()


@pytest.mark.parametrize("title, expected", [
    ("../../<script>alert(1)</script> 할머니", "script-alert-1-script-할머니"),
    ("CON", "book-con"), ("nul", "book-nul"), ("\x00\x00", "book"), ("", "book"),
    ("할머니의 감나무", "할머니의-감나무"),
])
def test_safe_slug(title, expected):
    assert safe_slug(title) == expected


def test_safe_slug_caps_length():
    assert len(safe_slug("가" * 300)) <= 60
