"""PNG bytes kept with the picture they encode, so a picture is compressed once, not again.

A remote engine sends its picture as PNG; a control map is encoded once for the wire and the
media store. Compressing a 512×512 picture again costs ~50 ms, more than everything else the
studio does for a page. ``remember_png(image, data)`` keeps the bytes on that image object
(never copied to images derived from it) with a checksum of its pixels; ``remembered_png``
gives them back only while the pixels still match, so a picture changed in place is encoded
afresh. ``with_text`` rewrites the chunks instead of the pixels: the picture data (``IDAT``)
stays as it came, every text/EXIF/time/colour-profile chunk of the sender is dropped (a
server's own notes and paths do not travel on), and our ``parameters`` goes in.
"""
from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEPT = {b"IHDR", b"IDAT", b"IEND"}  # what decodes to the pixels of an 8-bit RGB picture


def remember_png(image, data: bytes):
    """``image`` with ``data`` (its PNG encoding) kept for later use; returns the image."""
    if image.mode == "RGB":
        image._gieok_png = (data, _pixels_crc(image))
    return image


def remembered_png(image) -> bytes | None:
    kept = getattr(image, "_gieok_png", None)
    if kept is None or image.mode != "RGB":
        return None
    data, crc = kept
    return data if _pixels_crc(image) == crc else None


def _pixels_crc(image) -> tuple[int, tuple[int, int]]:
    return zlib.crc32(image.tobytes()), image.size


def with_text(data: bytes, key: str, text: str | None) -> bytes | None:
    """``data`` with only its picture chunks and, when given, one ``key`` text chunk; None when
    ``data`` is not a plain 8-bit RGB PNG (then the caller encodes the picture itself)."""
    chunks = list(_raw_chunks(data))
    if not chunks or chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
        return None
    header = chunks[0][1]
    if len(header) != 13 or header[8] != 8 or header[9] != 2:  # bit depth 8, colour type 2 (RGB)
        return None
    kept = [(kind, body, raw) for kind, body, raw in chunks if kind in KEPT]
    if any(zlib.crc32(kind + body) != struct.unpack(">I", raw[-4:])[0] for kind, body, raw in kept):
        return None  # a damaged chunk Pillow let through would break other readers: encode afresh
    out = [SIGNATURE, kept[0][2]]
    if text:
        out.append(_text_chunk(key, text))
    out += [raw for _, _, raw in kept[1:]]  # copied whole, checksum included
    return b"".join(out)


def _chunks(data: bytes):
    """(kind, body) of every chunk, in order."""
    for kind, body, _ in _raw_chunks(data):
        yield kind, body


def _raw_chunks(data: bytes):
    if not data.startswith(SIGNATURE):
        return
    pos = len(SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        end = pos + 12 + length
        if end > len(data):
            return
        kind = data[pos + 4:pos + 8]
        yield kind, data[pos + 8:pos + 8 + length], data[pos:end]
        pos = end
        if kind == b"IEND":
            return


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _text_chunk(key: str, text: str) -> bytes:
    """``tEXt`` when Latin-1 holds the words, else ``iTXt`` (UTF-8: Korean prompts), as Pillow does."""
    name = key.encode("latin-1")
    try:
        return _chunk(b"tEXt", name + b"\0" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return _chunk(b"iTXt", name + b"\0\0\0\0\0" + text.encode("utf-8"))
