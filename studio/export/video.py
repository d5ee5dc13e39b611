"""The book as a film for a memorial or a television: each page's picture with a slow zoom for
as long as its narration lasts (a default time for silent pages), optional burned-in words,
H.264 + AAC, one chapter per page, and a closing credits card (the colophon: who made the book,
that the pictures are offline drawings, who reads it).

Burned-in words are never cut short: a page's whole text is set in captions of up to three
lines, shown one after another, each for a share of the page's time that matches its length.

The frames are composed once per page with PIL (a soft, blurred copy of the picture fills the
16:9 frame behind the picture itself, so square pictures are never cropped), then one ffmpeg run
animates, joins and encodes them all. Frame counts come from the soundtrack's sample-exact
page boundaries, so picture and voice stay together to the frame.
"""
from __future__ import annotations

import io
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from studio.backends.base import CancelToken
from studio.export.av import chapters_metadata, run_ffmpeg, write_soundtrack
from studio.export.common import (FONTS, INK, PAPER, ExportBook, ExportPage, ProgressFn, clean_text, colophon,
                                  find_ffmpeg, output_path)
from studio.jobs import Progress
from studio.messages import text as message

SIZE = (1280, 720)
FPS = 15  # the zoom moves well under a pixel per frame, so 15 fps looks as smooth as 30 at half the work
ZOOM = 0.06  # the whole zoom over a page: gentle enough to read along
SUPERSAMPLE = 1.25  # zoompan crops on whole pixels; a larger source makes the motion smooth
WORKERS = max(1, min(2, os.cpu_count() or 1))
CREDITS_S = 4.0  # the closing card: long enough to read three short lines
CAPTION_LINES = 3


