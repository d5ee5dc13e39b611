"""One entry point per visitor action, so tabs stay thin: read the owner's book, gather its
pages once, write the chosen format into ``out_dir``, report progress."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.export.common import ExportError, ProgressFn, gather, missing

FORMATS = ("pdf", "epub", "mp4", "audiobook", "webbook")


def export_book(services: Any, owner: str, book_id: str, kind: str, out_dir: Path,
                on_progress: ProgressFn | None = None, **options: Any) -> Path:
    """Make one export of the owner's book. Options: pdf(size, bleed, font), epub(font),
    mp4(burn_text, cancel), audiobook(fmt="m4b"|"mp3", cancel), webbook(font)."""
    if kind not in FORMATS:
        raise ExportError("error.export_kind", kind=str(kind)[:20])
    book = gather(services.store.get(owner, book_id), services.store.media_for(owner), services.backends)
    settings = services.settings
    if kind == "pdf":
        from studio.export.pdf import export_pdf

        return export_pdf(book, out_dir, on_progress=on_progress, **options)
    if kind == "epub":
        from studio.export.epub import export_epub

        return export_epub(book, out_dir, settings=settings, on_progress=on_progress, **options)
    if kind == "mp4":
        from studio.export.video import export_video

        return export_video(book, out_dir, settings=settings, on_progress=on_progress, **options)
    if kind == "audiobook":
        from studio.export.audiobook import export_audiobook

        return export_audiobook(book, out_dir, settings=settings, on_progress=on_progress, **options)
    from studio.export.webbook import export_webbook

    return export_webbook(book, out_dir, settings=settings, on_progress=on_progress, **options)


def reader_for(services: Any, owner: str, book_id: str, font: str = "myeongjo") -> str:
    """The web book's HTML for the Preview tab."""
    from studio.export.webbook import reader_html

    book = gather(services.store.get(owner, book_id), services.store.media_for(owner), services.backends)
    return reader_html(book, font, services.settings)


def whats_missing(services: Any, owner: str, book_id: str) -> list[tuple[str, dict[str, Any]]]:
    return missing(services.store.get(owner, book_id), services.store.media_for(owner))
