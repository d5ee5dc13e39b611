"""The PDF picture book: a cover plus one page per story page, the Nanum font embedded, Hangul
that can be copied back out, and pages that render."""
from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
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
    assert len(reader.pages) == len(book.pages) + 2  # the cover, one page per story page, the colophon
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
        expected = KOREAN_TEXTS[(i - 1) % len(KOREAN_TEXTS)].replace(" ", "")  # lines wrap where the size needs
        assert expected in "".join(reader.pages[i].extract_text().split())


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils (pdftoppm/pdftotext) is not installed")
def test_poppler_renders_every_page_and_reads_the_hangul(book, tmp_path):
    path = export_pdf(book, tmp_path, size="square-20cm", font="gothic")
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "할머니는봄마다감나무아래에서" in "".join(text.split())
    subprocess.run(["pdftoppm", "-r", "24", "-png", str(path), str(tmp_path / "page")], check=True,
                   capture_output=True, timeout=60)
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == len(book.pages) + 2
    for png in pngs:
        with Image.open(png) as img:
            low, high = img.convert("L").getextrema()
            assert high - low > 60  # a picture and words, not a blank sheet


def test_long_text_still_fits_a_page(services, tmp_path):
    saved = make_book(services.store, pages=4, texts=["할머니의 이야기는 끝이 없었어요. " * 40] * 4)
    path = export_pdf(gather(saved, services.store.media_for(saved.owner)), tmp_path, size="square-8in")
    reader = PdfReader(path)
    assert len(reader.pages) == 6  # no overflow pages: the text is set smaller instead
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
    assert len(reader.pages) == 6 and "1" in reader.pages[1].extract_text()


def test_metadata_names_the_book_the_family_and_the_dedication(services, tmp_path):
    from studio.book import Character, Consent

    saved = make_book(services.store, pages=4)
    saved = services.store.update("local", saved.id, lambda b: b.characters.append(Character(
        name="순자 할머니", consent=Consent(given_by="김민지", relation="손녀", date="2026-11-30", statement="네"))))
    meta = PdfReader(export_pdf(gather(saved, services.store.media_for(saved.owner)), tmp_path)).metadata
    assert meta.title == "할머니의 감나무" and meta.author == "김민지"
    assert meta.subject == "사랑하는 순자 할머니께" and meta.creator == "Gieok Studio"
    plain = make_book(services.store, pages=4, dedicated_to="")
    meta = PdfReader(export_pdf(gather(plain, services.store.media_for(plain.owner)), tmp_path / "plain")).metadata
    assert meta.author == "Gieok Studio" and not meta.subject  # no family named: the app, never the dedication
    lang = PdfReader(export_pdf(gather(plain, services.store.media_for(plain.owner)), tmp_path / "lang")).trailer["/Root"]["/Lang"]
    assert lang == "ko"


def test_drawn_pictures_are_said_once_on_the_colophon_not_stamped(services, tmp_path):
    saved = make_book(services.store, pages=4, with_images=[False, False, True, False])
    book = gather(saved, services.store.media_for(saved.owner), services.backends)
    assert [p.illustrator for p in book.pages] == ["sketch", "sketch", "test", "sketch"]
    reader = PdfReader(export_pdf(book, tmp_path))
    last = reader.pages[-1].extract_text().replace("\n", " ")
    assert "이 책에 대하여" in last and "1, 2, 4쪽 그림은" in last and "그림 모델 없이" in last
    words = " ".join(page.extract_text() for page in reader.pages).lower()
    assert "sketch" not in words and "스케치" not in words
    for page in book.pages[:2]:  # the drawn pictures carry no label card in a corner
        with Image.open(io.BytesIO(page.image_jpeg)) as img:
            corner = np.asarray(img.convert("RGB"), int)[-60:, -140:]
        assert (np.abs(corner - np.array([255, 250, 240])).sum(-1) < 6).mean() < 0.02
    english = make_book(services.store, pages=4, with_images=[False] * 4, title="Grandpa Harold")
    english = services.store.update("local", english.id, lambda b: setattr(b, "language", "en"))
    text = PdfReader(export_pdf(gather(english, services.store.media_for(english.owner), services.backends), tmp_path / "en")).pages[-1].extract_text()
    assert "About this book" in text and "offline drawings" in text.replace("\n", " ")


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils is not installed")
def test_a4_pages_use_the_page_with_no_empty_bottom_third(services, tmp_path):
    texts = ["할머니와 감을 땄어요.", KOREAN_TEXTS[0] + " " + KOREAN_TEXTS[1],
             " ".join(KOREAN_TEXTS), " ".join(KOREAN_TEXTS * 3)]
    saved = make_book(services.store, pages=4, texts=texts)
    path = export_pdf(gather(saved, services.store.media_for(saved.owner)), tmp_path, size="a4")
    subprocess.run(["pdftoppm", "-r", "30", "-png", "-f", "2", "-l", "5", str(path), str(tmp_path / "p")], check=True,
                   capture_output=True, timeout=60)
    for png in sorted(tmp_path.glob("p-*.png")):
        with Image.open(png) as img:
            grey = np.asarray(img.convert("L"), int)
        h = grey.shape[0]
        inked = (grey < 215).any(axis=1)  # rows holding picture or words (paper is ~244)
        bottom = inked[int(h * 0.67): int(h * 0.93)]
        assert bottom.mean() > 0.4, png.name  # picture and words reach the lower third: no empty band


def test_text_size_follows_the_amount_of_text():
    from studio.export.pdf import _words_size

    assert _words_size("짧아요.") > _words_size("가" * 150) > _words_size("가" * 400)
