"""The narration alone, for the car or a phone: M4B (AAC, chapters, cover art) or MP3 (ID3
chapters). One chapter per page; silent pages keep a pause (as long as in the video) so chapter
numbers stay page numbers."""
from __future__ import annotations

import tempfile
from pathlib import Path

from studio.backends.base import CancelToken
from studio.export.av import chapters_metadata, run_ffmpeg, write_soundtrack
from studio.export.common import ExportBook, ExportError, ProgressFn, find_ffmpeg, output_path
from studio.jobs import Progress

FORMATS = ("m4b", "mp3")


def export_audiobook(book: ExportBook, out_dir: Path, fmt: str = "m4b", settings=None,
                     on_progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> Path:
    if fmt not in FORMATS:
        raise ExportError("error.audiobook_format", fmt=str(fmt)[:20])
    if not book.narrated:
        raise ExportError("error.audiobook_no_narration")
    ffmpeg = find_ffmpeg(settings)
    timeout = float(getattr(settings, "subprocess_timeout_s", 600.0))
    report = on_progress or (lambda p: None)
    target = output_path(out_dir, book, fmt)
    partial = target.with_name(f".{target.stem}.part.{fmt}")
    with tempfile.TemporaryDirectory(prefix="gieok-audiobook-") as tmp:
        work = Path(tmp)
        report(Progress(0, 100, "Joining the narration"))
        spans = write_soundtrack(book, work / "soundtrack.wav")
        chapters_metadata(book, spans, work / "chapters.txt")
        (work / "cover.jpg").write_bytes(book.cover_jpeg)
        args = ["-i", str(work / "soundtrack.wav"), "-i", str(work / "chapters.txt"), "-i", str(work / "cover.jpg"),
                "-map", "0:a", "-map", "2:v", "-map_metadata", "1", "-map_chapters", "1",
                "-c:v", "mjpeg", "-disposition:v:0", "attached_pic"]
        if fmt == "m4b":
            args += ["-c:a", "aac", "-b:a", "96k", "-f", "ipod", "-movflags", "+faststart"]
        else:
            args += ["-c:a", "libmp3lame", "-q:a", "4", "-id3v2_version", "3", "-f", "mp3"]
        try:
            run_ffmpeg(ffmpeg, [*args, str(partial)], timeout, total_s=spans[-1][1],
                       on_fraction=lambda f: report(Progress(5 + int(95 * f), 100, "Encoding the audiobook")),
                       cancel=cancel)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
    report(Progress(100, 100, "Audiobook ready"))
    return target
