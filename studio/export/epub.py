"""EPUB 3, fixed layout, that reads itself aloud: one XHTML page per story page, and for each
narrated page a SMIL Media Overlay pairing the page's text block with its narration clip.

We made the audio, so every clip is the whole file: clipBegin 0, clipEnd = the length measured
from the WAV (the same number goes into ``media:duration``). Narrations are stored as AAC
(audio/mp4, an EPUB core media type). Pages without narration simply have no overlay.
The last page is the colophon (who made the book, that the pictures are offline drawings, who
reads it), in the book's language; the package metadata names the family and the dedication.
"""
from __future__ import annotations

import time
import zipfile
from pathlib import Path

from studio.export.av import compressed_clips
from studio.export.common import (FONT_FAMILIES, ExportBook, ExportPage, ProgressFn, colophon, find_ffmpeg,
                                  font_subset, output_path, xml_paragraphs, xml_text)
from studio.jobs import Progress

VIEW_W, VIEW_H = 768, 1024
ACTIVE_CLASS = "-epub-media-overlay-active"


def export_epub(book: ExportBook, out_dir: Path, font: str = "myeongjo", settings=None,
                on_progress: ProgressFn | None = None) -> Path:
    timeout = float(getattr(settings, "subprocess_timeout_s", 600.0))
    clips = compressed_clips(book, find_ffmpeg(settings), timeout) if book.narrated else {}
    target = output_path(out_dir, book, "epub")
    partial = target.with_name(f".{target.name}.part")
    lang = "ko" if book.language == "ko" else "en"
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml", CONTAINER)
        zf.writestr("META-INF/com.apple.ibooks.display-options.xml", APPLE_OPTIONS)  # older Apple Books
        zf.writestr("OEBPS/style.css", _css(font))
        heading, lines = colophon(book)
        zf.writestr("OEBPS/fonts/book.ttf", font_subset(font, book, extra="표지 Cover " + heading + " ".join(lines)))
        zf.writestr("OEBPS/images/cover.jpg", book.cover_jpeg, compress_type=zipfile.ZIP_STORED)
        zf.writestr("OEBPS/cover.xhtml", _cover_xhtml(book, lang))
        zf.writestr("OEBPS/nav.xhtml", _nav_xhtml(book, lang))
        for page in book.pages:
            if on_progress:
                on_progress(Progress(page.number - 1, len(book.pages), f"EPUB page {page.number}"))
            name = _name(page)
            zf.writestr(f"OEBPS/images/{name}.jpg", page.image_jpeg, compress_type=zipfile.ZIP_STORED)
            zf.writestr(f"OEBPS/{name}.xhtml", _page_xhtml(book, page, lang))
            if page.number in clips:
                zf.write(clips[page.number], f"OEBPS/audio/{name}.m4a", compress_type=zipfile.ZIP_STORED)
                zf.writestr(f"OEBPS/{name}.smil", _smil(page))
        zf.writestr("OEBPS/colophon.xhtml", _colophon_xhtml(book, lang, heading, lines))
        zf.writestr("OEBPS/content.opf", _opf(book, lang, set(clips)))
    partial.replace(target)
    if on_progress:
        on_progress(Progress(len(book.pages), len(book.pages), "EPUB ready"))
    return target


def clock(seconds: float) -> str:
    """SMIL/OPF full clock value, millisecond precision: 0:00:08.123."""
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _name(page: ExportPage) -> str:
    return f"page-{page.number:02d}"


def _head(title: str, lang: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
            f'<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" '
            f'xml:lang="{lang}" lang="{lang}">\n<head>\n<meta charset="UTF-8"/>\n<title>{xml_text(title)}</title>\n'
            f'<meta name="viewport" content="width={VIEW_W}, height={VIEW_H}"/>\n'
            f'<link rel="stylesheet" type="text/css" href="style.css"/>\n</head>\n')


def _text_class(text: str) -> str:
    n = len(text)
    return "t-l" if n <= 60 else "t-m" if n <= 130 else "t-s" if n <= 220 else "t-xs"


