"""Audio/video plumbing shared by the exports: running ffmpeg with a timeout and progress, one
soundtrack for the whole book (narrations and silences, sample-exact), chapter metadata, and
compressed narration clips for EPUB and the web book."""
from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

from studio import lifecycle
from studio.backends.base import CancelToken, Cancelled
from studio.export.common import ExportBook, ExportError, clean_text

SOUNDTRACK_RATE = 44100
_CLIP_CACHE: Path | None = None  # None: lifecycle.cache_dir("clips"), private, inside the data dir
CLIP_CACHE_DAYS = 2  # a kiosk runs for days: clips nobody played for this long are deleted


def run_ffmpeg(ffmpeg: str, args: list[str], timeout_s: float, total_s: float = 0.0,
               on_fraction: Callable[[float], None] | None = None, cancel: CancelToken | None = None) -> None:
    """Run ffmpeg; report progress from ``-progress``; kill it after ``timeout_s`` or when
    ``cancel`` is set (then ``Cancelled`` is raised)."""
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-progress", "pipe:1", *args]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ExportError("pictures.export.ffmpeg_start", binary=ffmpeg, reason=exc.strerror or str(exc)) from None
    stopped: list[str] = []

    def watch() -> None:
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None:
            if cancel is not None and cancel.cancelled:
                stopped.append("cancelled")
            elif time.monotonic() > deadline:
                stopped.append("timeout")
            if stopped:
                proc.kill()
                return
            time.sleep(0.05)

    errors: list[str] = []
    threads = [threading.Thread(target=watch, daemon=True),
               threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)]
    for thread in threads:
        thread.start()
    try:
        for line in proc.stdout:
            if on_fraction and total_s > 0 and line.startswith("out_time_us="):
                try:
                    on_fraction(min(1.0, int(line.split("=", 1)[1]) / 1e6 / total_s))
                except ValueError:  # "N/A" before the first frame
                    pass
        proc.wait()
    finally:
        for thread in threads:
            thread.join(timeout=5)
    if "cancelled" in stopped:
        raise Cancelled("common.stopped")
    if "timeout" in stopped:
        raise ExportError("pictures.export.ffmpeg_timeout", seconds=f"{timeout_s:g}")
    if proc.returncode != 0:
        detail = (errors[0] if errors else "").strip().splitlines()[-3:]
        raise ExportError("pictures.export.ffmpeg_failed", detail=" ".join(detail)[:400])


def write_soundtrack(book: ExportBook, target: Path, tail_s: float = 0.0) -> list[tuple[float, float]]:
    """One WAV of the whole book: each narration, or silence for pages without one, then
    ``tail_s`` of silence (the video's closing credits, which get the last span).
    Returns each page's (start, end) in seconds, computed from sample counts (exact)."""
    import numpy as np
    import soundfile

    pieces, spans, cursor = [], [], 0
    for page in book.pages:
        if page.narration is not None:
            samples, rate = soundfile.read(str(page.narration), dtype="float32", always_2d=True)
            samples = _resample(samples.mean(axis=1), rate, SOUNDTRACK_RATE)
        else:
            samples = np.zeros(int(round(page.shown_s * SOUNDTRACK_RATE)), dtype=np.float32)
        pieces.append(samples)
        spans.append((cursor / SOUNDTRACK_RATE, (cursor + len(samples)) / SOUNDTRACK_RATE))
        cursor += len(samples)
    if tail_s > 0:
        tail = np.zeros(int(round(tail_s * SOUNDTRACK_RATE)), dtype=np.float32)
        pieces.append(tail)
        spans.append((cursor / SOUNDTRACK_RATE, (cursor + len(tail)) / SOUNDTRACK_RATE))
    soundfile.write(str(target), np.concatenate(pieces), SOUNDTRACK_RATE, subtype="PCM_16")
    return spans


def chapters_metadata(book: ExportBook, spans: list[tuple[float, float]], target: Path,
                      closing: str = "") -> None:
    """An ffmetadata file: title, author, plus one chapter per page (and ``closing`` for a last
    span after the pages, e.g. the credits)."""
    lines = [";FFMETADATA1", f"title={_meta(book.title)}", f"album={_meta(book.title)}", "genre=Audiobook",
             f"artist={_meta(book.author_or_app)}"]
    if book.dedicated_to:
        lines.append(f"comment={_meta(book.dedicated_to)}")
    labels = [f"{p.number}. {p.text[:40]}" if p.text else f"{p.number}" for p in book.pages] + [closing]
    for label, (start, end) in zip(labels, spans):
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(start * 1000)}", f"END={round(end * 1000)}",
                  f"title={_meta(label)}"]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def compressed_clips(book: ExportBook, ffmpeg: str, timeout_s: float, ext: str = "m4a") -> dict[int, Path]:
    """Each page's narration as AAC (.m4a) or MP3, cached by content: page number -> file.
    One ffmpeg process encodes all missing clips (process start-up dominates on small files)."""
    cache = _CLIP_CACHE or lifecycle.cache_dir("clips")
    cache.mkdir(parents=True, exist_ok=True)
    _prune(cache, CLIP_CACHE_DAYS * 86400)
    result, todo = {}, []
    for page in book.narrated:
        key = hashlib.sha256(page.narration.name.encode()).hexdigest()[:32]
        target = cache / f"{key}.{ext}"
        result[page.number] = target
        if target.exists():
            target.touch()  # recently used clips stay cached
        else:
            todo.append((page.narration, target))
    if todo:
        args, outputs = [], []
        for source, _ in todo:
            args += ["-i", str(source)]
        for i, (_, target) in enumerate(todo):
            partial = target.with_name(f".{target.stem}-{time.time_ns()}.{ext}")
            outputs.append((partial, target))
            codec = ["-c:a", "aac", "-movflags", "+faststart"] if ext == "m4a" else ["-c:a", "libmp3lame"]
            args += ["-map", f"{i}:a", *codec, "-b:a", "64k", "-ac", "1", str(partial)]
        try:
            run_ffmpeg(ffmpeg, args, timeout_s)
            for partial, target in outputs:
                partial.replace(target)
        finally:
            for partial, _ in outputs:
                partial.unlink(missing_ok=True)
    return result


def _prune(folder: Path, older_than_s: float) -> None:
    cutoff = time.time() - older_than_s
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:  # another export removed or is writing it
            pass


def _resample(samples, rate: int, target: int):
    if rate == target:
        return samples
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, target)
    return resample_poly(samples, target // g, rate // g).astype("float32")


def _meta(text: str) -> str:
    """Escape for ffmetadata values: = ; # \\ and newlines are special."""
    out = clean_text(text).replace("\n", " ")
    for ch in ("\\", "=", ";", "#"):
        out = out.replace(ch, "\\" + ch)
    return out
