"""The round-trippable book archive: ``book.json`` + ``media/<ref>`` in a zip.

Import treats the archive as hostile: names are checked against an allow-list pattern (no
``../``, absolute paths, symlinks or odd entries), entry count, total and per-file sizes and the
compression ratio are capped, and bytes are streamed with a hard limit, so nothing is ever
written outside the media store and a zip bomb stops early.
"""
from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from pathlib import Path

from studio.book import SCHEMA_VERSION, Book
from studio.media import MEDIA_REF, MediaStore
from studio.naming import safe_slug
from studio.store import BookStore, migrate
from studio.storage import StoreError

FORMAT = "gieok-book"
MAX_ENTRIES = 10_000
MAX_TOTAL_BYTES = 4 * 1024**3
MAX_ENTRY_BYTES = 1024**3
MAX_JSON_BYTES = 20 * 1024**2
MAX_RATIO = 200  # uncompressed / compressed, per entry


class ArchiveError(StoreError):
    pass


def export_archive(store: BookStore, owner: str, book_id: str, out_dir: Path) -> Path:
    book = store.get(owner, book_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{safe_slug(book.title, fallback='book')}.gieok.zip"
    manifest = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "book": book.to_dict()}
    manifest["book"]["owner"] = ""  # owners are per installation; import assigns the importer
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("book.json", json.dumps(manifest, ensure_ascii=False, indent=1))
        for ref in sorted(book.media_refs()):
            if store.media.exists(ref):
                zf.write(store.media.path(ref), f"media/{ref}", compress_type=_compression_for(ref))
    return target


def import_archive(store: BookStore, owner: str, archive_path: Path) -> Book:
    try:
        zf = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError):
        raise ArchiveError("This file is not a Gieok book archive (.zip).") from None
    with zf:
        entries = _checked_entries(zf)
        if "book.json" not in entries:
            raise ArchiveError("This archive has no book.json: it is not a Gieok book.")
        book = _read_book(zf, entries["book.json"])
        media = {name[len("media/"):]: info for name, info in entries.items() if name.startswith("media/")}
        missing = book.media_refs() - set(media)
        wanted = book.media_refs()
        for ref, info in media.items():
            if ref in wanted:
                _copy_media(zf, info, ref, store.media)
    if missing:
        _drop_missing(book, missing)
    return store.insert_imported(owner, book)


def _checked_entries(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ArchiveError(f"This archive has {len(infos)} entries; a book archive has at most {MAX_ENTRIES}.")
    total = 0
    entries: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if info.is_dir() and name == "media/":
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveError(f"The archive contains a link ({name!r}); links are not allowed.")
        if name != "book.json" and not (name.startswith("media/") and MEDIA_REF.fullmatch(name[6:])):
            raise ArchiveError(f"The archive contains an unexpected file {name[:80]!r}; nothing was imported.")
        if info.file_size > MAX_ENTRY_BYTES:
            raise ArchiveError(f"{name[:80]!r} is too large to import.")
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 1024**2:
            raise ArchiveError("The archive looks like a zip bomb (it expands far too much); nothing was imported.")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise ArchiveError("The archive expands to more than 4 GB; nothing was imported.")
        if name in entries:
            raise ArchiveError(f"The archive lists {name!r} twice; nothing was imported.")
        entries[name] = info
    return entries


def _read_limited(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """Read at most ``limit`` bytes, whatever the header claims (headers can lie)."""
    buf = io.BytesIO()
    with zf.open(info) as fh:
        while chunk := fh.read(1 << 20):
            buf.write(chunk)
            if buf.tell() > limit:
                raise ArchiveError(f"{info.filename[:80]!r} is larger than it claims; nothing was imported.")
    return buf.getvalue()


def _read_book(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Book:
    try:
        manifest = json.loads(_read_limited(zf, info, MAX_JSON_BYTES).decode("utf-8"))
        if manifest.get("format") != FORMAT or not isinstance(manifest.get("book"), dict):
            raise ValueError
        return Book.from_dict(migrate(manifest["book"]))
    except ArchiveError:
        raise
    except (ValueError, TypeError, AttributeError, KeyError, UnicodeDecodeError):
        raise ArchiveError("The archive's book.json is damaged or not a Gieok book.") from None


def _copy_media(zf: zipfile.ZipFile, info: zipfile.ZipInfo, ref: str, media: MediaStore) -> str:
    data = _read_limited(zf, info, min(info.file_size, MAX_ENTRY_BYTES))
    if hashlib.sha256(data).hexdigest() != ref.split(".")[0]:
        raise ArchiveError(f"The file {ref[:12]}… in the archive is damaged (checksum mismatch).")
    return media.put_bytes(data, ref.rsplit(".", 1)[1])


def _drop_missing(book: Book, missing: set[str]) -> None:
    """Keep the book usable when media is absent: forget references to files not in the archive."""
    for page in book.pages:
        page.variants = [v for v in page.variants if v.image not in missing]
        if page.chosen_variant and not any(v.id == page.chosen_variant for v in page.variants):
            page.chosen_variant = page.variants[-1].id if page.variants else None
        page.takes = [t for t in page.takes if t.audio not in missing]
        if page.chosen_take and not any(t.id == page.chosen_take for t in page.takes):
            page.chosen_take = page.takes[-1].id if page.takes else None
    book.memories.photos = [p for p in book.memories.photos if p not in missing]
    if book.cover_image in missing:
        book.cover_image = None


def _compression_for(ref: str) -> int:
    return zipfile.ZIP_STORED if ref.rsplit(".", 1)[-1] in {"png", "jpg", "webp", "mp3", "m4a"} else zipfile.ZIP_DEFLATED
