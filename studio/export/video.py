"""The book as a film for a memorial or a television: each page's picture with a slow zoom for
as long as its narration lasts (a default time for silent pages), optional burned-in words,
H.264 + AAC, one chapter per page.

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
from studio.export.common import (FONTS, INK, PAPER, ExportBook, ExportPage, ProgressFn, clean_text,
                                  find_ffmpeg, output_path)
from studio.jobs import Progress

SIZE = (1280, 720)
FPS = 15  # the zoom moves well under a pixel per frame, so 15 fps looks as smooth as 30 at half the work
ZOOM = 0.06  # the whole zoom over a page: gentle enough to read along
SUPERSAMPLE = 1.25  # zoompan crops on whole pixels; a larger source makes the motion smooth
WORKERS = max(1, min(2, os.cpu_count() or 1))


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
        spans = write_soundtrack(book, work / "soundtrack.wav")
        chapters_metadata(book, spans, work / "chapters.txt")
        frames = [max(1, round(end * fps) - round(start * fps)) for start, end in spans]
        # zoompan runs on one core per ffmpeg process: encode halves of the book side by side,
        # then join them without re-encoding.
        groups = _split(list(range(len(book.pages))), frames, WORKERS)
        done = [0.0] * len(groups)
        total = spans[-1][1]

        def encode(k: int) -> Path:
            def progress(f: float) -> None:
                done[k] = f * sum(frames[i] for i in groups[k]) / sum(frames)
                report(Progress(5 + int(85 * sum(done)), 100, "Animating and encoding pages"))

            segment = work / f"segment-{k}.mp4"
            seconds = sum(frames[i] for i in groups[k]) / fps
            args = _segment_args(book, groups[k], frames, work, burn_text, size, fps)
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


def _segment_args(book: ExportBook, indices: list[int], frames: list[int], work: Path, burn_text: bool,
                  size: tuple[int, int], fps: int) -> list[str]:
    """ffmpeg arguments that animate these pages into one silent H.264 stream."""
    inputs: list[str] = []
    chains, labels = [], []
    w, h = size
    for i in indices:
        page = book.pages[i]
        base = work / f"base-{i}.jpg"
        _compose_base(page, size).save(base, "JPEG", quality=92)
        inputs += ["-i", str(base)]
        n = frames[i]
        zoom = f"1+{ZOOM}*on/{n}" if i % 2 == 0 else f"{1 + ZOOM}-{ZOOM}*on/{n}"
        chain = (f"[{len(inputs) // 2 - 1}:v]zoompan=z='{zoom}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'"
                 f":d={n}:s={w}x{h}:fps={fps},format=yuv420p,setsar=1")
        if burn_text and page.text:
            band, top = _text_band(page.text, size)
            band.save(work / f"text-{i}.png")
            inputs += ["-i", str(work / f"text-{i}.png")]
            chain += f"[z{i}];[z{i}][{len(inputs) // 2 - 1}:v]overlay=0:{top}"
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


def _text_band(text: str, size: tuple[int, int]):
    """The page's words on a soft band, as a small transparent overlay (it is not zoomed) and
    the row where it goes; only the band is blended, not the whole frame."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = size
    font = ImageFont.truetype(str(FONTS["gothic"]), max(18, h // 22))
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    lines = _wrap(clean_text(text), probe, font, int(w * 0.82))[:3]
    line_h = int(font.size * 1.45)
    band_h = line_h * len(lines) + line_h // 2
    top = h - band_h - h // 36
    band = Image.new("RGBA", (w, band_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(band)
    draw.rounded_rectangle((int(w * 0.06), 0, int(w * 0.94), band_h - 1), radius=18, fill=PAPER + (215,))
    for i, line in enumerate(lines):
        draw.text((w // 2, line_h // 4 + i * line_h + line_h // 2), line, font=font, fill=INK, anchor="mm")
    return band, top


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
    lines = [ln for ln in lines if ln]
    if len(lines) > 3:
        lines = lines[:3]
        lines[2] = lines[2][: max(0, len(lines[2]) - 1)] + "…"
    return lines