def export_video(book: ExportBook, out_dir: Path, burn_text: bool = True, settings=None,
                 on_progress: ProgressFn | None = None, size: tuple[int, int] = SIZE, fps: int = FPS,
                 cancel: CancelToken | None = None) -> Path:
    ffmpeg = find_ffmpeg(settings)
    timeout = float(getattr(settings, "subprocess_timeout_s", 600.0))
    target = output_path(out_dir, book, "mp4")
    partial = target.with_name(f".{target.stem}.part.mp4")
    report = on_progress or (lambda p: None)
    with tempfile.TemporaryDirectory(prefix="gieok-video-") as tmp:
        work = Path(tmp)
        report(Progress(0, 100, "Preparing the soundtrack"))
        spans = write_soundtrack(book, work / "soundtrack.wav", tail_s=CREDITS_S)
        chapters_metadata(book, spans, work / "chapters.txt", closing=message("pictures.video.credits", book.language))
        frames = [max(1, round(end * fps) - round(start * fps)) for start, end in spans]
        sheets = [*book.pages, _credits_page(book, size)]
        # zoompan runs on one core per ffmpeg process: encode halves of the book side by side,
        # then join them without re-encoding.
        groups = _split(list(range(len(sheets))), frames, WORKERS)
        done = [0.0] * len(groups)
        total = spans[-1][1]

        def encode(k: int) -> Path:
            def progress(f: float) -> None:
                done[k] = f * sum(frames[i] for i in groups[k]) / sum(frames)
                report(Progress(5 + int(85 * sum(done)), 100, "Animating and encoding pages"))

            segment = work / f"segment-{k}.mp4"
            seconds = sum(frames[i] for i in groups[k]) / fps
            args = _segment_args(sheets, groups[k], frames, work, burn_text, size, fps)
            run_ffmpeg(ffmpeg, [*args, str(segment)], timeout, total_s=seconds, on_fraction=progress,
                       cancel=cancel)
            return segment

        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            segments = list(pool.map(encode, range(len(groups))))
        listing = work / "segments.txt"
        listing.write_text("".join(f"file '{s.name}'\n" for s in segments), encoding="utf-8")
        report(Progress(92, 100, "Adding the narration and chapters"))
        try:
            run_ffmpeg(ffmpeg, ["-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(work / "soundtrack.wav"),
                                "-i", str(work / "chapters.txt"), "-map", "0:v", "-map", "1:a",
                                "-map_metadata", "2", "-map_chapters", "2", "-c:v", "copy",
                                "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(partial)],
                       timeout, total_s=total, cancel=cancel)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
    report(Progress(100, 100, "Video ready"))
    return target


def _segment_args(sheets: list[ExportPage], indices: list[int], frames: list[int], work: Path, burn_text: bool,
                  size: tuple[int, int], fps: int) -> list[str]:
    """ffmpeg arguments that animate these pages into one silent H.264 stream."""
    inputs: list[str] = []
    chains, labels = [], []
    w, h = size
    for i in indices:
        page = sheets[i]
        base = work / f"base-{i}.jpg"
        _compose_base(page, size).save(base, "JPEG", quality=92)
        inputs += ["-i", str(base)]
        n = frames[i]
        zoom = f"1+{ZOOM}*on/{n}" if i % 2 == 0 else f"{1 + ZOOM}-{ZOOM}*on/{n}"
        chain = (f"[{len(inputs) // 2 - 1}:v]zoompan=z='{zoom}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'"
                 f":d={n}:s={w}x{h}:fps={fps},format=yuv420p,setsar=1")
        if burn_text and page.text:
            bands = caption_bands(page.text, size)
            last = f"z{i}"
            for k, (band, top, start, end) in enumerate(_timed(bands, n / fps)):
                band.save(work / f"text-{i}-{k}.png")
                inputs += ["-i", str(work / f"text-{i}-{k}.png")]
                when = f"between(t,{start:.3f},{end:.3f})" if k < len(bands) - 1 else f"gte(t,{start:.3f})"
                chain += f"[{last}];[{last}][{len(inputs) // 2 - 1}:v]overlay=0:{top}:enable='{when}'"
                last = f"z{i}c{k}"
        chains.append(chain + f",trim=end_frame={n},setpts=N/({fps}*TB)[p{i}]")
        labels.append(f"[p{i}]")
    graph = ";".join(chains) + ";" + "".join(labels) + f"concat=n={len(labels)}:v=1:a=0[v]"
    return [*inputs, "-filter_complex", graph, "-map", "[v]", "-an", "-c:v", "libx264", "-preset", "veryfast",
            "-tune", "stillimage", "-crf", "23", "-r", str(fps), "-video_track_timescale", str(fps * 512)]


def _split(indices: list[int], weights: list[int], parts: int) -> list[list[int]]:
    """Consecutive groups of pages with about equal frame counts."""
    parts = max(1, min(parts, len(indices)))
    goal, groups, current, acc = sum(weights) / parts, [], [], 0
    for i in indices:
        current.append(i)
        acc += weights[i]
        if acc >= goal * (len(groups) + 1) and len(groups) < parts - 1:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def _compose_base(page: ExportPage, size: tuple[int, int]):
    """The still frame (supersampled): blurred wash of the picture behind the picture itself."""
    from PIL import Image, ImageFilter

    w, h = int(size[0] * SUPERSAMPLE), int(size[1] * SUPERSAMPLE)
    with Image.open(io.BytesIO(page.image_jpeg)) as src:
        picture = src.convert("RGB")
    small = picture.resize((64, 36), Image.BILINEAR).filter(ImageFilter.GaussianBlur(3))
    wash = Image.blend(small, Image.new("RGB", small.size, PAPER), 0.45).resize((w, h), Image.BICUBIC)
    pic_h = int(h * 0.94)
    pic_w = min(int(w * 0.94), round(pic_h * picture.width / picture.height))
    pic_h = round(pic_w * picture.height / picture.width)
    wash.paste(picture.resize((pic_w, pic_h), Image.LANCZOS), ((w - pic_w) // 2, (h - pic_h) // 2))
    return wash


def caption_pages(text: str, width: int, font_size: int, lines_per_caption: int = CAPTION_LINES) -> list[list[str]]:
    """The page's whole text wrapped to ``width`` pixels and cut into captions of a few lines."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONTS["gothic"]), font_size)
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    lines = _wrap(clean_text(text), probe, font, width)
    return [lines[k:k + lines_per_caption] for k in range(0, len(lines), lines_per_caption)]


def caption_bands(text: str, size: tuple[int, int]) -> list[tuple[object, int, int]]:
    """(band image, row, characters) per caption: the words on a soft band, as small transparent
    overlays (not zoomed); every band of a page has the same height so the words do not jump."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = size
    font_size = max(18, h // 22)
    font = ImageFont.truetype(str(FONTS["gothic"]), font_size)
    captions = caption_pages(text, int(w * 0.82), font_size)
    line_h = int(font_size * 1.45)
    band_h = line_h * max(len(c) for c in captions) + line_h // 2
    top = h - band_h - h // 36
    out = []
    for lines in captions:
        band = Image.new("RGBA", (w, band_h), (0, 0, 0, 0))
        draw = ImageDraw.Draw(band)
        draw.rounded_rectangle((int(w * 0.06), 0, int(w * 0.94), band_h - 1), radius=18, fill=PAPER + (215,))
        first = (band_h - line_h * len(lines)) // 2
        for i, line in enumerate(lines):
            draw.text((w // 2, first + i * line_h + line_h // 2), line, font=font, fill=INK, anchor="mm")
        out.append((band, top, sum(len(line) for line in lines)))
    return out


def _timed(bands, seconds: float):
    """Each caption shown for a share of the page's time that matches how much it says."""
    total = sum(chars for _, _, chars in bands) or 1
    start = 0.0
    for band, top, chars in bands:
        end = start + seconds * chars / total
        yield band, top, start, end
        start = end


def _credits_page(book: ExportBook, size: tuple[int, int]) -> ExportPage:
    """The closing card: the colophon in the book's language on the book's paper."""
    from PIL import Image, ImageDraw, ImageFont

    heading, lines = colophon(book)
    w, h = size[0] * 2, size[1] * 2  # drawn large: zoompan works from a supersampled picture
    card = Image.new("RGB", (w, h), PAPER)
    draw = ImageDraw.Draw(card)
    title_font = ImageFont.truetype(str(FONTS["myeongjo"]), h // 14)
    body_font = ImageFont.truetype(str(FONTS["gothic"]), h // 26)
    body = [row for line in lines for row in (*_wrap(line, draw, body_font, int(w * 0.72)), "")]
    line_h = int(body_font.size * 1.6)
    y = (h - (title_font.size * 2 + line_h * len(body))) // 2
    draw.text((w // 2, y), heading, font=title_font, fill=INK, anchor="mt")
    y += title_font.size * 2
    draw.line((w // 2 - w // 20, y - title_font.size // 2, w // 2 + w // 20, y - title_font.size // 2),
              fill=(214, 170, 120), width=max(2, h // 300))
    for row in body:
        draw.text((w // 2, y), row, font=body_font, fill=(110, 86, 70), anchor="mt")
        y += line_h
    buf = io.BytesIO()
    card.save(buf, "JPEG", quality=92)
    return ExportPage(len(book.pages) + 1, "", buf.getvalue(), card.size, "card")


def _wrap(text: str, draw, font, width: int) -> list[str]:
    """Greedy wrap by words (Korean has spaces between words), by characters for long words."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}".strip()
            if draw.textlength(candidate, font=font) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            for ch in word:
                if draw.textlength(line + ch, font=font) > width and line:
                    lines.append(line)
                    line = ""
                line += ch
        lines.append(line)
    return [ln for ln in lines if ln]
