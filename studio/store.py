"""BookStore: books in TinyDB, every call scoped by owner, one lock per read-modify-write.

Gradio runs handlers in many threads; TinyDB is not thread-safe, so every operation holds
``self._lock`` from read to write, and one logical change is exactly one storage write.
A file lock on the data dir makes a second process fail fast instead of corrupting the file.
"""
from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

from filelock import FileLock, Timeout
from tinydb import Query, TinyDB

from studio.book import MAX_PAGES, MIN_PAGES, SCHEMA_VERSION, Book, Page, is_media_ref, new_id, now
from studio.media import MediaStore
from studio.storage import AtomicJSONStorage, StoreCorruptError, StoreError, parse_or_raise

log = logging.getLogger(__name__)

# from_version -> function(book_dict) -> book_dict at from_version + 1
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}


class StoreLockedError(StoreError):
    pass


class BookNotFound(StoreError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0] if self.args else "Book not found"


def migrate(doc: dict) -> dict:
    version = int(doc.get("schema_version", 1))
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"This book was saved by a newer Gieok Studio (schema {version}); please update the studio."
        )
    while version < SCHEMA_VERSION:
        doc = MIGRATIONS[version](doc)
        version += 1
        doc["schema_version"] = version
    return doc


class BookStore:
    def __init__(self, data_dir: Path, media: MediaStore | None = None, lock_timeout_s: float = 0.0):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._file_lock = FileLock(str(self.data_dir / ".studio.lock"))
        try:
            self._file_lock.acquire(timeout=lock_timeout_s)
        except Timeout:
            raise StoreLockedError(
                f"Another Gieok Studio is already using {self.data_dir}. "
                "Close it first, or set GIEOK_DATA_DIR to a different folder."
            ) from None
        try:
            self.db_path = self.data_dir / "books.json"
            self.recovered_from_backup = _check_or_recover(self.db_path)
            self._db = TinyDB(self.db_path, storage=AtomicJSONStorage)
            self._books = self._db.table("books", cache_size=0)
        except BaseException:
            self._file_lock.release()
            raise
        self.media = media or MediaStore(self.data_dir / "media")
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._file_lock.release()

    # -- queries ---------------------------------------------------------------------------
    def list(self, owner: str) -> list[Book]:
        _require_owner(owner)
        with self._lock:
            docs = self._books.search(Query().owner == owner)
        books = [Book.from_dict(migrate(dict(d))) for d in docs]
        return sorted(books, key=lambda b: b.updated, reverse=True)

    def get(self, owner: str, book_id: str) -> Book:
        _require_owner(owner)
        with self._lock:
            return Book.from_dict(migrate(dict(self._doc(owner, book_id))))

    # -- changes (each one storage write) ----------------------------------------------------
    def create(self, owner: str, title: str, dedicated_to: str = "", language: str = "ko",
               page_count: int = 6, **fields) -> Book:
        _require_owner(owner)
        title = (title or "").strip()
        if not title:
            raise StoreError("Please give the book a title.")
        if not MIN_PAGES <= int(page_count) <= MAX_PAGES:
            raise StoreError(f"A book has {MIN_PAGES} to {MAX_PAGES} pages.")
        if language not in ("ko", "en"):
            raise StoreError("The book's language is Korean (ko) or English (en).")
        book = Book(owner=owner, title=title[:200], dedicated_to=(dedicated_to or "")[:300],
                    language=language, page_count=int(page_count), **fields)
        with self._lock:
            self._books.insert(book.to_dict())
        return book

    def save(self, owner: str, book: Book) -> Book:
        """Replace a whole book (it must already be the owner's)."""
        _require_owner(owner)
        with self._lock:
            self._doc(owner, book.id)
            book.owner = owner
            book.updated = now()
            self._books.update(_replace_with(book.to_dict()), Query().id == book.id)
        return book

    def update(self, owner: str, book_id: str, change: Callable[[Book], object]) -> Book:
        """Read, apply ``change`` (mutates the book), write — all under one lock."""
        with self._lock:
            book = self.get(owner, book_id)
            change(book)
            if book.id != book_id or book.owner != owner:
                raise StoreError("A change may not move a book to another id or owner.")
            return self.save(owner, book)

    def rename(self, owner: str, book_id: str, title: str) -> Book:
        title = (title or "").strip()
        if not title:
            raise StoreError("Please give the book a title.")
        return self.update(owner, book_id, lambda b: setattr(b, "title", title[:200]))

    def duplicate(self, owner: str, book_id: str, suffix: str = " (copy)") -> Book:
        with self._lock:
            book = self.get(owner, book_id)
            book.id = new_id()
            book.title = (book.title + suffix)[:200]
            book.created = book.updated = now()
            for page in book.pages:
                page.id = new_id()
            self._books.insert(book.to_dict())
            return book

    def delete(self, owner: str, book_id: str) -> None:
        with self._lock:
            self._doc(owner, book_id)
            self._books.remove(Query().id == book_id)

    def insert_imported(self, owner: str, book: Book) -> Book:
        """Add a book that came from an archive: it gets a fresh id and the caller as owner."""
        _require_owner(owner)
        book.id, book.owner = new_id(), owner
        book.created = book.updated = now()
        with self._lock:
            self._books.insert(book.to_dict())
        return book

    def media_in_use(self) -> set[str]:
        with self._lock:
            docs = self._books.all()
        refs: set[str] = set()
        for d in docs:
            refs |= Book.from_dict(dict(d)).media_refs()
        return refs

    def delete_media_if_unreferenced(self, refs: Iterable[str]) -> list[str]:
        """Delete these media files now, each unless some book (any owner's) still points to it.

        Called right after a family removes something (a recording, a voice): its files should not
        linger until the next purge. Content-addressed refs can be shared, e.g. by a duplicated
        book, so the check spans the whole library; the lock keeps a concurrent change from
        starting to use a file between the check and the unlink. Returns the refs deleted."""
        wanted = {ref for ref in refs if is_media_ref(ref)}
        if not wanted:
            return []
        with self._lock:
            unused = wanted - self.media_in_use()
            return sorted(ref for ref in unused if self.media.delete(ref))

    def purge_unreferenced_media(self, older_than_s: float = 3600.0) -> int:
        """Delete media files no book points to (after a grace period for uploads in flight)."""
        keep = self.media_in_use()
        cutoff = time.time() - older_than_s
        removed = 0
        for path in self.media.root.glob("*/*"):
            if path.name not in keep and path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _doc(self, owner: str, book_id: str) -> dict:
        docs = self._books.search(Query().id == book_id)
        if not docs or docs[0].get("owner") != owner:
            # Same message either way: never reveal that another family's book exists.
            raise BookNotFound("This book does not exist or is not yours.")
        return docs[0]


