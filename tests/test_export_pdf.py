"""The PDF picture book: a cover plus one page per story page, the Nanum font embedded, Hangul
that can be copied back out, and pages that render."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from PIL import Image
from pypdf import PdfReader

from export_fixtures import KOREAN_TEXTS, make_book
from studio.export.common import ExportError, gather
from studio.export.pdf import BLEED_MM, SIZES_MM, export_pdf

MM_TO_PT = 72 / 25.4


@pytest.fixture
def book(services):
    saved = make_book(services.store, pages=5, durations=[1.0, None, 1.0, 1.0, None],
                      with_images=[True, True, False, True, True])
    return gather(saved, services.store.media_for(saved.owner), services.backends)


def _embedded_fonts(reader: PdfReader) -> set[str]:
    names = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", []):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                if "/FontFile2" in descriptor:
                    names.add(str(descendant.get_object()["/BaseFont"]))
    return names


@pytest.mark.parametrize("size,bleed", [("a4", False), ("square-20cm", True), ("square-8in", False)])
def test_pages_sizes_font_and_hangul(book, tmp_path, size, bleed):
    path = export_pdf(book, tmp_path, size=size, bleed=bleed)
    assert path.name == f"할머니의-감나무.{size}.pdf"
    reader = PdfReader(path)
    assert len(reader.pages) == len(book.pages) + 1  # the cover, then one page per story page
    w_mm, h_mm = SIZES_MM[size]
    extra = 2 * BLEED_MM if bleed else 0
    box = reader.pages[0].mediabox
    assert float(box.width) == pytest.approx((w_mm + extra) * MM_TO_PT, abs=0.5)
    assert float(box.height) == pytest.approx((h_mm + extra) * MM_TO_PT, abs=0.5)
    assert any("NanumMyeongjo" in name for name in _embedded_fonts(reader))
    trim = reader.pages[-1].trimbox
    assert float(trim.width) == pytest.approx(w_mm * MM_TO_PT, abs=0.5)  # where the printer cuts
    cover_text = reader.pages[0].extract_text()
    assert "할머니의 감나무" in cover_text and "사랑하는 순자 할머니께" in cover_text
    for i, page in enumerate(book.pages, start=1):
        assert KOREAN_TEXTS[(i - 1) % len(KOREAN_TEXTS)] in reader.pages[i].extract_text().replace("\n", "")


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils (pdftoppm/pdftotext) is not installed")
def test_poppler_renders_every_page_and_reads_the_hangul(book, tmp_path):
    path = export_pdf(book, tmp_path, size="square-20cm", font="gothic")
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "할머니는 봄마다 감나무 아래에서" in text
    subprocess.run(["pdftoppm", "-r", "24", "-png", str(path), str(tmp_path / "page")], check=True,
                   capture_output=True, timeout=60)
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == len(book.pages) + 1
    for png in pngs:
        with Image.open(png) as img:
            low, high = img.convert("L").getextrema()
            assert high - low > 60  # a picture and words, not a blank sheet


def test_long_text_still_fits_a_page(services, tmp_path):
    saved = make_book(services.store, pages=4, texts=["할머니의 이야기는 끝이 없었어요. " * 40] * 4)
    path = export_pdf(gather(saved, services.store.media_for(saved.owner)), tmp_path, size="square-8in")
    reader = PdfReader(path)
    assert len(reader.pages) == 5  # no overflow pages: the text is set smaller instead
    assert "할머니의 이야기는" in reader.pages[1].extract_text()


def test_unknown_size_is_refused_with_a_clear_message(book, tmp_path):
    with pytest.raises(ExportError, match="Unknown page size"):
        export_pdf(book, tmp_path / "out", size="letter")
    with pytest.raises(ExportError, match="Unknown font"):
        export_pdf(book, tmp_path / "out", font="comic-sans")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


class _BrokenBackends:
    def get(self, kind, name):
        raise RuntimeError("sketch illustrator not importable")


def test_pages_without_a_picture_use_the_sketch_or_a_text_card(services, tmp_path):
    saved = make_book(services.store, pages=4, with_images=[False, True, False, True])
    sources = [p.image_source for p in gather(saved, services.store.media_for(saved.owner), services.backends).pages]
    assert sources[1] == sources[3] == "chosen" and sources[0] in ("sketch", "card")
    card_book = gather(saved, services.store.media_for(saved.owner), _BrokenBackends())
    assert [p.image_source for p in card_book.pages] == ["card", "chosen", "card", "chosen"]
    assert card_book.pages[0].image_size == (768, 768)
    reader = PdfReader(export_pdf(card_book, tmp_path / "out"))
    assert len(reader.pages) == 5 and "1" in reader.pages[1].extract_text()
