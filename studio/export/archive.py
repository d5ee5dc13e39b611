"""The round-trippable book archive: ``book.json`` + ``media/<ref>`` in a zip.

Import treats the archive as hostile:
* names are checked against an allow-list pattern (no ``../``, absolute paths, symlinks or odd
  entries); entry count, per-entry ratio and the *total* expanded size are capped against the
  upload's own size, an absolute cap and the owner's remaining quota — before anything is written;
* ``book.json`` is validated against the typed schema with limits (``book_schema.check_import``)
  before ``Book.from_dict`` sees it; the error names the field;
* every media reference the archive does not carry is dropped, so a book can never point at a
  file of someone else's (media are per owner anyway: ``store.media_for``);
* files are streamed to disk while hashed, with a hard limit whatever the header claims; on any
  failure the files this import added are removed again: a refused import writes nothing.
"""
from __future__ import annotations

import io
import json
import stat
import zipfile
import zlib
from pathlib import Path

from studio.book import SCHEMA_VERSION, Book
from studio.book_schema import check_import
from studio.media import MEDIA_REF, MediaError, MediaStore
from studio.naming import safe_slug
from studio.owners import refs_in
from studio.storage import StoreError
from studio.store import BookStore, migrate

FORMAT = "gieok-book"
MAX_ENTRIES = 10_000
MAX_JSON_BYTES = 20 * 1024**2
MAX_RATIO = 200  # uncompressed / compressed, per entry
MAX_EXPANSION = 20  # the whole archive expands to at most this many times its own size ...
MIN_ALLOWANCE = 64 * 1024**2  # ... but a tiny archive may still hold a few photos' worth
MAX_TOTAL_BYTES = 1024**3  # and never more than this


class ArchiveError(StoreError):
    pass


def export_archive(store: BookStore, owner: str, book_id: str, out_dir: Path) -> Path:
    """The book and its files as a zip. A damaged record is exported as it is stored, so a
    family can keep (and repair) it elsewhere."""
    try:
        doc = store.get(owner, book_id).to_dict()
    except StoreError as exc:
        if getattr(exc, "key", "") != "store.book_damaged":
            raise
        doc = store.raw(owner, book_id)
    media = store.media_for(owner)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = doc.get("title") if isinstance(doc.get("title"), str) else ""
    target = out_dir / f"{safe_slug(title, fallback='book')}.gieok.zip"
    doc["owner"] = ""  # owners are per installation; import assigns the importer
    manifest = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "book": doc}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("book.json", json.dumps(manifest, ensure_ascii=False, indent=1))
        for ref in sorted(refs_in(doc)):
            if media.exists(ref):
                zf.write(media.path(ref), f"media/{ref}", compress_type=_compression_for(ref))
    return target


def import_archive(store: BookStore, owner: str, archive_path: Path,
                   max_expansion: int = MAX_EXPANSION, max_total_bytes: int = MAX_TOTAL_BYTES) -> Book:
    archive_path = Path(archive_path)
    try:
        zf = zipfile.ZipFile(archive_path)
        upload_size = archive_path.stat().st_size
    except (zipfile.BadZipFile, OSError):
        raise ArchiveError("store.archive_not_zip") from None
    media = store.media_for(owner)
    added: list[str] = []
    try:
        with zf:
            entries = _checked_entries(zf)
            if "book.json" not in entries:
                raise ArchiveError("store.archive_no_book")
            allowance = min(max(upload_size * max_expansion, MIN_ALLOWANCE), max_total_bytes)
            declared = sum(info.file_size for info in entries.values())
            if declared > allowance:
                raise ArchiveError("store.archive_too_big", limit_mb=max(1, round(allowance / 1024**2)))
            book = _read_book(zf, entries["book.json"])
            store.check_room(owner, books=1, pages=len(book.pages))
            carried = {name[len("media/"):]: info for name, info in entries.items() if name.startswith("media/")}
            wanted = book.media_refs()
            book.forget_media(wanted - set(carried))
            to_copy = {ref: carried[ref] for ref in book.media_refs()}
            media.check_room(sum(info.file_size for info in to_copy.values()))
            for ref, info in sorted(to_copy.items()):
                if _copy_media(zf, info, ref, media):
                    added.append(ref)
        return store.insert_imported(owner, book)
    except BaseException:
        for ref in added:  # nothing of a refused import stays on disk
            media.delete(ref)
        raise


def _checked_entries(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ArchiveError("store.archive_many_entries", count=len(infos), limit=MAX_ENTRIES)
    entries: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if info.is_dir() and name == "media/":
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveError("store.archive_link", name=name[:80])
        if name != "book.json" and not (name.startswith("media/") and MEDIA_REF.fullmatch(name[6:])):
            raise ArchiveError("store.archive_unexpected", name=name[:80])
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 1024**2:
            raise ArchiveError("store.archive_bomb")
        if name in entries:
            raise ArchiveError("store.archive_twice", name=name[:80])
        entries[name] = info
    return entries


def _read_limited(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """Read at most ``limit`` bytes, whatever the header claims (headers can lie)."""
    buf = io.BytesIO()
    with zf.open(info) as fh:
        while chunk := fh.read(1 << 20):
            buf.write(chunk)
            if buf.tell() > limit:
                raise ArchiveError("store.archive_lying", name=info.filename[:80])
    return buf.getvalue()


def _read_book(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Book:
    if info.file_size > MAX_JSON_BYTES:
        raise ArchiveError("store.archive_json_big", limit_mb=MAX_JSON_BYTES // 1024**2)
    try:
        manifest = json.loads(_read_limited(zf, info, MAX_JSON_BYTES).decode("utf-8"))
    except RecursionError:
        raise ArchiveError("store.archive_too_deep") from None
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, zlib.error, EOFError):
        raise ArchiveError("store.archive_damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("book"), dict):
        raise ArchiveError("store.archive_not_book")
    doc = migrate(manifest["book"])
    check_import(doc)  # names the field: "pages[3].text is too long" ...
    return Book.from_dict(doc)


def _copy_media(zf: zipfile.ZipFile, info: zipfile.ZipInfo, ref: str, media: MediaStore) -> bool:
    """Stream one file into the owner's media; True if it was new to them."""
    try:
        with zf.open(info) as src:
            _, new = media.put_stream(src, ref.rsplit(".", 1)[1], limit=info.file_size, expect_ref=ref)
    except MediaError as exc:
        if exc.key == "store.media_stream_too_large":
            raise ArchiveError("store.archive_lying", name=info.filename[:80]) from None
        if exc.key == "store.media_checksum":
            raise ArchiveError("store.archive_checksum", ref=ref[:12]) from None
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError):  # bad CRC, corrupt deflate data, cut short
        raise ArchiveError("store.archive_damaged") from None
    return new


def _compression_for(ref: str) -> int:
    return zipfile.ZIP_STORED if ref.rsplit(".", 1)[-1] in {"png", "jpg", "webp", "mp3", "m4a"} else zipfile.ZIP_DEFLATED
