"""What every export needs from a book: pages with image bytes, narration files and durations.

``gather`` reads the book once and turns each page into an ``ExportPage``: the chosen picture
(else the offline sketch, else a plain text card drawn here), the chosen narration (its length
measured from the file itself, so SMIL clips and video chapters match the audio exactly), and
the text. ``missing`` says in words what a family should know before exporting.
Text from users and models is untrusted: ``xml_text`` escapes it for XHTML/HTML and drops
characters XML cannot carry.
"""
from __future__ import annotations

import io
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from studio.book import Book, Page
from studio.jobs import Progress
from studio.messages import Localized
from studio.naming import safe_slug

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parents[2] / "assets"
FONTS = {"myeongjo": ASSETS / "fonts" / "NanumMyeongjo.ttf", "gothic": ASSETS / "fonts" / "NanumGothic.ttf"}
FONT_FAMILIES = {"myeongjo": "'Nanum Myeongjo', NanumMyeongjo, serif",
                 "gothic": "'Nanum Gothic', NanumGothic, sans-serif"}
DEFAULT_PAGE_S = 5.0  # how long a page without narration stays on screen in the video
MAX_IMAGE_SIDE = 2048  # print quality at 20 cm is ~1600 px; larger only makes files heavy
PAPER = (250, 243, 232)
INK = (74, 52, 40)

ProgressFn = Callable[[Progress], None]
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class ExportError(Localized, ValueError):
    """An export that cannot be made; the message is written for the family."""


@dataclass
class ExportPage:
    number: int  # 1-based
    text: str
    image_jpeg: bytes
    image_size: tuple[int, int]
    image_source: str  # "chosen" | "sketch" | "card"
    narration: Path | None = None  # WAV in the media store
    duration_s: float | None = None  # measured from the file

    @property
    def shown_s(self) -> float:
        return self.duration_s if self.duration_s else DEFAULT_PAGE_S


@dataclass
class ExportBook:
    id: str
    title: str
    dedicated_to: str
    language: str
    cover_jpeg: bytes
    cover_size: tuple[int, int]
    pages: list[ExportPage] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return safe_slug(self.title, fallback="book")

    @property
    def narrated(self) -> list[ExportPage]:
        return [p for p in self.pages if p.narration is not None]

    @property
    def total_narration_s(self) -> float:
        return sum(p.duration_s or 0.0 for p in self.pages)


def gather(book: Book, media: Any, backends: Any = None, on_progress: ProgressFn | None = None) -> ExportBook:
    """Everything the exporters need, read once. ``media`` is a MediaStore; ``backends`` a
    Backends registry (for the sketch illustrator) or None."""
    if not book.pages:
        raise ExportError("This book has no pages yet: write the story first (Story tab).")
    pages = []
    for i, page in enumerate(book.pages, start=1):
        if on_progress:
            on_progress(Progress(i - 1, len(book.pages), f"Reading page {i}"))
        jpeg, size, source = _page_image(page, i, book, media, backends)
        narration, duration = _page_narration(page, media)
        pages.append(ExportPage(i, clean_text(page.text), jpeg, size, source, narration, duration))
    cover_ref = book.cover()
    if cover_ref and media.exists(cover_ref):
        cover_jpeg, cover_size = _to_jpeg(media.path(cover_ref).read_bytes())
    else:
        cover_jpeg, cover_size = pages[0].image_jpeg, pages[0].image_size
    return ExportBook(book.id, clean_text(book.title) or "Untitled", clean_text(book.dedicated_to),
                      book.language, cover_jpeg, cover_size, pages)


def missing(book: Book, media: Any) -> list[str]:
    """Plain sentences about what the exports will fill in; empty when the book is complete."""
    if not book.pages:
        return ["The book has no pages yet: write the story first (Story tab). / 아직 쪽이 없습니다."]
    notes = []
    for i, page in enumerate(book.pages, start=1):
        chosen = page.chosen_image()
        if not (chosen and media.exists(chosen.image)):
            notes.append(f"Page {i}: no chosen picture, a sketch is used. / {i}쪽: 고른 그림이 없어 스케치를 씁니다.")
        take = page.chosen_narration()
        if not (take and media.exists(take.audio)):
            notes.append(f"Page {i}: no narration, the page is silent ({DEFAULT_PAGE_S:g} s in the video). "
                         f"/ {i}쪽: 낭독이 없어 조용히 넘어갑니다.")
        if not page.text.strip():
            notes.append(f"Page {i}: no text. / {i}쪽: 글이 없습니다.")
    return notes


def clean_text(text: str | None) -> str:
    """Text as typed, minus characters no XML/PDF can carry (NUL, control codes, lone surrogates)."""
    return _XML_INVALID.sub("", (text or "").replace("\r\n", "\n").replace("\r", "\n")).strip()


