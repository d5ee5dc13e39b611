"""Content-addressed media files (photos, audio, model files) of ONE owner.

A *ref* is ``<sha256>.<ext>``: it is both the file's name and its identity, so the same photo
uploaded twice is stored once, and a ref can never name a path outside the media dir. Every owner
has their own folder (``BookStore.media_for(owner)``), so a ref is only a file *for that owner*:
naming another family's ref finds nothing. An optional byte quota is checked before every write.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from studio.messages import Localized
from studio.storage import fsync_dir

MEDIA_REF = re.compile(r"[0-9a-f]{64}\.[a-z0-9]{1,8}")
_EXT = re.compile(r"[a-z0-9]{1,8}")
TEMP_PREFIX = ".tmp-"  # files being written; a killed write leaves one, lifecycle.sweep removes it
CHUNK = 1 << 20


class MediaError(Localized, ValueError):
    """A media ref or file that cannot be used; the message is safe to show a user."""


class MediaQuotaError(MediaError):
    pass


class MediaStore:
    def __init__(self, root: Path, max_bytes: int = 0, on_write: Callable[[], None] | None = None):
        """``max_bytes`` 0 = no quota. ``on_write`` is called after a new file is stored (the
        owner's activity clock). The folder is made on the first write, never by a read."""
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self._on_write = on_write

    def path(self, ref: str) -> Path:
        if not isinstance(ref, str) or not MEDIA_REF.fullmatch(ref):
            raise MediaError("store.media_not_a_ref", ref=str(ref)[:80])
        return self.root / ref[:2] / ref

    def existing_path(self, ref: str) -> Path:
        """The file of a ref this owner holds; a clear error when they do not hold it."""
        path = self.path(ref)
        if not path.is_file():
            raise MediaError("store.media_missing")
        return path

    def exists(self, ref: str) -> bool:
        try:
            return self.path(ref).is_file()
        except MediaError:
            return False

    def used_bytes(self) -> int:
        total = 0
        if not self.root.is_dir():
            return 0
        for sub in os.scandir(self.root):
            if sub.is_dir(follow_symlinks=False):
                for entry in os.scandir(sub.path):
                    if entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        return total

    def remaining_bytes(self) -> int | None:
        """Bytes this owner may still store (None: no quota)."""
        return None if not self.max_bytes else max(0, self.max_bytes - self.used_bytes())

    def check_room(self, size: int) -> None:
        remaining = self.remaining_bytes()
        if remaining is not None and size > remaining:
            raise MediaQuotaError("store.media_quota_full", limit_mb=round(self.max_bytes / 1024**2))

    def put_bytes(self, data: bytes, ext: str) -> str:
        ref = f"{hashlib.sha256(data).hexdigest()}.{_clean_ext(ext)}"
        target = self.path(ref)
        if not target.exists():
            self.check_room(len(data))
            self._write_atomic(target, lambda fh: fh.write(data))
        return ref

    def put_file(self, source: str | os.PathLike, ext: str | None = None) -> str:
        source = Path(source)
        ext = ext or source.suffix.lstrip(".") or "bin"
        digest = hashlib.sha256()
        with open(source, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                digest.update(chunk)
        ref = f"{digest.hexdigest()}.{_clean_ext(ext)}"
        target = self.path(ref)
        if not target.exists():
            self.check_room(source.stat().st_size)
            with open(source, "rb") as src:
                self._write_atomic(target, lambda fh: shutil.copyfileobj(src, fh, CHUNK))
        return ref

    def put_stream(self, src: BinaryIO, ext: str, limit: int, expect_ref: str | None = None) -> tuple[str, bool]:
        """Copy a stream to disk while hashing it, never holding it in memory. Stops with an error
        past ``limit`` bytes (headers can lie) or when the content is not ``expect_ref``.
        Returns (ref, whether the file is new to this owner)."""
        ext = _clean_ext(ext)
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=self.root)
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as fh:
                while chunk := src.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise MediaError("store.media_stream_too_large")
                    digest.update(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            ref = f"{digest.hexdigest()}.{ext}"
            if expect_ref is not None and ref != expect_ref:
                raise MediaError("store.media_checksum", ref=expect_ref[:12])
            target = self.path(ref)
            if target.exists():
                return ref, False
            self.check_room(size)
            self._commit(tmp, target)
            self._written()
            return ref, True
        finally:
            _unlink_quietly(tmp)

    def read_bytes(self, ref: str) -> bytes:
        return self.existing_path(ref).read_bytes()

    def delete(self, ref: str) -> bool:
        """Remove one file; True if it was there. Callers check first that nothing uses it
        (``BookStore.delete_media_if_unreferenced``)."""
        path = self.path(ref)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def refs(self) -> list[str]:
        """Every ref this owner holds."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.glob("*/*") if MEDIA_REF.fullmatch(p.name) and p.is_file())

    def _write_atomic(self, target: Path, write) -> None:
        new_folder = not target.parent.is_dir()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            self._commit(tmp, target, new_folder)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        self._written()

    def _commit(self, tmp: str, target: Path, new_folder: bool | None = None) -> None:
        """The one way a media file becomes visible: its bytes are already fsynced in ``tmp``;
        rename it into place and fsync the folder that now names it (and the media root when
        that folder is new), so the file is on disk before any book record that points to it
        is written. Without the folder's fsync a power cut could keep the record and lose the
        file's name."""
        if new_folder is None:
            new_folder = not target.parent.is_dir()
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        fsync_dir(target.parent)
        if new_folder:
            fsync_dir(self.root)

    def _written(self) -> None:
        if self._on_write is not None:
            self._on_write()


def _clean_ext(ext: str) -> str:
    ext = (ext or "").lower().lstrip(".")
    if not _EXT.fullmatch(ext):
        raise MediaError("store.media_bad_extension", ext=ext[:20])
    return ext


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
