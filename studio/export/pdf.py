"""The printable picture book: a cover, one page per story page (picture above, words below),
and a colophon page that says who made the book and how its pictures and voice were made.

The picture and the words are sized together: the words get a size that suits how many there
are, the picture takes the rest of the page, and the words sit centred in the space below it,
so no page ends in an empty third. Metadata: Title, Author (the family, else the app),
Subject (the dedication), Creator (Gieok Studio) and the book's language.

Sizes: A4 portrait, square 8×8 in, square 20×20 cm; optional 3 mm bleed (the paper colour runs
into it, and each page says where to cut with a TrimBox, so a print shop can trim cleanly). The Nanum font shipped in
``assets/fonts`` is embedded (subset) so Hangul renders anywhere and can be copied back out.
Text is drawn as plain strings (no markup parsing), so hostile titles stay literal text.
"""
from __future__ import annotations

import io
from pathlib import Path

from studio.export.common import (INK, PAPER, ExportBook, ExportError, ProgressFn, colophon, font_path,
                                  output_path)
from studio.jobs import Progress

SIZES_MM = {"a4": (210.0, 297.0), "square-8in": (203.2, 203.2), "square-20cm": (200.0, 200.0)}
BLEED_MM = 3.0
MARGIN_MM = 14.0
ACCENT = (214, 170, 120)
NUMBER_MM = 6.0  # room for the page number under the words
GAP_MM = 6.0  # between the picture and the words
MIN_PT = 8


def export_pdf(book: ExportBook, out_dir: Path, size: str = "a4", bleed: bool = False, font: str = "myeongjo",
               on_progress: ProgressFn | None = None) -> Path:
    from fpdf import FPDF

    if size not in SIZES_MM:
        raise ExportError("pictures.export.unknown_size", size=repr(size), choices=", ".join(SIZES_MM))
    trim_w, trim_h = SIZES_MM[size]
    bleed_mm = BLEED_MM if bleed else 0.0
    pdf = FPDF(unit="mm", format=(trim_w + 2 * bleed_mm, trim_h + 2 * bleed_mm))
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.add_font("Book", "", str(font_path(font)))
    pdf.set_title(book.title)
    pdf.set_author(book.author_or_app)
    if book.subject:
        pdf.set_subject(book.subject)
    pdf.set_creator("Gieok Studio")
    pdf.set_lang("ko" if book.language == "ko" else "en")
    layout = _Layout(pdf, trim_w, trim_h, bleed_mm)

    layout.cover(book)
    for page in book.pages:
        if on_progress:
            on_progress(Progress(page.number - 1, len(book.pages), f"PDF page {page.number}"))
        layout.story_page(page.image_jpeg, page.image_size, page.text, page.number)
    layout.colophon(*colophon(book))
    target = output_path(out_dir, book, f"{size}.pdf")
    partial = target.with_name(f".{target.name}.part")
    pdf.output(str(partial))
    if bleed:
        _mark_trim(partial, bleed_mm)
    partial.replace(target)
    if on_progress:
        on_progress(Progress(len(book.pages), len(book.pages), "PDF ready"))
    return target


