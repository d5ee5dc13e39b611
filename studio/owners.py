"""One folder per owner: the on-disk layout, one owner's open files, and the move from the old layout.

    data_dir/
      .studio.lock                 one process per data dir
      owners/<key>/owner.json      {"owner": id}; its mtime is the owner's last activity
      owners/<key>/books.json      that owner's books (TinyDB, AtomicJSONStorage)
      owners/<key>/media/ab/<ref>  that owner's files, by content hash

``<key>`` is a hash of the owner id, never the id itself (ids come from logins and tokens and
must not become paths). One owner's save rewrites only their own small file.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinydb import TinyDB

from studio.media import MEDIA_REF, MediaStore
from studio.storage import AtomicJSONStorage, StoreCorruptError, fsync_dir, parse_or_raise

log = logging.getLogger(__name__)

OWNERS_DIR = "owners"
BOOKS_FILE = "books.json"
OWNER_FILE = "owner.json"
MEDIA_DIR = "media"
TABLE = "books"
_STAGING = ".migrating-"


@dataclass(frozen=True)
class OwnerInfo:
    key: str
    owner: str
    last_active: float
    folder: Path


def owner_key(owner: str) -> str:
    """A filesystem-safe, fixed-length name for an owner id."""
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:40]


def owner_folder(data_dir: Path, owner: str) -> Path:
    return Path(data_dir) / OWNERS_DIR / owner_key(owner)


def write_owner_file(folder: Path, owner: str) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    marker = folder / OWNER_FILE
    if not marker.exists():
        tmp = folder / f".{OWNER_FILE}.tmp"
        tmp.write_text(json.dumps({"owner": owner}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, marker)


def touch(folder: Path, when: float | None = None) -> None:
    try:
        os.utime(folder / OWNER_FILE, None if when is None else (when, when))
    except FileNotFoundError:
        pass


def touch_time(folder: Path) -> float:
    try:
        return (folder / OWNER_FILE).stat().st_mtime
    except FileNotFoundError:
        return 0.0


def list_owners(data_dir: Path) -> list[OwnerInfo]:
    root = Path(data_dir) / OWNERS_DIR
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        try:
            marker = folder / OWNER_FILE
            owner = json.loads(marker.read_text(encoding="utf-8")).get("owner", "")
            found.append(OwnerInfo(folder.name, str(owner), marker.stat().st_mtime, folder))
        except (OSError, ValueError, AttributeError):
            log.warning("Owner folder %s has no readable owner.json; left alone", folder.name)
    return found


def refs_in(doc: Any) -> set[str]:
    """Every string that is a media ref anywhere in a raw record (iterative: records can be deep
    or damaged). Conservative on purpose: used to decide what must NOT be deleted."""
    refs, stack = set(), [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and MEDIA_REF.fullmatch(item):
            refs.add(item)
    return refs


# -- from the old layout (one books.json + one media/ for everyone) ------------------------------
def migrate_single_file_layout(data_dir: Path, check_or_recover) -> int:
    """Split an old library by owner. Crash-safe and idempotent: each owner's folder is built under
    a staging name and renamed into place in one step; a rerun skips owners already moved and
    finishes the rest. Old files are kept, renamed ``*.migrated-<time>``. Returns owners moved."""
    data_dir = Path(data_dir)
    old_db, old_media = data_dir / BOOKS_FILE, data_dir / MEDIA_DIR
    if not old_db.exists():
        _retire(old_media, data_dir)  # an earlier run stopped between the two renames
        return 0
    check_or_recover(old_db)
    data = parse_or_raise(old_db.read_text(encoding="utf-8"), old_db) or {}
    rows = data.get(TABLE, {})
    if not isinstance(rows, dict):
        raise StoreCorruptError("store.library_not_gieok", path=str(old_db))
    by_owner: dict[str, list[dict]] = {}
    for doc in rows.values():
        owner = doc.get("owner") if isinstance(doc, dict) else None
        if isinstance(owner, str) and owner:
            by_owner.setdefault(owner, []).append(doc)
        else:
            log.warning("A record without an owner was left in the old library file")
    root = data_dir / OWNERS_DIR
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    moved = 0
    for owner, docs in by_owner.items():
        final = root / owner_key(owner)
        if final.exists():
            continue
        staging = root / f"{_STAGING}{final.name}"
        shutil.rmtree(staging, ignore_errors=True)
        write_owner_file(staging, owner)
        AtomicJSONStorage(staging / BOOKS_FILE).write({TABLE: {str(i): d for i, d in enumerate(docs, 1)}})
        for ref in sorted(set().union(*(refs_in(d) for d in docs))):
            source = old_media / ref[:2] / ref
            if source.is_file():
                _link_or_copy(source, staging / MEDIA_DIR / ref[:2] / ref)
        fsync_dir(staging)
        os.rename(staging, final)
        fsync_dir(root)
        moved += 1
    stamp = int(time.time())
    for name in (f"{BOOKS_FILE}.bak", BOOKS_FILE):  # books.json last: its absence means "done"
        if (data_dir / name).exists():
            os.rename(data_dir / name, data_dir / f"{name}.migrated-{stamp}")
    _retire(old_media, data_dir, stamp)
    fsync_dir(data_dir)
    log.warning("Moved the library to one folder per owner (%d owners); the old file is kept as %s.migrated-%d",
                moved, BOOKS_FILE, stamp)
    return moved


def remove_staging_leftovers(data_dir: Path) -> None:
    root = Path(data_dir) / OWNERS_DIR
    for staging in root.glob(f"{_STAGING}*") if root.is_dir() else []:
        shutil.rmtree(staging, ignore_errors=True)


def _retire(old_media: Path, data_dir: Path, stamp: int | None = None) -> None:
    if old_media.is_dir() and any(data_dir.glob(f"{BOOKS_FILE}.migrated-*")):
        os.rename(old_media, data_dir / f"{MEDIA_DIR}.migrated-{stamp or int(time.time())}")


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links not allowed
        shutil.copy2(source, target)


class OwnerFiles:
    """One owner's open library: their lock, TinyDB table and media store."""

    def __init__(self, folder: Path, owner: str, media_bytes: int):
        self.folder, self.owner = folder, owner
        self.lock = threading.RLock()
        self.users = 0
        self.deleted = False
        self.media = MediaStore(folder / MEDIA_DIR, media_bytes, on_write=self.touch)
        self._table = None

    def table(self, create: bool):
        if self._table is None:
            db_path = self.folder / BOOKS_FILE
            if not create and not db_path.exists():
                return None
            if create:
                write_owner_file(self.folder, self.owner)
            check_or_recover(db_path)
            self._table = TinyDB(db_path, storage=AtomicJSONStorage).table(TABLE, cache_size=0)
        return self._table

    def docs(self) -> list[dict]:
        table = self.table(create=False)
        return [dict(d) for d in table.all()] if table is not None else []

    def touch(self) -> None:
        write_owner_file(self.folder, self.owner)
        touch(self.folder)


def owner_only(folder: Path) -> None:
    """Books and photos of families: readable by the studio's own user only."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(folder, 0o700)
    except OSError:  # not ours to change (a shared mount): leave it, the owner folders are 0700
        log.warning("Could not make %s private to this user", folder)


def check_or_recover(db_path: Path) -> bool:
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
        raise StoreCorruptError("store.library_damaged_kept", problem=str(problem)) from None
    kept = db_path.with_name(f"{db_path.name}.damaged-{int(time.time())}")
    shutil.copy2(db_path, kept)
    shutil.copy2(backup, db_path)
    log.warning("Library file was damaged; restored the last good copy (damaged file kept at %s)", kept)
    return True