def _page_xhtml(book: ExportBook, page: ExportPage, lang: str) -> str:
    return (_head(f"{book.title} · {page.number}", lang)
            + f'<body epub:type="bodymatter">\n<div id="page" class="page">\n'
            f'<img class="picture" src="images/{_name(page)}.jpg" alt="{xml_text(page.text[:300])}"/>\n'
            f'<p id="text" class="text {_text_class(page.text)}">{xml_paragraphs(page.text)}</p>\n'
            f'<p class="number">{page.number}</p>\n</div>\n</body>\n</html>\n')


def _cover_xhtml(book: ExportBook, lang: str) -> str:
    dedication = f'<p class="dedication">{xml_text(book.dedicated_to)}</p>\n' if book.dedicated_to else ""
    return (_head(book.title, lang)
            + f'<body epub:type="cover">\n<div class="page cover">\n'
            f'<img class="picture" src="images/cover.jpg" alt="{xml_text(book.title)}"/>\n'
            f'<h1 class="title">{xml_text(book.title)}</h1>\n{dedication}</div>\n</body>\n</html>\n')


def _colophon_xhtml(book: ExportBook, lang: str, heading: str, lines: list[str]) -> str:
    body = "\n".join(f'<p class="colophon-line">{xml_text(line)}</p>' for line in lines)
    return (_head(f"{book.title} · {heading}", lang)
            + f'<body epub:type="backmatter">\n<section class="page colophon" epub:type="colophon">\n'
            f'<h2 class="colophon-title">{xml_text(heading)}</h2>\n{body}\n</section>\n</body>\n</html>\n')


def _nav_xhtml(book: ExportBook, lang: str) -> str:
    items = "\n".join(f'<li><a href="{_name(p)}.xhtml">{p.number}. {xml_text(p.text[:40])}</a></li>'
                      for p in book.pages)
    return (_head(book.title, lang)
            + f'<body>\n<nav epub:type="toc" id="toc"><h1>{xml_text(book.title)}</h1>\n<ol>\n'
            f'<li><a href="cover.xhtml">{"표지" if lang == "ko" else "Cover"}</a></li>\n{items}\n</ol></nav>\n'
            f'<nav epub:type="page-list" hidden=""><ol>\n'
            + "\n".join(f'<li><a href="{_name(p)}.xhtml">{p.number}</a></li>' for p in book.pages)
            + "\n</ol></nav>\n</body>\n</html>\n")


def _smil(page: ExportPage) -> str:
    name = _name(page)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<smil xmlns="http://www.w3.org/ns/SMIL" xmlns:epub="http://www.idpf.org/2007/ops" version="3.0">\n'
            f'<body>\n<seq id="seq-{page.number}" epub:textref="{name}.xhtml#page" epub:type="bodymatter">\n'
            f'<par id="par-{page.number}">\n<text src="{name}.xhtml#text"/>\n'
            f'<audio src="audio/{name}.m4a" clipBegin="0:00:00.000" clipEnd="{clock(page.duration_s)}"/>\n'
            '</par>\n</seq>\n</body>\n</smil>\n')