def new_page(**fields) -> Page:
    return Page(**fields)


def _replace_with(new: dict):
    def transform(doc: dict) -> None:
        doc.clear()
        doc.update(new)

    return transform


def _require_owner(owner: str) -> None:
    if not owner or not isinstance(owner, str):
        raise StoreError("No visitor session: please reload the page.")


def _check_or_recover(db_path: Path) -> bool:
    """Refuse a damaged library; restore the backup when there is a good one. Returns True if
    the backup was restored (the damaged file is kept beside it, never deleted)."""
    if not db_path.exists():
        return False
    try:
        parse_or_raise(db_path.read_text(encoding="utf-8", errors="strict"), db_path)
        return False
    except (StoreCorruptError, UnicodeDecodeError) as exc:
        problem = exc
    backup = db_path.with_name(db_path.name + ".bak")
    try:
        parse_or_raise(backup.read_text(encoding="utf-8"), backup)
    except (OSError, StoreCorruptError, UnicodeDecodeError):
        raise StoreCorruptError(
            f"{problem} It was left untouched. Restore it from a copy, or move it away to start "
            "an empty library."
        ) from None
    kept = db_path.with_name(f"{db_path.name}.damaged-{int(time.time())}")
    shutil.copy2(db_path, kept)
    shutil.copy2(backup, db_path)
    log.warning("Library file was damaged; restored the last good copy (damaged file kept at %s)", kept)
    return True
