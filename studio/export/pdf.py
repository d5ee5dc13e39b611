"""The printable picture book: a cover, then one page per story page (picture above, words below).

Sizes: A4 portrait, square 8×8 in, square 20×20 cm; optional 3 mm bleed (the paper colour runs
into it, and each page says where to cut with a TrimBox, so a print shop can trim cleanly). The Nanum font shipped in
``assets/fonts`` is embedded (subset) so Hangul renders anywhere and can be copied back out.
Text is drawn as plain strings (no markup parsing), so hostile titles stay literal text.
"""
from __future__ import annotations

import io
from pathlib import Path

from studio.export.common import (INK, PAPER, ExportBook, ExportError, ProgressFn, font_path, output_path)
from studio.jobs import Progress

SIZES_MM = {"a4": (210.0, 297.0), "square-8in": (203.2, 203.2), "square-20cm": (200.0, 200.0)}
BLEED_MM = 3.0
MARGIN_MM = 14.0
ACCENT = (214, 170, 120)


def export_pdf(book: ExportBook, out_dir: Path, size: str = "a4", bleed: bool = False, font: str = "myeongjo",
               on_progress: ProgressFn | None = None) -> Path:
    from fpdf import FPDF

    if size not in SIZES_MM:
        raise ExportError(f"Unknown page size {size!r}; choose one of {', '.join(SIZES_MM)}.")
    trim_w, trim_h = SIZES_MM[size]
    bleed_mm = BLEED_MM if bleed else 0.0
    pdf = FPDF(unit="mm", format=(trim_w + 2 * bleed_mm, trim_h + 2 * bleed_mm))
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.add_font("Book", "", str(font_path(font)))
    pdf.set_title(book.title)
    pdf.set_author(book.dedicated_to or "Gieok Studio")
    pdf.set_creator("Gieok Studio")
    pdf.set_lang("ko" if book.language == "ko" else "en")
    layout = _Layout(pdf, trim_w, trim_h, bleed_mm)

    layout.cover(book)
    for page in book.pages:
        if on_progress:
            on_progress(Progress(page.number - 1, len(book.pages), f"PDF page {page.number}"))
        layout.story_page(page.image_jpeg, page.image_size, page.text, page.number)
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
        text_h = self.h * (0.3 if self.h > self.w * 1.1 else 0.27)
        pic_h = self.h - text_h - MARGIN_MM
        pic_w = min(self.w - 2 * MARGIN_MM, pic_h * size[0] / size[1])
        pic_h = pic_w * size[1] / size[0]
        x = b + (self.w - pic_w) / 2
        pdf.image(io.BytesIO(jpeg), x=x, y=b + MARGIN_MM, w=pic_w, h=pic_h)
        pdf.set_text_color(*INK)
        self._fit_text(text, b + MARGIN_MM + pic_h + 6, text_h - 16, sizes=(17, 15, 13, 11, 9, 8))
        pdf.set_font("Book", size=9)
        pdf.set_text_color(150, 120, 95)
        pdf.set_xy(b, b + self.h - 10)
        pdf.cell(self.w, 5, str(number), align="C")

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