def xml_text(text: str | None) -> str:
    """Escape for XHTML/HTML text and attribute values (quotes too)."""
    return (clean_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def xml_paragraphs(text: str | None) -> str:
    """Escaped text with line breaks kept as <br/>."""
    return "<br/>".join(xml_text(line) for line in clean_text(text).split("\n"))


def find_ffmpeg(settings: Any = None) -> str:
    """The ffmpeg to run: the setting, else the system one, else the imageio-ffmpeg wheel's."""
    configured = getattr(settings, "ffmpeg_binary", "") if settings is not None else ""
    if configured:
        return configured
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # wheel absent or its binary missing
        raise ExportError("ffmpeg is not installed: install it (apt install ffmpeg or pip install imageio-ffmpeg) "
                          "to make videos and audiobooks.") from None


def output_path(out_dir: Path, book: ExportBook, extension: str) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir / f"{book.slug}.{extension}"


def font_path(font: str) -> Path:
    try:
        return FONTS[font]
    except KeyError:
        raise ExportError(f"Unknown font {font!r}; choose one of {', '.join(FONTS)}.") from None


def font_subset(font: str, book: "ExportBook", extra: str = "") -> bytes:
    """The chosen Nanum font cut down to the characters this book uses (TrueType bytes), so
    e-books and web books can carry it: a few KB instead of 4 MB. OFL allows embedding."""
    from fontTools import subset

    logging.getLogger("fontTools").setLevel(logging.ERROR)
    text = " ".join([book.title, book.dedicated_to, *(p.text for p in book.pages), extra, "0123456789/·"])
    options = subset.Options()
    options.hinting = False
    options.desubroutinize = True
    ttf = subset.load_font(str(font_path(font)), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(ttf)
    buf = io.BytesIO()
    ttf.save(buf)
    return buf.getvalue()


# -- internals -------------------------------------------------------------------------------
def _page_image(page: Page, number: int, book: Book, media: Any, backends: Any) -> tuple[bytes, tuple[int, int], str]:
    chosen = page.chosen_image()
    if chosen and media.exists(chosen.image):
        try:
            jpeg, size = _to_jpeg(media.path(chosen.image).read_bytes())
            return jpeg, size, "chosen"
        except OSError as exc:  # a damaged file must not stop the whole export
            log.warning("page %s image unreadable: %s", number, exc)
    sketch = _sketch(page, backends)
    if sketch is not None:
        buf = io.BytesIO()
        sketch.convert("RGB").save(buf, "JPEG", quality=90)
        return buf.getvalue(), sketch.size, "sketch"
    card = text_card(page.text, number, book.title)
    buf = io.BytesIO()
    card.save(buf, "JPEG", quality=90)
    return buf.getvalue(), card.size, "card"


def _sketch(page: Page, backends: Any):
    if backends is None:
        return None
    try:
        from studio.backends.base import IllustrationRequest

        illustrator = backends.get("illustrator", "sketch")
        return illustrator.illustrate(IllustrationRequest(
            spec=page.image, prompt=page.illustration_prompt,
            page_context={"setting": page.setting, "mood": page.mood, "text": page.text, "pose_hint": page.pose_hint}))
    except Exception as exc:  # the sketch illustrator is optional here: a text card will do
        log.info("sketch illustrator unavailable for export (%s); drawing a text card", exc)
        return None


def _page_narration(page: Page, media: Any) -> tuple[Path | None, float | None]:
    take = page.chosen_narration()
    if not (take and media.exists(take.audio)):
        return None, None
    import soundfile

    path = media.path(take.audio)
    try:
        info = soundfile.info(str(path))
    except RuntimeError as exc:
        log.warning("narration %s unreadable: %s", take.audio, exc)
        return None, None
    if info.frames <= 0 or info.samplerate <= 0:
        return None, None
    return path, info.frames / float(info.samplerate)


def _to_jpeg(data: bytes) -> tuple[bytes, tuple[int, int]]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        if img.mode in ("RGBA", "LA", "P"):
            rgba = img.convert("RGBA")
            img = Image.new("RGB", rgba.size, PAPER)
            img.paste(rgba, mask=rgba.getchannel("A"))
        img = img.convert("RGB")
        if max(img.size) > MAX_IMAGE_SIDE:
            img.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        return buf.getvalue(), img.size


def text_card(text: str, number: int, title: str, size: int = 768):
    """A calm paper card with the page number and the book title, for pages with no picture
    (the page text is set beside it by every export)."""
    from PIL import Image, ImageDraw, ImageFont

    card = Image.new("RGB", (size, size), PAPER)
    draw = ImageDraw.Draw(card)
    draw.rounded_rectangle((24, 24, size - 24, size - 24), radius=36, outline=(222, 184, 140), width=6)
    draw.ellipse((size // 2 - 70, 110, size // 2 + 70, 250), fill=(244, 200, 140))
    for dx in (-180, 0, 180):
        draw.ellipse((size // 2 + dx - 120, size - 230, size // 2 + dx + 120, size - 60), fill=(206, 224, 190))
    font = ImageFont.truetype(str(FONTS["myeongjo"]), 44)
    small = ImageFont.truetype(str(FONTS["gothic"]), 30)
    draw.text((size // 2, 320), f"{number}", font=font, fill=INK, anchor="mm")
    label = clean_text(title).replace("\n", " ")
    while label and draw.textlength(label, font=small) > size - 160:
        label = label[:-1]
    draw.text((size // 2, 400), label, font=small, fill=INK, anchor="mm")
    return card