def _mark_trim(path: Path, bleed_mm: float) -> None:
    """TrimBox (the finished page) and BleedBox (the whole sheet) on every page, for printers."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import RectangleObject

    inset = bleed_mm * 72 / 25.4
    writer = PdfWriter(clone_from=PdfReader(path))
    for page in writer.pages:
        box = page.mediabox
        page.bleedbox = RectangleObject([box.left, box.bottom, box.right, box.top])
        page.trimbox = RectangleObject([box.left + inset, box.bottom + inset, box.right - inset, box.top - inset])
    writer.write(path)


class _Layout:
    def __init__(self, pdf, trim_w: float, trim_h: float, bleed: float):
        self.pdf, self.w, self.h, self.bleed = pdf, trim_w, trim_h, bleed

    def _page(self) -> None:
        self.pdf.add_page()
        self.pdf.set_fill_color(*PAPER)
        self.pdf.rect(0, 0, self.w + 2 * self.bleed, self.h + 2 * self.bleed, style="F")

    def cover(self, book: ExportBook) -> None:
        pdf, b = self.pdf, self.bleed
        self._page()
        square = self.h <= self.w * 1.1
        title_h = self.h * (0.34 if square else 0.3)
        pic_h = self.h - title_h - MARGIN_MM
        pic_w = min(self.w - 2 * MARGIN_MM, pic_h * book.cover_size[0] / book.cover_size[1])
        pic_h = pic_w * book.cover_size[1] / book.cover_size[0]
        x = b + (self.w - pic_w) / 2
        pdf.set_draw_color(*ACCENT)
        pdf.set_line_width(0.8)
        pdf.rect(x - 2, b + MARGIN_MM - 2, pic_w + 4, pic_h + 4)
        pdf.image(io.BytesIO(book.cover_jpeg), x=x, y=b + MARGIN_MM, w=pic_w, h=pic_h)
        top = b + MARGIN_MM + pic_h + 8
        pdf.set_text_color(*INK)
        self._fit_text(book.title, top, title_h * 0.55, sizes=(34, 30, 26, 22, 18, 15))
        if book.dedicated_to:
            pdf.set_text_color(130, 96, 70)
            self._fit_text(book.dedicated_to, top + title_h * 0.58, title_h * 0.3, sizes=(16, 14, 12, 10))

    def story_page(self, jpeg: bytes, size: tuple[int, int], text: str, number: int) -> None:
        pdf, b = self.pdf, self.bleed
        self._page()
        inner_w = self.w - 2 * MARGIN_MM
        inner_h = self.h - 2 * MARGIN_MM - NUMBER_MM
        aspect = size[1] / size[0]
        largest = _words_size(text)
        pt, lines, line_h = largest, [], 0.0
        for pt in range(largest, MIN_PT - 1, -1):  # shrink the words until the picture keeps half the page
            lines, line_h = self._lines(text, pt)
            if inner_h - len(lines) * line_h - GAP_MM >= inner_h * 0.5 or pt == MIN_PT:
                break
        text_h = len(lines) * line_h if text else 0.0
        pic_w = min(inner_w, (inner_h - text_h - GAP_MM) / aspect)
        pic_w = max(pic_w, inner_w * 0.3)
        pic_h = pic_w * aspect
        # with room to spare, the words grow (up to a third larger) to use the page
        room = inner_h - pic_h - GAP_MM
        for bigger in range(pt + 1, int(largest * 1.34) + 1):
            more, more_h = self._lines(text, bigger)
            if len(more) * more_h > room * 0.8:
                break
            pt, lines, line_h = bigger, more, more_h
        text_h = len(lines) * line_h if text else 0.0
        if text_h > room:  # the smallest size still overflows: keep the lines that fit
            lines = lines[: max(1, int(room // line_h))]
            text_h = len(lines) * line_h
        # picture and words as one block, a little above the middle: the spare space is shared
        # above and below instead of collecting as an empty band at the foot of the page
        spare = inner_h - pic_h - GAP_MM - text_h
        top = b + MARGIN_MM + spare * 0.45
        x = b + (self.w - pic_w) / 2
        pdf.set_draw_color(*ACCENT)
        pdf.set_line_width(0.4)
        pdf.rect(x - 1.2, top - 1.2, pic_w + 2.4, pic_h + 2.4)
        pdf.image(io.BytesIO(jpeg), x=x, y=top, w=pic_w, h=pic_h)
        if text:
            pdf.set_text_color(*INK)
            pdf.set_font("Book", size=pt)
            pdf.set_xy(b + MARGIN_MM + 3, top + pic_h + GAP_MM + min(spare * 0.1, GAP_MM))
            pdf.multi_cell(inner_w - 6, line_h, "\n".join(lines), align="C")
        pdf.set_font("Book", size=9)
        pdf.set_text_color(150, 120, 95)
        pdf.set_xy(b, b + self.h - MARGIN_MM + 2)
        pdf.cell(self.w, 5, str(number), align="C")

    def colophon(self, heading: str, lines: list[str]) -> None:
        """The last page: a heading and a few short paragraphs, set quietly in the middle."""
        pdf, b = self.pdf, self.bleed
        self._page()
        width = self.w - 2 * MARGIN_MM - 20
        body = "\n\n".join(lines)
        pdf.set_font("Book", size=13)
        body_h = len(pdf.multi_cell(width, 7.5, body, align="C", dry_run=True, output="LINES")) * 7.5
        top = b + (self.h - body_h - 20) / 2
        pdf.set_text_color(*INK)
        pdf.set_font("Book", size=18)
        pdf.set_xy(b + MARGIN_MM + 10, top)
        pdf.cell(width, 10, heading, align="C")
        pdf.set_draw_color(*ACCENT)
        pdf.set_line_width(0.5)
        pdf.line(b + self.w / 2 - 14, top + 14, b + self.w / 2 + 14, top + 14)
        pdf.set_font("Book", size=13)
        pdf.set_text_color(110, 86, 70)
        pdf.set_xy(b + MARGIN_MM + 10, top + 20)
        pdf.multi_cell(width, 7.5, body, align="C")

    def _lines(self, text: str, pt: int) -> tuple[list[str], float]:
        self.pdf.set_font("Book", size=pt)
        line_h = pt * 0.3528 * 1.6
        width = self.w - 2 * MARGIN_MM - 6
        return self.pdf.multi_cell(width, line_h, text, align="C", dry_run=True, output="LINES"), line_h

    def _fit_text(self, text: str, top: float, box_h: float, sizes: tuple[int, ...]) -> None:
        """Centred text at the largest size that fits the box (the smallest size is clipped)."""
        pdf, b = self.pdf, self.bleed
        width = self.w - 2 * MARGIN_MM - 6
        for pt in sizes:
            pdf.set_font("Book", size=pt)
            line_h = pt * 0.3528 * 1.55
            lines = pdf.multi_cell(width, line_h, text, align="C", dry_run=True, output="LINES")
            if len(lines) * line_h <= box_h:
                break
        else:
            lines = lines[: max(1, int(box_h // line_h))]
            text = "\n".join(lines)
        pdf.set_xy(b + MARGIN_MM + 3, top)
        pdf.multi_cell(width, line_h, text, align="C")


def _words_size(text: str) -> int:
    """A reading size for the amount of words: big for a line or two, smaller for a long page."""
    n = len(text)
    return 24 if n <= 50 else 21 if n <= 100 else 18 if n <= 180 else 15 if n <= 300 else 12
