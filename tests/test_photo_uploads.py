"""Phone photos and hostile pictures through every image upload of the running app.

Phones write MPO JPEGs (a second frame for depth or a preview) and HEIC; both are ordinary photos.
Decompression bombs, SVG drawings, truncated and renamed files get a clear message before any
pixel is decoded, nothing is stored, and the tab keeps working. Server memory is measured around
each hostile request (the app runs in this process).
"""
from __future__ import annotations

import re

import struct
import sys
import threading
import zlib
from pathlib import Path

import pytest
from ui_helpers import run
from gradio_client import handle_file
from PIL import Image

from studio.book import Page
from studio.images import ImageInputError, open_user_image

MB = 1 << 20
FIRST, SECOND = (200, 60, 40), (20, 60, 200)


# -- files ---------------------------------------------------------------------------------------
def png_bomb(path: Path, side: int) -> Path:
    """A real, valid PNG of side × side black pixels (1 bit each, zlib-compressed zeros):
    ~10-50 KB on disk, 100-400 million pixels once decoded (×3 bytes as RGB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (1 + (side + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row * 500) for _ in range(side // 500)) + packer.compress(row * (side % 500))
    idat += packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def mpo_photo(path: Path) -> Path:
    """A phone JPEG with a second picture appended (Pillow reads it as MPO)."""
    first, second = Image.new("RGB", (320, 240), FIRST), Image.new("RGB", (320, 240), SECOND)
    first.save(path, "MPO", save_all=True, append_images=[second])
    return path


def heic_photo(path: Path) -> Path:
    pillow_heif = pytest.importorskip("pillow_heif", reason="pillow-heif (requirements.txt) is not installed")
    pillow_heif.from_pillow(Image.new("RGB", (320, 240), FIRST)).save(path, quality=85)
    return path


def hostile_files(folder: Path) -> dict[str, tuple[Path, str]]:
    folder.mkdir(exist_ok=True)
    cut = folder / "cut.jpg"
    Image.new("RGB", (640, 480), FIRST).save(cut, quality=90)
    cut.write_bytes(cut.read_bytes()[:800])
    files = {
        "10000² bomb": (png_bomb(folder / "big.png", 10_000), "10000×10000 pixels, too large"),
        "20000² bomb": (png_bomb(folder / "huge.png", 20_000), "far too large"),
        "svg": (folder / "drawing.svg", "SVG drawings are not supported"),
        "svg renamed": (folder / "drawing.png", "SVG drawings are not supported"),
        "text renamed": (folder / "notes.png", "not an image we can read"),
        "truncated": (cut, "damaged or incomplete"),
    }
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9000" height="9000"/>'
    files["svg"][0].write_bytes(svg)
    files["svg renamed"][0].write_bytes(svg)
    files["text renamed"][0].write_text("Dear grandma, this is a letter, not a picture.")
    return files


def _status_mb(field: str) -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split(field + ":")[1].split()[0]) / 1024


class MemoryPeak:
    """How far this process's resident memory rose inside the block: the kernel's own peak
    (VmHWM, reset on entry) where /proc/self/clear_refs is writable, else a 2 ms sampler."""

    def __enter__(self):
        self.start, self.peak, self._stop = _status_mb("VmRSS"), 0.0, threading.Event()
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            self._sampler = None
        except OSError:
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _status_mb("VmRSS"))

    def __exit__(self, *exc):
        if self._sampler is None:
            self.peak = _status_mb("VmHWM")
        else:
            self._stop.set()
            self._sampler.join()
        self.grew_mb = max(0.0, self.peak - self.start)
        return False


# -- the studio's reader -------------------------------------------------------------------------
def test_an_mpo_phone_photo_is_read_as_its_first_picture(tmp_path):
    path = mpo_photo(tmp_path / "IMG_0001.jpg")
    assert Image.open(path).format == "MPO"
    photo = open_user_image(path)
    assert photo.size == (320, 240) and photo.getpixel((5, 5)) == pytest.approx(FIRST, abs=3)


def test_heic_and_avif_are_read(tmp_path):
    photo = open_user_image(heic_photo(tmp_path / "IMG_0002.HEIC"))
    assert photo.size == (320, 240) and photo.mode == "RGB" and not photo.info
    assert photo.getpixel((5, 5)) == pytest.approx(FIRST, abs=4)
    avif = tmp_path / "photo.avif"
    Image.new("RGB", (64, 48), FIRST).save(avif)
    assert open_user_image(avif).size == (64, 48)


def test_without_a_heic_reader_the_visitor_is_told_to_save_as_jpeg(tmp_path, monkeypatch):
    from PIL import features

    path = heic_photo(tmp_path / "IMG_0003.heic")
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import fails as if not installed
    with pytest.raises(ImageInputError, match="save it as JPEG") as refused:
        open_user_image(path)
    assert "JPEG로 저장해서" in refused.value.render("ko")
    avif = tmp_path / "photo.avif"
    Image.new("RGB", (64, 48), FIRST).save(avif)
    monkeypatch.setattr(features, "check", lambda name: False)
    with pytest.raises(ImageInputError, match="This AVIF photo cannot be opened here"):
        open_user_image(avif)


def test_big_photos_are_kept_at_a_useful_size(tmp_path):
    path = tmp_path / "36mp.jpg"
    Image.new("RGB", (7360, 4912), FIRST).save(path, quality=80)
    photo = open_user_image(path)
    assert max(photo.size) == 2048 and photo.size[0] / photo.size[1] == pytest.approx(7360 / 4912, rel=0.01)


def test_hostile_files_are_refused_from_their_header(tmp_path, monkeypatch):
    decoded = []
    real_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.size) or real_load(self))
    for name, (path, message) in hostile_files(tmp_path).items():
        decoded.clear()
        with pytest.raises(ImageInputError, match=message):
            open_user_image(path)
        if "bomb" in name:
            assert not [size for size in decoded if size[0] > 5000], f"{name} was decoded"


# -- through the running app -----------------------------------------------------------------------
def _media_files(services) -> set[str]:
    return {str(p) for p in Path(services.store.media_for("local").root).rglob("*") if p.is_file()}


def test_every_image_upload_takes_phone_photos_and_refuses_hostile_files(launch_app, client_for, tmp_path):
    url, services = launch_app(max_file_size_mb=5)
    c = client_for(url)
    drop, *_ = c.predict("사진 시험", "", "ko", 4, api_name="/create_book")
    book_id = drop["value"]
    services.store.update("local", book_id, lambda b: setattr(b, "pages", [Page(text="one"), Page(text="two")]))
    pages, *_ = c.predict(None, api_name="/list_pages")
    page_id = pages["value"]

    endpoints = {  # every place a visitor gives the studio a picture
        "/set_init_photo": lambda f: run(c, page_id, handle_file(str(f)), api_name="/set_init_photo"),
        "/set_map_photo": lambda f: run(c, page_id, handle_file(str(f)), api_name="/set_map_photo"),
        "/add_photos": lambda f: run(c, [handle_file(str(f))], api_name="/add_photos"),
    }

    files = hostile_files(tmp_path / "hostile")
    for endpoint, send in endpoints.items():
        for name, (path, message) in files.items():
            before_files, before_book = _media_files(services), services.store.get("local", book_id).to_dict()
            with MemoryPeak() as memory:
                _, said = send(path)
            assert len(said) == 1 and re.search(message, said[0]), f"{endpoint} {name}: {said}"
            assert memory.grew_mb < 50, f"{endpoint} {name}: +{memory.grew_mb:.0f} MB"
            assert _media_files(services) == before_files, f"{endpoint} {name} stored something"
            assert services.store.get("local", book_id).to_dict() == before_book

    # phone photos go through every endpoint; the tab still works after all those refusals
    for name, photo in {"mpo": mpo_photo(tmp_path / "IMG_0001.jpg"),
                        "heic": heic_photo(tmp_path / "IMG_0002.heic")}.items():
        assert endpoints["/set_init_photo"](photo) == ("The photo will be the starting point of this page's picture.", []), name
        assert endpoints["/set_map_photo"](photo) == ("The photo will guide this page's picture.", []), name
        (gallery, _, status), said = endpoints["/add_photos"](photo)
        assert said == [], name
        assert gallery and "Photos" in status, name
        page = services.store.get("local", book_id).page(page_id)
        stored = services.store.media_for("local").path(page.image.init_image)
        with Image.open(stored) as img:
            assert img.format == "PNG" and img.getpixel((5, 5))[:3] == pytest.approx(FIRST, abs=4)
    assert c.predict(page_id, "canny", api_name="/preview_map") is not None  # the map photo is usable
    assert c.predict(api_name="/story_load") is not None