def _opf(book: ExportBook, lang: str, narrated: set[int]) -> str:
    modified = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    meta = [f'<dc:identifier id="book-id">urn:uuid:{_uuid(book.id)}</dc:identifier>',
            f"<dc:title>{xml_text(book.title)}</dc:title>", f"<dc:language>{lang}</dc:language>",
            f"<dc:creator>{xml_text(book.author_or_app)}</dc:creator>",
            "<dc:contributor>Gieok Studio</dc:contributor>",
            f'<meta property="dcterms:modified">{modified}</meta>',
            '<meta property="rendition:layout">pre-paginated</meta>',
            '<meta property="rendition:orientation">portrait</meta>',
            '<meta property="rendition:spread">none</meta>']
    if book.dedicated_to:
        meta += [f"<dc:description>{xml_text(book.dedicated_to)}</dc:description>",
                 f"<dc:subject>{xml_text(book.dedicated_to)}</dc:subject>"]
    items = ['<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>',
             '<item id="css" href="style.css" media-type="text/css"/>',
             '<item id="font" href="fonts/book.ttf" media-type="font/ttf"/>',
             '<item id="cover-image" href="images/cover.jpg" media-type="image/jpeg" properties="cover-image"/>',
             '<item id="cover" href="cover.xhtml" media-type="application/xhtml+xml"/>']
    spine = ['<itemref idref="cover"/>']
    total = 0.0
    for page in book.pages:
        name = _name(page)
        overlay = ""
        if page.number in narrated:
            overlay = f' media-overlay="mo-{name}"'
            items += [f'<item id="mo-{name}" href="{name}.smil" media-type="application/smil+xml"/>',
                      f'<item id="audio-{name}" href="audio/{name}.m4a" media-type="audio/mp4"/>']
            meta.append(f'<meta property="media:duration" refines="#mo-{name}">{clock(page.duration_s)}</meta>')
            total += round(page.duration_s, 3)
        items += [f'<item id="img-{name}" href="images/{name}.jpg" media-type="image/jpeg"/>',
                  f'<item id="{name}" href="{name}.xhtml" media-type="application/xhtml+xml"{overlay}/>']
        spine.append(f'<itemref idref="{name}"/>')
    items.append('<item id="colophon" href="colophon.xhtml" media-type="application/xhtml+xml"/>')
    spine.append('<itemref idref="colophon"/>')
    if narrated:
        meta += [f'<meta property="media:duration">{clock(total)}</meta>',
                 f'<meta property="media:active-class">{ACTIVE_CLASS}</meta>']
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="book-id" xml:lang="{lang}">\n'
            '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">\n' + "\n".join(meta) + "\n</metadata>\n"
            "<manifest>\n" + "\n".join(items) + "\n</manifest>\n"
            "<spine>\n" + "\n".join(spine) + "\n</spine>\n</package>\n")


def _uuid(book_id: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(hex=book_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"gieok:{book_id}"))


def _css(font: str) -> str:
    family = '"Gieok Book", ' + FONT_FAMILIES.get(font, FONT_FAMILIES["myeongjo"])
    return f"""@charset "UTF-8";
@font-face {{ font-family: "Gieok Book"; src: url("fonts/book.ttf"); }}
html, body {{ margin: 0; padding: 0; width: {VIEW_W}px; height: {VIEW_H}px; background: #faf3e8; }}
.page {{ width: {VIEW_W}px; height: {VIEW_H}px; overflow: hidden; position: relative; font-family: {family}; color: #4a3428; }}
.picture {{ display: block; width: 672px; height: 672px; object-fit: contain; margin: 40px auto 0 auto; }}
.text {{ margin: 28px 56px 0 56px; text-align: center; line-height: 1.6; word-break: keep-all; }}
.t-l {{ font-size: 34px; }} .t-m {{ font-size: 28px; }} .t-s {{ font-size: 23px; }} .t-xs {{ font-size: 18px; }}
.number {{ position: absolute; bottom: 18px; width: 100%; text-align: center; font-size: 16px; color: #967860; margin: 0; }}
.cover .title {{ font-size: 48px; text-align: center; margin: 36px 40px 12px 40px; font-weight: normal; }}
.dedication {{ font-size: 24px; text-align: center; color: #826046; margin: 0 40px; }}
.colophon {{ display: flex; flex-direction: column; justify-content: center; padding: 0 96px; box-sizing: border-box; }}
.colophon-title {{ font-size: 34px; font-weight: normal; text-align: center; margin: 0 0 28px 0; }}
.colophon-line {{ font-size: 22px; line-height: 1.7; text-align: center; color: #6e5646; margin: 0 0 16px 0; word-break: keep-all; }}
.{ACTIVE_CLASS} {{ background-color: #ffe9b8; border-radius: 12px; }}
"""


CONTAINER = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>
"""
APPLE_OPTIONS = """<?xml version="1.0" encoding="UTF-8"?>
<display_options><platform name="*"><option name="fixed-layout">true</option>
<option name="open-to-spread">false</option></platform></display_options>
"""
