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
from studio.messages import Localized, has_key, text
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
    illustrator: str = ""  # the backend that made the picture ("sketch", "diffusers"...; "card" for none)
    painted_photo: bool = False  # the offline illustrator painted a family photo for this page
    narrator: str = ""  # who reads it: the speech backend, and the family voice when converted

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
    author: str = ""  # the family members who gave consent for the book's people and voices

    @property
    def subject(self) -> str:
        return self.dedicated_to

    @property
    def author_or_app(self) -> str:
        return self.author or "Gieok Studio"

    @property
    def slug(self) -> str:
        return safe_slug(self.title, fallback="book")

    @property
    def narrated(self) -> list[ExportPage]:
        return [p for p in self.pages if p.narration is not None]


def gather(book: Book, media: Any, backends: Any = None, on_progress: ProgressFn | None = None) -> ExportBook:
    """Everything the exporters need, read once. ``media`` is a MediaStore; ``backends`` a
    Backends registry (for the sketch illustrator) or None."""
    if not book.pages:
        raise ExportError("pictures.export.no_pages")
    pages = []
    for i, page in enumerate(book.pages, start=1):
        if on_progress:
            on_progress(Progress(i - 1, len(book.pages), f"Reading page {i}"))
        jpeg, size, source = _page_image(page, i, book, media, backends)
        narration, duration = _page_narration(page, media)
        chosen = page.chosen_image()
        illustrator = (chosen.backend if source == "chosen" and chosen else source) or "unknown"
        painted = source == "chosen" and illustrator == "sketch" and bool(
            ((chosen.params or {}).get("spec") or {}).get("init_image"))
        pages.append(ExportPage(i, clean_text(page.text), jpeg, size, source, narration, duration,
                                illustrator=illustrator, painted_photo=painted,
                                narrator=_narrator(book, page) if narration else ""))
    cover_ref = book.cover()
    if cover_ref and media.exists(cover_ref):
        cover_jpeg, cover_size = _to_jpeg(media.path(cover_ref).read_bytes())
    else:
        cover_jpeg, cover_size = pages[0].image_jpeg, pages[0].image_size
    return ExportBook(book.id, clean_text(book.title) or "Untitled", clean_text(book.dedicated_to),
                      book.language, cover_jpeg, cover_size, pages, author=_family(book))


def missing(book: Book, media: Any) -> list[tuple[str, dict[str, Any]]]:
    """What the exports will fill in, as message keys and values (the UI says them in the
    visitor's language); empty when the book is complete."""
    if not book.pages:
        return [("pictures.missing.no_pages", {})]
    notes: list[tuple[str, dict[str, Any]]] = []
    for i, page in enumerate(book.pages, start=1):
        chosen = page.chosen_image()
        if not (chosen and media.exists(chosen.image)):
            notes.append(("pictures.missing.no_picture", {"number": i}))
        take = page.chosen_narration()
        if not (take and media.exists(take.audio)):
            notes.append(("pictures.missing.no_narration", {"number": i, "seconds": f"{DEFAULT_PAGE_S:g}"}))
        if not page.text.strip():
            notes.append(("pictures.missing.no_text", {"number": i}))
    return notes


def colophon(book: ExportBook) -> tuple[str, list[str]]:
    """(heading, lines) for the book's last page, in the book's language: who made it, that the
    pictures are offline drawings (said once here, never stamped on the pictures), who reads it."""
    lang = book.language

    def pages_of(items: list[ExportPage]) -> str:
        return ", ".join(str(p.number) for p in items)

    lines = [text("pictures.colophon.made_by", lang, author=book.author) if book.author
             else text("pictures.colophon.made", lang)]
    drawn = [p for p in book.pages if p.illustrator == "sketch" and not p.painted_photo]
    if drawn:
        lines.append(text("pictures.colophon.drawn_all", lang) if len(drawn) == len(book.pages)
                     else text("pictures.colophon.drawn_some", lang, pages=pages_of(drawn)))
    painted = [p for p in book.pages if p.painted_photo]
    if painted:
        lines.append(text("pictures.colophon.painted", lang, pages=pages_of(painted)))
    for name in sorted({p.illustrator for p in book.pages} - {"sketch", "card"}):
        key = f"pictures.illustrator.{name}"
        label = text(key, lang) if has_key(key) else name
        lines.append(text("pictures.colophon.model", lang, illustrator=label,
                          pages=pages_of([p for p in book.pages if p.illustrator == name])))
    cards = [p for p in book.pages if p.illustrator == "card"]
    if cards:
        lines.append(text("pictures.colophon.cards", lang, pages=pages_of(cards)))
    speakers = []
    for page in book.pages:
        if page.narrator and page.narrator not in speakers:
            speakers.append(page.narrator)
    if speakers:
        lines.append(text("pictures.colophon.narration", lang, speakers=", ".join(_speaker_label(s, lang) for s in speakers)))
    return text("pictures.colophon.heading", lang), lines


def _speaker_label(narrator: str, lang: str) -> str:
    speaker, _, voice = narrator.partition("|")
    key = f"pictures.speaker.{speaker}"
    label = text(key, lang) if has_key(key) else speaker
    return f"{label}, {text('pictures.colophon.voice', lang, voice=voice)}" if voice else label


def _narrator(book: Book, page: Page) -> str:
    """"speaker" or "speaker|voice name" when the take was converted to a family voice."""
    take = page.chosen_narration()
    if take is None:
        return ""
    voice = next((v.name for v in book.voices if v.id == take.voice_id), "") if take.converter else ""
    return f"{take.speaker}|{clean_text(voice)}" if voice else take.speaker


def _family(book: Book) -> str:
    """The family members who gave consent for the book's people and voices, in order."""
    names: list[str] = []
    for holder in [*book.characters, *book.voices]:
        given = clean_text(holder.consent.given_by) if holder.consent else ""
        if given and given not in names:
            names.append(given)
    return ", ".join(names)


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
        raise ExportError("pictures.export.ffmpeg_missing") from None


def output_path(out_dir: Path, book: ExportBook, extension: str) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir / f"{book.slug}.{extension}"


def font_path(font: str) -> Path:
    try:
        return FONTS[font]
    except KeyError:
        raise ExportError("pictures.export.unknown_font", font=repr(font), choices=", ".join(FONTS)) from None


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
    sketch = _sketch(book, page, backends)
    if sketch is not None:
        buf = io.BytesIO()
        sketch.convert("RGB").save(buf, "JPEG", quality=90)
        return buf.getvalue(), sketch.size, "sketch"
    card = text_card(page.text, number, book.title)
    buf = io.BytesIO()
    card.save(buf, "JPEG", quality=90)
    return buf.getvalue(), card.size, "card"


def _sketch(book: Book, page: Page, backends: Any):
    """The offline illustrator's drawing of the page (its characters from the character sheet)."""
    if backends is None:
        return None
    try:
        from studio.backends.base import IllustrationRequest
        from studio.illustrate import compose_prompt, page_characters

        illustrator = backends.get("illustrator", "sketch")
        context = {"setting": page.setting, "mood": page.mood, "text": page.text, "pose_hint": page.pose_hint,
                   "characters": page_characters(book, page)}
        return illustrator.illustrate(IllustrationRequest(
            spec=page.image, prompt=page.image.prompt or compose_prompt(book, page)[0], page_context=context))
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
