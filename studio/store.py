"""BookStore: every owner's books in their own folder, every call scoped by owner.

Gradio runs handlers in many threads; TinyDB is not thread-safe, so every operation holds that
owner's lock from read to write, and one logical change is exactly one write of that owner's
file. Owners never share a file or a lock: one visitor's save never waits on, or rewrites,
another's books. A file lock on the data dir makes a second process fail fast.
Media are per owner too (``media_for``): a ref is only a file for the owner whose folder has it.
"""
from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from filelock import FileLock, Timeout
from tinydb import Query

from studio import lifecycle
from studio import owners as layout
from studio.book import MAX_PAGES, MIN_PAGES, SCHEMA_VERSION, Book, Page, is_media_ref, new_id, now
from studio.book_schema import BookSchemaError, check_stored
from studio.media import MediaStore
from studio.owners import OwnerFiles, OwnerInfo, check_or_recover, owner_key, owner_only, refs_in
from studio.storage import StoreError

log = logging.getLogger(__name__)

# from_version -> function(book_dict) -> book_dict at from_version + 1
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}
MAX_OPEN_OWNERS = 64  # owners whose files stay open (and cached in memory) between calls


class StoreLockedError(StoreError):
    pass


class BookNotFound(StoreError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return StoreError.__str__(self)


class QuotaError(StoreError):
    pass


@dataclass(frozen=True)
class Quotas:
    """Per-owner limits; 0 = no limit."""

    books: int = 0
    pages: int = 0
    media_bytes: int = 0


@dataclass(frozen=True)
class Usage:
    books: int
    pages: int
    media_bytes: int


def migrate(doc: dict) -> dict:
    version = doc.get("schema_version", 1)
    version = version if isinstance(version, int) and not isinstance(version, bool) else 1
    if version > SCHEMA_VERSION:
        raise StoreError("store.newer_schema", version=version)
    while version < SCHEMA_VERSION:
        doc = MIGRATIONS[version](doc)
        version += 1
        doc["schema_version"] = version
    return doc


class BookStore:
    def __init__(self, data_dir: Path, lock_timeout_s: float = 0.0, quotas: Quotas | None = None):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.quotas = quotas or Quotas()
        self._file_lock = FileLock(str(self.data_dir / ".studio.lock"))
        try:
            self._file_lock.acquire(timeout=lock_timeout_s)
        except Timeout:
            raise StoreLockedError("store.locked", path=str(self.data_dir)) from None
        try:
            self.recovered_from_backup = False
            layout.remove_staging_leftovers(self.data_dir)
            self.migrated_owners = layout.migrate_single_file_layout(self.data_dir, self._recover_old)
        except BaseException:
            self._file_lock.release()
            raise
        owner_only(self.data_dir)
        owner_only(self.data_dir / layout.OWNERS_DIR)
        self._open: OrderedDict[str, OwnerFiles] = OrderedDict()
        self._registry = threading.Lock()

    def close(self) -> None:
        with self._registry:
            self._open.clear()
        self._file_lock.release()

    def _recover_old(self, path: Path) -> None:
        self.recovered_from_backup = check_or_recover(path)

    # -- owners ------------------------------------------------------------------------------
    @contextmanager
    def _owner(self, owner: str) -> Iterator[OwnerFiles]:
        """That owner's files, locked for the whole block (re-entrant)."""
        _require_owner(owner)
        key = owner_key(owner)
        while True:
            with self._registry:
                files = self._open.get(key)
                if files is None:
                    files = self._open[key] = OwnerFiles(self.data_dir / layout.OWNERS_DIR / key, owner, self.quotas.media_bytes)
                self._open.move_to_end(key)
                files.users += 1
            try:
                with files.lock:
                    if not files.deleted:
                        yield files
                        return
            finally:
                with self._registry:
                    files.users -= 1
                    self._evict_idle()
            # deleted while we waited: take a fresh handle

    def _evict_idle(self) -> None:
        for key in list(self._open):
            if len(self._open) <= MAX_OPEN_OWNERS:
                break
            if self._open[key].users == 0:
                del self._open[key]

    def media_for(self, owner: str) -> MediaStore:
        """The owner's media. A ref not in this folder does not exist for them."""
        with self._owner(owner) as files:
            return files.media

    def db_path_for(self, owner: str) -> Path:
        return layout.owner_folder(self.data_dir, owner) / layout.BOOKS_FILE

    def touch(self, owner: str) -> None:
        """Mark activity (a visit) so expiry counts from now; only owners that have a folder."""
        with self._owner(owner) as files:
            if files.folder.is_dir():
                layout.touch(files.folder)

    def owners(self) -> list[OwnerInfo]:
        return layout.list_owners(self.data_dir)

    def delete_owner(self, owner: str) -> bool:
        """Remove an owner's whole folder (books and media) now. True if there was one."""
        with self._owner(owner) as files:
            return self._remove_folder(files)

    def expire_owners(self, prefix: str = "anon:", older_than_s: float = 86400.0,
                      now_s: float | None = None) -> list[str]:
        """Delete owners whose id starts with ``prefix`` and who were inactive for longer than
        ``older_than_s``. Returns the owner ids removed."""
        cutoff = (time.time() if now_s is None else now_s) - older_than_s
        removed = []
        for info in self.owners():
            if info.owner.startswith(prefix) and info.last_active < cutoff:
                with self._owner(info.owner) as files:
                    if layout.touch_time(files.folder) < cutoff and self._remove_folder(files):
                        removed.append(info.owner)
        return removed

    def _remove_folder(self, files: OwnerFiles) -> bool:
        existed = files.folder.exists()
        files.deleted = True
        with self._registry:
            self._open.pop(owner_key(files.owner), None)
        if existed:
            shutil.rmtree(files.folder)
        lifecycle.forget_served(self.data_dir, files.owner)  # the browser's copies of their pictures
        return existed

    def usage(self, owner: str) -> Usage:
        with self._owner(owner) as files:
            docs = files.docs()
            return Usage(len(docs), sum(_page_count(d) for d in docs), files.media.used_bytes())

    # -- queries -----------------------------------------------------------------------------
    def list(self, owner: str) -> list[Book]:
        """The owner's books, newest first. A record that cannot be read is listed as damaged
        (``book.damaged`` says why) so it can still be chosen, deleted or exported raw."""
        with self._owner(owner) as files:
            docs = files.docs()
        books = [_load(d, owner) for d in docs if isinstance(d.get("id"), str)]
        return sorted(books, key=lambda b: b.updated, reverse=True)

    def get(self, owner: str, book_id: str) -> Book:
        with self._owner(owner) as files:
            doc = self._doc(files, book_id)
        return _checked_book(doc)

    def raw(self, owner: str, book_id: str) -> dict:
        """The record exactly as stored (for exporting a damaged book)."""
        with self._owner(owner) as files:
            return self._doc(files, book_id)

    # -- changes (each one storage write) ----------------------------------------------------
    def create(self, owner: str, title: str, dedicated_to: str = "", language: str = "ko",
               page_count: int = 6, **fields) -> Book:
        _require_owner(owner)
        title = (title or "").strip() if isinstance(title, str) else ""
        if not title:
            raise StoreError("store.title_missing")
        if not MIN_PAGES <= int(page_count) <= MAX_PAGES:
            raise StoreError("store.page_count", low=MIN_PAGES, high=MAX_PAGES)
        if language not in ("ko", "en"):
            raise StoreError("store.language")
        book = Book(owner=owner, title=title[:200], dedicated_to=(dedicated_to or "")[:300],
                    language=language, page_count=int(page_count), **fields)
        return self._insert(owner, book)

    def save(self, owner: str, book: Book) -> Book:
        """Replace a whole book (it must already be the owner's)."""
        with self._owner(owner) as files:
            return self._write(files, book, _page_count(self._doc(files, book.id)))

    def _write(self, files: OwnerFiles, book: Book, old_pages: int) -> Book:
        self._check_quota(files, add_books=0, add_pages=len(book.pages) - old_pages)
        book.owner = files.owner
        book.updated = now()
        files.table(create=True).update(_replace_with(book.to_dict()), Query().id == book.id)
        files.touch()
        return book

    def update(self, owner: str, book_id: str, change: Callable[[Book], object]) -> Book:
        """Read, apply ``change`` (mutates the book), write — all under the owner's lock. The
        record is read and checked once per change (not again before the write)."""
        with self._owner(owner) as files:
            doc = self._doc(files, book_id)
            book = _checked_book(doc)
            change(book)
            if book.id != book_id or book.owner != owner:
                raise StoreError("store.no_move")
            return self._write(files, book, _page_count(doc))

    def rename(self, owner: str, book_id: str, title: str) -> Book:
        title = (title or "").strip() if isinstance(title, str) else ""
        if not title:
            raise StoreError("store.title_missing")
        return self.update(owner, book_id, lambda b: setattr(b, "title", title[:200]))

    def duplicate(self, owner: str, book_id: str, suffix: str = " (copy)") -> Book:
        with self._owner(owner):
            book = self.get(owner, book_id)
            book.id = new_id()
            book.title = (book.title + suffix)[:200]
            book.created = book.updated = now()
            for page in book.pages:
                page.id = new_id()
            return self._insert(owner, book)

    def delete(self, owner: str, book_id: str) -> list[str]:
        """Delete a book and, at once, its media that no other book of this owner uses.
        Returns the refs whose files were deleted."""
        with self._owner(owner) as files:
            doc = self._doc(files, book_id)
            files.table(create=True).remove(Query().id == book_id)
            files.touch()
            return self._delete_unused(files, refs_in(doc))

    def insert_imported(self, owner: str, book: Book) -> Book:
        """Add a book that came from an archive: it gets a fresh id and the caller as owner."""
        book.id, book.owner = new_id(), owner
        book.created = book.updated = now()
        return self._insert(owner, book)

    def check_room(self, owner: str, books: int = 1, pages: int = 0) -> None:
        """Raise QuotaError if the owner cannot add this many books/pages (before slow work)."""
        with self._owner(owner) as files:
            self._check_quota(files, books, pages)

    def _insert(self, owner: str, book: Book) -> Book:
        with self._owner(owner) as files:
            self._check_quota(files, add_books=1, add_pages=len(book.pages))
            files.table(create=True).insert(book.to_dict())
            files.touch()
        return book

    def _check_quota(self, files: OwnerFiles, add_books: int, add_pages: int) -> None:
        q = self.quotas
        if not (q.books or q.pages) or (add_books <= 0 and add_pages <= 0):
            return
        docs = files.docs()
        if q.books and add_books > 0 and len(docs) + add_books > q.books:
            raise QuotaError("store.quota_books", limit=q.books)
        if q.pages and add_pages > 0 and sum(_page_count(d) for d in docs) + add_pages > q.pages:
            raise QuotaError("store.quota_pages", limit=q.pages)

    # -- media clean-up ----------------------------------------------------------------------
    def delete_media_if_unreferenced(self, owner: str, refs: Iterable[str]) -> list[str]:
        """Delete these files of the owner now, each unless another of their books still points
        to it (content-addressed refs are shared, e.g. by a duplicated book). The owner's lock
        keeps a concurrent change from starting to use a file between the check and the unlink."""
        with self._owner(owner) as files:
            return self._delete_unused(files, set(refs))

    def _delete_unused(self, files: OwnerFiles, refs: set[str]) -> list[str]:
        wanted = {ref for ref in refs if is_media_ref(ref)}
        if not wanted:
            return []
        in_use = _refs_in_use(files)
        deleted = sorted(ref for ref in wanted - in_use if files.media.delete(ref))
        lifecycle.forget_served(self.data_dir, files.owner, deleted)
        return deleted

    def purge_unreferenced_media(self, owner: str, older_than_s: float = 3600.0, now_s: float | None = None) -> int:
        """Delete the owner's files no book points to (after a grace period for uploads in flight)."""
        with self._owner(owner) as files:
            keep = _refs_in_use(files)
            cutoff = (time.time() if now_s is None else now_s) - older_than_s
            removed = []
            for ref in files.media.refs():
                path = files.media.path(ref)
                if ref not in keep and path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    removed.append(ref)
            lifecycle.forget_served(self.data_dir, files.owner, removed)
            return len(removed)

    def _doc(self, files: OwnerFiles, book_id: str) -> dict:
        table = files.table(create=False)
        docs = table.search(Query().id == book_id) if table is not None and isinstance(book_id, str) else []
        if not docs or docs[0].get("owner") != files.owner:
            # Same message either way: never reveal that another family's book exists.
            raise BookNotFound("store.not_found")
        return dict(docs[0])


def new_page(**fields) -> Page:
    return Page(**fields)


def _load(doc: dict, owner: str) -> Book:
    """A Book from a stored record; a record that does not fit comes back flagged as damaged."""
    try:
        doc = migrate(dict(doc))
        check_stored(doc)
        return Book.from_dict(doc)
    except (BookSchemaError, StoreError, TypeError, ValueError, KeyError, RecursionError) as exc:
        log.warning("Book %s of an owner is damaged: %s", str(doc.get("id"))[:40], exc)
        updated = doc.get("updated")
        updated = float(updated) if isinstance(updated, (int, float)) and not isinstance(updated, bool) else 0.0
        return Book(id=doc["id"], owner=owner, title="", updated=updated, damaged=str(exc)[:300])


def _checked_book(doc: dict) -> Book:
    doc = migrate(doc)
    try:
        check_stored(doc)
    except BookSchemaError as exc:
        raise StoreError("store.book_damaged", field=exc.field) from None
    return Book.from_dict(doc)


def _page_count(doc: dict) -> int:
    pages = doc.get("pages")
    return len(pages) if isinstance(pages, list) else 0


def _replace_with(new: dict):
    def transform(doc: dict) -> None:
        doc.clear()
        doc.update(new)

    return transform


def _require_owner(owner: str) -> None:
    if not owner or not isinstance(owner, str):
        raise StoreError("store.no_session")


def _refs_in_use(files: OwnerFiles) -> set[str]:
    """Every media ref one of the owner's books points to."""
    return set().union(*(refs_in(d) for d in files.docs()))
